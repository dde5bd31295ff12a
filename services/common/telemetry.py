"""OpenTelemetry set-up: one tracer provider per process, OTLP export when configured,
gRPC (client and server) and asyncpg instrumented. Call before any server or channel exists."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

_instrumented = False


def setup_tracing(
    service_name: str, otlp_endpoint: str = "", exporter: SpanExporter | None = None
) -> TracerProvider:
    """Installs the global tracer provider and the instrumentations, once per process.

    With `otlp_endpoint` spans go over OTLP/gRPC (a collector or Jaeger); with neither an
    endpoint nor an exporter spans are still made, so trace ids reach logs and Kafka headers.
    """
    global _instrumented
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        trace.set_tracer_provider(provider)
    if exporter is None and otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=otlp_endpoint, insecure=True)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
    if not _instrumented:
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
        from opentelemetry.instrumentation.grpc import (
            GrpcAioInstrumentorClient,
            GrpcAioInstrumentorServer,
        )

        GrpcAioInstrumentorServer().instrument()
        GrpcAioInstrumentorClient().instrument()
        AsyncPGInstrumentor().instrument()
        _instrumented = True
    return provider


def shutdown_tracing() -> None:
    """Flushes spans still buffered; called on graceful stop."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush(timeout_millis=5000)
