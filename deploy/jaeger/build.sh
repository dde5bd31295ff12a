#!/usr/bin/env bash
# Builds Jaeger v2 (one binary: an OpenTelemetry Collector with Jaeger's storage, query API and
# UI extensions), the trace store `make run` and the e2e trace tests run on 127.0.0.1, from the
# Go module proxy: github.com/jaegertracing/jaeger/cmd/jaeger at JAEGER_VERSION, built as a tool
# of a scratch module (~8 min on 2 cores). Into .cache/bin/jaeger (ignored); a binary that was
# already built from that version is kept, so a second run takes a second.
#
# The version check reads the module version Go records in every binary (`go version -m`), so a
# binary built by hand the same way is accepted too. The -X flags only make `jaeger version` say
# it. The UI is Jaeger's placeholder page (the real one is a separate npm build); the HTTP API
# (/api/v3/traces/{id}, /api/services, /api/traces?service=) is complete.
set -euo pipefail

JAEGER_VERSION=${JAEGER_VERSION:-v1.75.0}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${JAEGER_BIN:-$ROOT/.cache/bin/jaeger}
SRC=$ROOT/.cache/jaeger/src
PKG=github.com/jaegertracing/jaeger/cmd/jaeger
export GOWORK=off GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0

step() { echo "jaeger-build: $(date +%T) $*"; }

# The main module a binary was built from, as Go recorded it: "github.com/jaegertracing/jaeger v1.75.0".
if [ -x "$OUT" ] && go version -m "$OUT" 2>/dev/null \
        | grep -Eq "^[[:space:]]+(mod|dep)[[:space:]]+github.com/jaegertracing/jaeger[[:space:]]+$JAEGER_VERSION([[:space:]]|$)"; then
    step "$OUT is already $JAEGER_VERSION"
    exit 0
fi

mkdir -p "$SRC" "$(dirname "$OUT")"
cd "$SRC"
[ -f go.mod ] || go mod init fte.local/jaeger-build >/dev/null 2>&1
step "resolving $PKG@$JAEGER_VERSION from the Go module proxy"
go get -tool "$PKG@$JAEGER_VERSION"
step "building jaeger $JAEGER_VERSION (minutes on 2 cores)"
start=$SECONDS
V=github.com/jaegertracing/jaeger/internal/version
go build -trimpath -o "$OUT.tmp" \
    -ldflags "-s -w -X $V.latestVersion=$JAEGER_VERSION -X $V.date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$PKG"
mv "$OUT.tmp" "$OUT"
step "built $OUT in $((SECONDS - start))s ($(du -h "$OUT" | cut -f1))"
