# Flowboard Support FTE. Two commands on a fresh machine: `make run` and `make test`.
# `make test-fast` is the inner loop: the tests that need no PostgreSQL, Kafka or browser.
# Everything installed lands in ignored folders (.venv, node_modules, .cache).

SHELL := /bin/bash
PY_SYS ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
BUF := node_modules/.bin/buf
GRPCURL := .cache/bin/grpcurl
KUSTOMIZE := .cache/bin/kustomize
PROMTOOL := .cache/bin/promtool
DASHCHECK := .cache/bin/dashcheck
KAFKA_LIBS := .cache/kafka/libs
ONNX_MODEL := .cache/models/all-MiniLM-L6-v2/model.onnx
KUBE_BIN := .cache/kube/bin
JAEGER := .cache/bin/jaeger
export PYTHONPATH := $(CURDIR):$(CURDIR)/gen/python
export PATH := $(CURDIR)/.cache/bin:$(PATH)

PROTOS := $(shell find proto -name '*.proto' | sort)

.PHONY: deps deps-run deps-test-fast system-packages system-packages-run system-packages-images run up down \
	test test-fast lint gen webform inbox bench eval intents images clean chaos soak

# Two subsets of `deps`: running needs no browser (chromium is minutes of apt on a fresh
# machine) and no buf; the fast tests need no Kafka jars, grpcurl or apt.
## deps-test-fast: what `make test-fast` needs: the Python venv, buf, the web form's and the
## inbox's node_modules, the embedding model exported to ONNX (the intent classifier's tests embed)
deps-test-fast: $(VENV)/.installed node_modules/.installed webform/node_modules/.installed \
	inbox/node_modules/.installed $(ONNX_MODEL)

## deps-run: what `make run` needs: the venv, Kafka's jars, the web form's and the inbox's
## node_modules (to build them), grpcurl and jq (the READMEs' grpcurl walkthroughs), the embedding
## model exported to ONNX, Jaeger (the traces)
deps-run: $(VENV)/.installed webform/node_modules/.installed inbox/node_modules/.installed \
	$(KAFKA_LIBS)/.installed $(GRPCURL) system-packages-run $(ONNX_MODEL) $(JAEGER)

## deps: install everything the project needs, incl. chromium for the browser tests, kustomize for
## the manifest tests, promtool and dashcheck for the alerts' and dashboard's tests, the container image the image
## test runs and the Kubernetes control plane for the deploy tests (tests/deploy) (idempotent, cached)
deps: deps-run deps-test-fast system-packages $(KUSTOMIZE) $(PROMTOOL) $(DASHCHECK) images $(KUBE_BIN)/kube-apiserver \
	$(KUBE_BIN)/kwok

# Debian packages: jq (README examples) and redis-server (the embedded Redis: the edge's shared rate
# limits) for running, chromium (browser tests) and etcd-server (the deploy tests' Kubernetes control
# plane) too for testing. An entry is `package` or `package:command` when the command it installs
# has another name.
# Checked on every run instead of trusting a marker file (a `command -v` each, cheap): a package
# removed after the first install must be put back, not surface later as a baffling browser-test
# failure. Root installs directly (CI has no sudo); others need passwordless sudo or get the
# command to run. One recipe, given the package list: `system-packages` installs
# SYSTEM_PACKAGES, `system-packages-run` only RUN_SYSTEM_PACKAGES.
RUN_SYSTEM_PACKAGES := jq redis-server
SYSTEM_PACKAGES := $(RUN_SYSTEM_PACKAGES) chromium etcd-server:etcd
# `make images` only: podman + buildah build and run images with no Docker engine, runc is the
# runtime they use here (deploy/containers.conf), debootstrap makes the local base root filesystem.
IMAGE_SYSTEM_PACKAGES := podman buildah runc debootstrap
define install_system_packages
	@missing=""; commands=""; for p in $(1); do \
		command -v $${p#*:} >/dev/null || { missing="$$missing $${p%%:*}"; commands="$$commands $${p#*:}"; }; done; \
	[ -z "$$missing" ] && exit 0; \
	fail() { echo "system-packages: missing$$missing: $$1" >&2; exit 1; }; \
	command -v apt-get >/dev/null || fail "apt-get is not available here; install them with this system's package manager"; \
	if [ "$$(id -u)" -eq 0 ]; then as_root=""; \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then as_root="sudo -n"; \
	else fail "installing needs root; run: sudo apt-get update && sudo apt-get install -y$$missing"; fi; \
	echo "system-packages: installing Debian packages:$$missing"; \
	$$as_root apt-get update -qq || fail "apt-get update failed (no network or no usable apt sources?)"; \
	$$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing \
		|| fail "apt-get install failed (see above)"; \
	for c in $$commands; do command -v $$c >/dev/null || fail "installed, but $$c is still not on PATH"; done
endef
system-packages:
	$(call install_system_packages,$(SYSTEM_PACKAGES))
system-packages-run:
	$(call install_system_packages,$(RUN_SYSTEM_PACKAGES))
system-packages-images:
	$(call install_system_packages,$(IMAGE_SYSTEM_PACKAGES))

$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PY_SYS) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	@touch $@

# `npm ci`: exactly the locked versions (the lockfiles list every platform's optional binaries).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

webform/node_modules/.installed: webform/package.json webform/package-lock.json
	cd webform && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

inbox/node_modules/.installed: inbox/package.json inbox/package-lock.json
	cd inbox && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(KAFKA_LIBS)/.installed: devstack/kafka/pom.xml
	mvn -q -B -f devstack/kafka/pom.xml package
	@touch $@

# all-MiniLM-L6-v2 as ONNX: what LocalEmbedder runs with OpenVINO or onnxruntime (the services need no torch).
$(ONNX_MODEL): $(VENV)/.installed services/knowledge/onnx_export.py
	$(PY) -m services.knowledge.onnx_export $(@D)

# The deploy tests' Kubernetes control plane (tests/deploy/cluster.py): kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl and kwok, built from the Go module proxy (~10 min
# on 2 cores the first time; a binary already at the right version is kept). etcd is etcd-server.
$(KUBE_BIN)/kube-apiserver $(KUBE_BIN)/kwok &: deploy/kube/build.sh
	deploy/kube/build.sh
	@touch $(KUBE_BIN)/kube-apiserver $(KUBE_BIN)/kwok

# Jaeger v2, where make run and the e2e trace tests send their spans (devstack/jaeger.py), built
# from the Go module proxy (~8 min on 2 cores the first time; a binary of that version is kept).
$(JAEGER): deploy/jaeger/build.sh
	deploy/jaeger/build.sh
	@touch $@

# The Go tools below are static, pure-Go builds (CGO_ENABLED=0, as deploy/kube/build.sh and
# deploy/jaeger/build.sh build theirs). grpcurl built with cgo was once killed by SIGSEGV in CI
# with no output at all: a fault outside Go's own signal handling (the dynamic loader, libc).
# A static build has neither, and Go reports its own faults before it exits.
# The stamp names the build settings: a tool older than it (built with other settings) is rebuilt once.
GO_TOOLS_STAMP := .cache/bin/.go-tools-cgo-off
GO_INSTALL := GOBIN=$(CURDIR)/.cache/bin GOFLAGS=-mod=mod CGO_ENABLED=0 go install
$(GO_TOOLS_STAMP):
	@mkdir -p $(@D) && touch $@

$(GRPCURL): $(GO_TOOLS_STAMP)
	$(GO_INSTALL) github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3
	@touch $@

# Renders k8s/ (tests/deploy; `kustomize build k8s/overlays/<overlay>`). Testing only: not in deps-run.
$(KUSTOMIZE): $(GO_TOOLS_STAMP)
	$(GO_INSTALL) sigs.k8s.io/kustomize/kustomize/v5@v5.8.2
	@touch $@

# Checks and unit-tests the alerts and the dashboard's queries (tests/deploy/test_alerts.py,
# test_dashboard.py). Testing only: not in deps-run.
$(PROMTOOL): $(GO_TOOLS_STAMP)
	$(GO_INSTALL) github.com/prometheus/prometheus/cmd/promtool@v0.316.0
	@touch $@

# Decodes the Grafana dashboard with Grafana's own schema (the Foundation SDK's strict decoder;
# deploy/grafana/dashcheck; tests/deploy/test_dashboard.py). Testing only: not in deps-run.
$(DASHCHECK): deploy/grafana/dashcheck/main.go deploy/grafana/dashcheck/go.mod deploy/grafana/dashcheck/go.sum \
		$(GO_TOOLS_STAMP)
	cd deploy/grafana/dashcheck && GOWORK=off CGO_ENABLED=0 go build -trimpath -o $(CURDIR)/$@ .

## gen: generate Python messages, gRPC stubs and .pyi from proto/ (never edit gen/ by hand)
gen: $(VENV)/.installed
	rm -rf gen/python && mkdir -p gen/python
	$(PY) -m grpc_tools.protoc -Iproto --python_out=gen/python --pyi_out=gen/python \
		--grpc_python_out=gen/python $(PROTOS)

## lint: buf lint, buf format (no diff allowed), buf breaking against the first published contracts
# The v1 packages are a promise: nothing may break them. So the baseline is the commit that first
# added proto/ (in every full clone), not the branch tip, which in CI is the very tree under test.
GIT_DIR_COMMON = $(shell git rev-parse --git-common-dir 2>/dev/null)
PROTO_BASELINE = $(shell git log --diff-filter=A --format=%H -- proto 2>/dev/null | tail -n 1)
lint: node_modules/.installed
	$(BUF) lint
	$(BUF) format -d --exit-code
	@if [ -n "$(PROTO_BASELINE)" ]; then \
		echo "buf breaking --against $(GIT_DIR_COMMON)#ref=$(PROTO_BASELINE)"; \
		$(BUF) breaking --against '$(GIT_DIR_COMMON)#ref=$(PROTO_BASELINE)'; \
	else echo "buf breaking: no committed contracts to compare with (not a full git clone?)"; exit 1; fi

## webform: type-check and build the web form into webform/dist (served by the edge)
webform: webform/node_modules/.installed
	cd webform && npm run --silent build

## inbox: type-check and build the operator inbox into inbox/dist (served by the edge at /inbox/)
inbox: inbox/node_modules/.installed
	cd inbox && npm run --silent build

## test: install everything, lint, then every test (web form unit tests, then pytest incl. the
## browser tests, in TEST_WORKERS pytest-xdist workers, each with a stack of its own; 0 runs
## them in this process). What CI runs.
TEST_WORKERS ?= 2
test: deps lint webform inbox
	cd webform && npm run --silent test:unit
	cd inbox && npm run --silent test:unit
	$(PY) -m pytest -ra -n $(TEST_WORKERS)

## test-fast: the inner loop, under 2 minutes: the web form's unit tests, then every pytest test
## not marked `stack` (PostgreSQL/Kafka) or `browser` (Chromium); starts no server. The marks
## come from what each test uses (tests/conftest.py). `make test` still runs everything.
test-fast: deps-test-fast $(KUSTOMIZE) $(PROMTOOL) $(DASHCHECK)
	cd webform && npm run --silent test:unit
	cd inbox && npm run --silent test:unit
	$(PY) -m pytest -ra -m "not stack and not browser"

## chaos: the chaos suite, full form (tests/chaos): every process kind SIGKILLed, Kafka and
## PostgreSQL stopped for 30 s, the channel APIs answering 503 for a minute, the network to
## PostgreSQL cut, each under mixed traffic; prints the table (lost, doubled, worst reply).
## `make test` runs its short form.
chaos: deps-run
	$(PY) -m tests.chaos

## soak: the 24-hour readiness test in miniature (not in CI): SOAK_MINUTES (30) of mixed traffic
## with random kills, then 1,000 Locust users; prints and saves artifacts/soak/soak-<time>.json
soak: deps-run
	$(PY) -m tests.soak

## run: install what running needs (no chromium), start PostgreSQL, Kafka, migrations and every
## service; Ctrl-C stops all
run: deps-run webform inbox
	$(PY) -m devstack run

## up / down: only the embedded PostgreSQL and Kafka (for running tests against them by hand)
up: deps-run
	$(PY) -m devstack up
down:
	$(PY) -m devstack down

## eval: the labelled tickets through AgentService over gRPC (needs `make run` up); fails below the floors
eval: deps-run
	$(PY) -m services.agent.eval --check

## intents: retrain the guardrails' intent classifier on services/agent/intent_data/train.jsonl
intents: deps-run
	$(PY) -m services.agent.intents train

## bench: throughput and latency figures (edge vs a no-op endpoint, end to end, knowledge search)
bench: deps-run webform
	$(PY) -m tests.bench

## images: the container image of every process, localhost/flowboard-fte:dev (Dockerfile), with
## podman. No registry is needed: the bases are made here from Debian (debootstrap, then apt for
## python3.11; node from the npm registry) and passed as build arguments, which default to the
## official python:3.11-slim / node:20-bookworm-slim anywhere else. Cached: a second run is quick.
# podman reads its settings from the repository (runc, ulimits, no network namespace).
export CONTAINERS_CONF := $(CURDIR)/deploy/containers.conf
IMAGE ?= localhost/flowboard-fte:dev
IMAGES_DIR := .cache/images
PODMAN_BUILD := podman build --network host --layers
# Behind a TLS-intercepting proxy (its CA in the bundle SSL_CERT_FILE names) npm and pip in the
# build trust it too: the bundle is mounted into the build only, never into the image.
BUILD_CA := $(if $(wildcard $(SSL_CERT_FILE)),--volume $(realpath $(SSL_CERT_FILE)):/tmp/build-ca.pem:ro \
	--build-arg EXTRA_CA_CERTS=/tmp/build-ca.pem)
# An image's marker file holds its id; it is rebuilt when its inputs change or podman lost it.
image_stale = { [ -f $(1) ] && podman image exists "$$(cat $(1))"; } || rm -f $(1)
# Every image built here descends from this base and inherits its label. A new base makes the
# untagged images built on an older one (earlier bases, their tags' previous images, build
# stages) useless as cache: they are pruned then, by that label only, so a machine that builds
# from fresh clones again and again (CI) keeps about two generations instead of ~2.5 GB more
# per run. A checkout's own layer cache stays until its base changes.
BASE_LABEL := io.flowboard.fte.base
$(IMAGES_DIR)/bookworm-minbase.id: | system-packages-images
	rm -rf $(IMAGES_DIR)/bookworm.tmp && mkdir -p $(IMAGES_DIR)
	podman image prune --force --filter label=$(BASE_LABEL)
	debootstrap --variant=minbase bookworm $(IMAGES_DIR)/bookworm.tmp http://deb.debian.org/debian
	tar -C $(IMAGES_DIR)/bookworm.tmp --exclude='./var/cache/apt/archives/*.deb' \
		--exclude='./var/lib/apt/lists/*' -c . \
		| podman import --change 'LABEL $(BASE_LABEL)=bookworm' - localhost/bookworm-minbase
	rm -rf $(IMAGES_DIR)/bookworm.tmp
	podman image inspect --format '{{.Id}}' localhost/bookworm-minbase > $@
$(IMAGES_DIR)/python-bookworm.id: deploy/base/python.Dockerfile $(IMAGES_DIR)/bookworm-minbase.id
	$(PODMAN_BUILD) -f $< -t localhost/python-bookworm deploy/base
	podman image inspect --format '{{.Id}}' localhost/python-bookworm > $@
$(IMAGES_DIR)/node-bookworm.id: deploy/base/node.Dockerfile $(IMAGES_DIR)/bookworm-minbase.id
	$(PODMAN_BUILD) -f $< -t localhost/node-bookworm deploy/base
	podman image inspect --format '{{.Id}}' localhost/node-bookworm > $@
# The model goes into the build context as plain files: .cache may be a symlink (git worktrees
# share one), which a build context cannot follow. Hard links where possible: no copy.
IMAGE_MODEL := .image/models/all-MiniLM-L6-v2
$(IMAGE_MODEL)/model.onnx: $(ONNX_MODEL)
	mkdir -p $(@D)
	for f in model.onnx tokenizer.json; do \
		ln -f $(<D)/$$f $(@D)/$$f 2>/dev/null || cp -f $(<D)/$$f $(@D)/$$f; done
images: system-packages-images $(IMAGE_MODEL)/model.onnx
	@$(call image_stale,$(IMAGES_DIR)/bookworm-minbase.id); $(call image_stale,$(IMAGES_DIR)/python-bookworm.id); \
		$(call image_stale,$(IMAGES_DIR)/node-bookworm.id)
	$(MAKE) --no-print-directory $(IMAGES_DIR)/python-bookworm.id $(IMAGES_DIR)/node-bookworm.id
	$(PODMAN_BUILD) $(BUILD_CA) --build-arg BASE=localhost/python-bookworm \
		--build-arg NODE_BASE=localhost/node-bookworm -t $(IMAGE) .
	@podman image inspect --format '$(IMAGE): {{.Size}} bytes' $(IMAGE)

clean:
	rm -rf .data artifacts
