"""The one gRPC server bootstrap every service uses.

grpc.aio server with: the standard health service (SERVING once ready, NOT_SERVING while
draining), server reflection (grpcurl list/describe), the exception-to-status interceptor, the
access interceptor (every method's `method_access` rule: credential, role, audit; see
common/auth.py), the RPC metrics interceptor (common/rpc_metrics.py), Prometheus /metrics on
METRICS_PORT when it is set, OpenTelemetry instrumentation, and a graceful stop on SIGTERM in
which in-flight RPCs finish.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.common.auth import AccessInterceptor, Gate, RemoteGate, policies
from services.common.config import Settings
from services.common.errors import DecodeRequestInterceptor, ExceptionToStatusInterceptor
from services.common.heap import freeze_startup_heap
from services.common.logs import setup_logging
from services.common.metrics import serve_metrics
from services.common.rpc_metrics import RpcMetricsInterceptor
from services.common.signals import stop_on_signals
from services.common.telemetry import setup_tracing, shutdown_tracing

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Servicer:
    """One servicer to mount: the generated `add_XServicer_to_server` and its full name."""

    add_to_server: Callable[[Any, grpc.aio.Server], None]
    implementation: Any
    full_name: str  # e.g. "fte.identity.v1.IdentityService"


@dataclass(frozen=True)
class Mount:
    """What a `build` returns when it brings its own gate (the access service checks its
    callers itself); other builds return just the list of servicers."""

    servicers: list[Servicer]
    gate: Gate


# A service's `build` opens its resources (pools, client channels) inside the exit stack,
# so they close after the server has drained, and returns the servicers to mount.
Build = Callable[[contextlib.AsyncExitStack], "asyncio.Future[list[Servicer] | Mount] | Any"]


class MissingServiceKey(RuntimeError):
    pass


class GrpcService:
    """A started gRPC server with health and reflection; `stop()` drains it."""

    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.settings = settings
        self.server: grpc.aio.Server | None = None
        self.port: int | None = None
        self._health = health.aio.HealthServicer()
        self._names: list[str] = []
        self._resources = contextlib.AsyncExitStack()

    async def start(self, build: Build) -> int:
        """Builds the servicers, starts listening and reports SERVING. Returns the bound port."""
        try:
            return await self._start(build)
        except BaseException:
            # A port in use or a failing build must not leave pools and channels open.
            if self.server is not None:
                await self.server.stop(None)
                self.server = None
            await self._resources.aclose()
            raise

    async def _start(self, build: Build) -> int:
        mounted = await build(self._resources)
        servicers, gate = (mounted.servicers, mounted.gate) if isinstance(mounted, Mount) else (mounted, None)
        rules = policies(s.full_name for s in servicers)  # refuses a method without a rule
        # A server of health alone (the dispatcher's) has nobody to check.
        gate = gate or (self._remote_gate() if rules else None)
        # Server interceptors run outermost first: OTel's (added by the instrumentor when it
        # patched grpc.aio.server) wraps ours, so spans carry the final status code; the
        # status mapping wraps the access check, so its refusals become statuses; the RPC timer
        # wraps both, so it records the status the caller got; undecodable requests are refused
        # innermost, after the access check.
        self.server = grpc.aio.server(
            interceptors=[RpcMetricsInterceptor(), ExceptionToStatusInterceptor(),
                          *([AccessInterceptor(rules, gate)] if gate else []), DecodeRequestInterceptor()],
            options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", 8 << 20)],
        )
        for s in servicers:
            s.add_to_server(s.implementation, self.server)
        self._names = [s.full_name for s in servicers]
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self.server)
        reflection.enable_server_reflection(
            [*self._names, health.SERVICE_NAME, reflection.SERVICE_NAME], self.server
        )
        address = f"{self.settings.grpc_host}:{self.settings.grpc_port}"
        tls = self.settings.server_tls()
        if tls is None:
            self.port = self.server.add_insecure_port(address)
        else:
            self.port = self.server.add_secure_port(
                address, grpc.ssl_server_credentials([(tls[1], tls[0])])
            )
        await self.server.start()
        if self.settings.metrics_port:
            metrics = serve_metrics(self.settings.metrics_port, self.settings.grpc_host)
            self._resources.callback(metrics.close)
        for service_name in ["", *self._names]:
            await self._health.set(service_name, health_pb2.HealthCheckResponse.SERVING)
        log.info("%s serving on %s:%s%s", self.name, self.settings.grpc_host, self.port,
                 " (TLS)" if tls else "")
        return self.port

    def _remote_gate(self) -> RemoteGate:
        """Asks the access service who callers are, as this service (its SERVICE_KEY)."""
        if not self.settings.service_key.get_secret_value():
            raise MissingServiceKey(
                f"{self.name}: SERVICE_KEY is not set, so it cannot check who calls it. Make one"
                f" with `python -m services.access.keys_cli create --role service --name {self.name}`")
        channel = self.settings.channel(self._resources, self.settings.access_addr)
        return RemoteGate(channel, self.settings.auth_cache_ttl_s)

    async def set_health(self, service_name: str, serving: bool) -> None:
        """Reports a part of this process (e.g. one channel) to health checkers."""
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        await self._health.set(service_name, status)

    async def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING first (so balancers stop sending), then let in-flight RPCs finish."""
        if self.server is None:
            return
        grace = self.settings.grace_period_s if grace is None else grace
        await self._health.enter_graceful_shutdown()
        log.info("%s draining (grace %.1fs)", self.name, grace)
        await self.server.stop(grace)
        await self._resources.aclose()
        self.server = None
        log.info("%s stopped", self.name)


async def serve(name: str, settings: Settings, build: Build) -> None:
    """Runs a service until SIGTERM or SIGINT, then stops it gracefully."""
    setup_logging(name, settings.log_level)
    setup_tracing(name, settings.otel_exporter_otlp_endpoint)
    service = GrpcService(name, settings)
    stop = stop_on_signals()
    await service.start(build)
    freeze_startup_heap()
    await stop.wait()
    await service.stop()
    shutdown_tracing()


@contextlib.asynccontextmanager
async def running(name: str, settings: Settings, build: Build) -> AsyncIterator[GrpcService]:
    """A service started in this process (tests, embedding); drained on exit."""
    setup_tracing(name, settings.otel_exporter_otlp_endpoint)
    service = GrpcService(name, settings)
    await service.start(build)
    try:
        yield service
    finally:
        await service.stop(grace=1.0)
