# The one image of every process: access, identity, conversation, agent (+ knowledge), worker,
# dispatcher, notifier, edge, and the migration and knowledge-seed Jobs. They are one codebase
# (services/common, gen/python and the contracts are shared by all) with one set of pinned
# dependencies, so one image means one build, one scan and one push per release, layers pulled once
# per node, and no rollout ever mixing two versions of the shared code. A Deployment picks its
# process by its command (devstack/processes.py lists them):
#   python -m services.access | services.identity | services.conversation | services.agent |
#   services.inbound (worker) | services.channels (dispatcher) | services.handoff (notifier) |
#   services.edge (the default) | devstack.migrate (Job) | services.knowledge.seed (Job)
# No HEALTHCHECK: Kubernetes probes the gRPC health service and the edge's /health.
#
# The bases are build arguments: the official images by default; `make images` passes locally made
# ones (deploy/base/*.Dockerfile) where no registry can be reached.
ARG BASE=python:3.11-slim
ARG NODE_BASE=node:20-bookworm-slim
# A CA bundle the build stages trust besides their own, for a TLS-intercepting proxy between the
# build and the registries (npm, PyPI): a path the build mounts (`make images` mounts
# $SSL_CERT_FILE when it is set). Empty: none. Never copied into the final image.
ARG EXTRA_CA_CERTS=

# The web form and the operator inbox, built from their lockfiles.
FROM ${NODE_BASE} AS web
ARG EXTRA_CA_CERTS
WORKDIR /src
COPY webform/package.json webform/package-lock.json webform/
COPY inbox/package.json inbox/package-lock.json inbox/
RUN if [ -n "$EXTRA_CA_CERTS" ]; then export NODE_EXTRA_CA_CERTS="$EXTRA_CA_CERTS"; fi \
    && cd webform && npm ci --no-audit --no-fund --loglevel=error \
    && cd ../inbox && npm ci --no-audit --no-fund --loglevel=error
COPY webform/ webform/
COPY inbox/ inbox/
RUN cd webform && npm run --silent build && cd ../inbox && npm run --silent build

# The run-time venv: requirements-runtime.txt only (no torch, no build or test tools).
FROM ${BASE} AS venv
ARG EXTRA_CA_CERTS
RUN python3.11 -m venv /opt/venv
COPY requirements-runtime.txt /tmp/
RUN /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check -q ${EXTRA_CA_CERTS:+--cert "$EXTRA_CA_CERTS"} \
        -r /tmp/requirements-runtime.txt \
    && /opt/venv/bin/pip uninstall -y -q pip setuptools \
    && find /opt/venv -depth -type d -name tests -path '*/site-packages/*/tests' -prune -exec rm -rf {} +
# google-api-python-client carries the discovery documents of every Google API (600+, 110 MB); the
# Gmail client (services/channels/gmail) builds from gmail.v1's alone.
RUN find /opt/venv/lib/python3.11/site-packages/googleapiclient/discovery_cache/documents \
        -name '*.json' ! -name gmail.v1.json -delete
# OpenVINO's wheel carries every device plugin and model frontend (180 MB); the embedder reads the
# ONNX graph with the CPU plugin alone (104 MB left).
RUN cd /opt/venv/lib/python3.11/site-packages/openvino \
    && rm -rf include libs/cache.json libs/libopenvino_intel_gpu_plugin.so libs/libopenvino_intel_npu_plugin.so \
        libs/libopenvino_tensorflow_frontend.so* libs/libopenvino_tensorflow_lite_frontend.so* \
        libs/libopenvino_paddle_frontend.so* libs/libopenvino_pytorch_frontend.so* \
        libs/libopenvino_jax_frontend.so* libs/libopenvino_gguf_frontend.so*

FROM ${BASE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app:/app/gen/python \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    FTE_EMBEDDING_MODEL_DIR=/app/models/all-MiniLM-L6-v2 \
    GRPC_HOST=0.0.0.0 \
    HTTP_HOST=0.0.0.0
COPY --from=venv /opt/venv /opt/venv
WORKDIR /app
# all-MiniLM-L6-v2 exported to ONNX (services/knowledge/onnx_export.py); `make images` puts the
# export into .image/models/ first.
COPY .image/models/all-MiniLM-L6-v2/model.onnx .image/models/all-MiniLM-L6-v2/tokenizer.json models/all-MiniLM-L6-v2/
COPY gen/python gen/python
# The migration Job: `python -m devstack.migrate` with DATABASE_URL (an admin DSN) and schema/.
COPY schema schema
COPY devstack/__init__.py devstack/_proc.py devstack/postgres.py devstack/migrate.py devstack/
COPY --from=web /src/webform/dist webform/dist
COPY --from=web /src/inbox/dist inbox/dist
COPY services services
# Bytecode now: the root filesystem is read-only at run time.
RUN python -m compileall -q services gen devstack
USER 10001:10001
EXPOSE 8080
CMD ["python", "-m", "services.edge"]
