"""python -m services.edge: config → telemetry → FastAPI under uvicorn (graceful on SIGTERM), in
EDGE_WORKERS processes.

One process (the default) serves the port itself. Several: uvicorn's supervisor binds the port
once and starts EDGE_WORKERS processes that accept on the same socket (the kernel hands each new
connection to a process waiting in accept, so a busy one takes fewer), restarts one that dies,
and on SIGTERM passes it on to each and waits for their graceful stop. Each builds its own app
(`app()` below): its own Kafka producer, gRPC channels, tracer and in-flight limit. /metrics is
summed across them through prometheus-client's multiprocess mode (a folder made here, removed at
exit); the rate limits are shared only through RATE_LIMIT_STORAGE_URI (Redis).
"""

import gc
import logging
import os
import shutil
import tempfile

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.heap import freeze_startup_heap
from services.common.logs import setup_logging
from services.common.telemetry import UrlQueryDropped, setup_tracing
from services.edge.app import create_app
from services.edge.load_shedding import LoadShedding
from services.edge.settings import EdgeSettings

log = logging.getLogger("services.edge")
# Not uvicorn's "uvicorn.access": uvicorn writes there whenever that logger has a handler.
ACCESS_LOG = logging.getLogger("services.edge.access")

# How long uvicorn's supervisor waits for a worker to answer its ping before killing it as hung.
# Its default (5 s) can be reached by a worker that is only busy on a saturated box, and killing
# it would drop every connection it holds.
WORKER_HEALTHCHECK_S = 30

# The collector's thresholds while serving: a young-generation collection every 50,000 net
# allocations instead of 700. At 32 submits in flight every collection walked the objects of the
# requests still open (scopes, coroutines, models, spans) only to find them alive: ~10% of the
# edge's CPU per submit (bench: 0.51 against 0.57-0.58 ms, tests/bench/README.md). Garbage
# without cycles is freed at once whatever the thresholds; only cycles wait for a collection.
SERVING_GC_THRESHOLDS = (50_000, 20, 100)


def build(settings: EdgeSettings) -> ASGIApp:
    """The edge as it serves: the app (traced by FastAPI itself, app.TELEMETRY) behind the
    in-flight limit, behind the access log (HTTP_ACCESS_LOG, so a shed 503 is logged too). The
    limit is outside the tracing and Starlette's own middleware, so a shed request costs no span
    and no routing: ~1 µs in LoadShedding against ~180 µs through the rest (measured on the
    2-core box)."""
    edge = LoadShedding(create_app(settings), settings.edge_max_in_flight, settings.edge_shed_retry_after_s)
    if settings.http_access_log == "off":
        return edge
    return AccessLog(edge, failed_only=settings.http_access_log == "errors")


class AccessLog:
    """HTTP_ACCESS_LOG: a line on the `services.edge.access` logger for each answer (`all`), or
    for each 4xx / 5xx answer only (`errors`), in uvicorn's words: `127.0.0.1:50000 - "POST
    /support/submit HTTP/1.1" 422`. In place of uvicorn's own access log (off), which made and
    formatted a record for every request, so `errors` had to drop the successes' records after
    paying for them (~5 µs of a submit's ~500: 1%). The query string is left out, as in the
    spans: it can hold an address (`/customers/lookup?email=…`)."""

    def __init__(self, app: ASGIApp, failed_only: bool) -> None:
        self.app = app
        self.least = 400 if failed_only else 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def status_seen(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        # An app that raised or returned before answering gets uvicorn's 500. A cancelled request
        # (a stop cutting it short) was not answered, so it has no line.
        try:
            await self.app(scope, receive, status_seen)
        except Exception:
            self._line(scope, status or 500)
            raise
        self._line(scope, status or 500)

    def _line(self, scope: Scope, status: int) -> None:
        if status >= self.least:
            client = scope.get("client")
            ACCESS_LOG.info('%s - "%s %s HTTP/%s" %d', f"{client[0]}:{client[1]}" if client else "-",
                            scope["method"], scope["path"], scope["http_version"], status)


def app() -> ASGIApp:
    """uvicorn's factory, called in every serving process: its own logs, tracer and app."""
    settings = EdgeSettings()
    setup_logging("edge", settings.log_level)
    setup_tracing("edge", settings.otel_exporter_otlp_endpoint).add_span_processor(UrlQueryDropped())
    edge = build(settings)
    freeze_startup_heap()
    gc.set_threshold(*SERVING_GC_THRESHOLDS)
    return edge


def main() -> None:
    settings = EdgeSettings()
    setup_logging("edge", settings.log_level)
    settings.server_tls()  # both TLS files or neither, and readable: fail before serving
    metrics_dir = None
    if settings.edge_workers > 1:
        # Set before the workers start (they are spawned, not forked), so prometheus-client
        # imports in multiprocess mode there; a fresh folder, so no earlier run's counts add up.
        metrics_dir = tempfile.mkdtemp(prefix="fte-edge-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        if not settings.rate_limit_storage_uri.strip():
            log.warning("EDGE_WORKERS=%d without RATE_LIMIT_STORAGE_URI: each process counts the rate "
                        "limits on its own, so together they allow up to %d times the rate",
                        settings.edge_workers, settings.edge_workers)
    try:
        uvicorn.run(
            "services.edge.__main__:app",
            factory=True,
            workers=settings.edge_workers,
            host=settings.http_host,
            port=settings.http_port,
            log_config=None,
            access_log=False,  # build() adds its own (AccessLog)
            # Named rather than left to "auto", so a missing wheel fails at start instead of
            # quietly serving on asyncio's loop and h11 (services/common/loop.py).
            loop="uvloop",
            http="httptools",
            timeout_keep_alive=settings.http_keep_alive_s,
            timeout_graceful_shutdown=int(settings.grace_period_s),
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
            # TLS_CERT_FILE / TLS_KEY_FILE: HTTPS; neither: plain HTTP behind a TLS-ending proxy.
            ssl_certfile=settings.tls_cert_file or None,
            ssl_keyfile=settings.tls_key_file or None,
        )
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
