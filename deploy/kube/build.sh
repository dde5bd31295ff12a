#!/usr/bin/env bash
# Builds the real Kubernetes control plane the deploy tests run on 127.0.0.1: kube-apiserver,
# kube-controller-manager, kube-scheduler and kubectl v1.35.4 from the Go module proxy, and kwok
# v0.8.0 (simulated nodes). Into .cache/kube/bin (ignored); a binary already there at the right
# version is kept, so a second run takes a second. etcd comes from Debian (etcd-server).
#
# k8s.io/kubernetes is not meant to be a dependency: its go.mod points every k8s.io/* staging
# module at ./staging, which the module zip leaves out. So: copy the module out of the read-only
# module cache, drop those replace directives (the published k8s.io/*@v0.35.4 are the same code)
# and build inside it with -mod=mod.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.35.4}
STAGING_VERSION=v0${KUBE_VERSION#v1}   # v1.35.4 -> v0.35.4
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${KUBE_BIN:-$ROOT/.cache/kube/bin}
SRC=$ROOT/.cache/kube/src
export GOWORK=off GOFLAGS="-mod=mod -p=2 -buildvcs=false" CGO_ENABLED=0
mkdir -p "$BIN" "$SRC"

has_version() { # binary, version: the binary exists and says it is that version
    [ -x "$BIN/$1" ] && "$BIN/$1" --version 2>/dev/null | grep -q -- "$2"
}
step() { echo "kube-build: $(date +%T) $*"; }

components=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
needed=()
for c in "${components[@]}"; do
    # kubectl answers `kubectl version --client`, the others `--version`
    if [ "$c" = kubectl ]; then
        [ -x "$BIN/kubectl" ] && "$BIN/kubectl" version --client 2>/dev/null | grep -q -- "$KUBE_VERSION" && continue
    else
        has_version "$c" "$KUBE_VERSION" && continue
    fi
    needed+=("$c")
done

if [ ${#needed[@]} -gt 0 ]; then
    tree=$SRC/kubernetes-$KUBE_VERSION
    if [ ! -f "$tree/.prepared" ]; then
        step "downloading k8s.io/kubernetes@$KUBE_VERSION from the Go module proxy"
        dir=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
        [ -n "$dir" ] || { echo "kube-build: go mod download gave no Dir" >&2; exit 1; }
        rm -rf "$tree" && cp -r "$dir" "$tree" && chmod -R u+w "$tree"
        cd "$tree"
        replaced=$(go mod edit -json | python3 -c 'import json,sys; print(" ".join(r["Old"]["Path"] for r in json.load(sys.stdin).get("Replace") or [] if r["New"]["Path"].startswith("./staging/")))')
        step "dropping $(wc -w <<<"$replaced") ./staging replace directives for the published k8s.io/*@$STAGING_VERSION"
        args=()
        for m in $replaced; do args+=(-dropreplace="$m" -require="$m@$STAGING_VERSION"); done
        go mod edit "${args[@]}"
        touch .prepared
    fi
    cd "$tree"
    for c in "${needed[@]}"; do
        step "building $c $KUBE_VERSION (minutes on 2 cores)"
        start=$SECONDS
        go build -trimpath -o "$BIN/$c" \
            -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION" \
            "./cmd/$c"
        step "built $c in $((SECONDS - start))s ($(du -h "$BIN/$c" | cut -f1))"
    done
fi

cd "$SRC"
if ! has_version kwok "$KWOK_VERSION"; then
    step "building kwok $KWOK_VERSION"
    start=$SECONDS
    GOBIN=$BIN go install -trimpath -ldflags "-s -w" \
        "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
    step "built kwok in $((SECONDS - start))s ($(du -h "$BIN/kwok" | cut -f1))"
fi
# The kwok binary has no stages of its own (kwokctl hands it its defaults): the same ones here, from
# the module: nodes become Ready and send heartbeats, pods become Running/Ready, complete, and go
# when deleted.
STAGES=$BIN/../kwok-stages.yaml
if [ ! -s "$STAGES" ]; then
    kwok_dir=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    stage=$kwok_dir/kustomize/stage
    for f in node/fast/node-initialize node/heartbeat/node-heartbeat pod/fast/pod-ready \
        pod/fast/pod-complete pod/fast/pod-delete; do
        echo "---"; cat "$stage/$f.yaml"
    done > "$STAGES.tmp" && mv "$STAGES.tmp" "$STAGES"
    step "wrote kwok's stages to $STAGES"
fi
step "ready in $BIN: $(cd "$BIN" && ls | tr '\n' ' ')"
