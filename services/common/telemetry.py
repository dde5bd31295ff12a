"""OpenTelemetry set-up: one tracer provider per process, OTLP export when configured,
gRPC (client and server) and asyncpg instrumented. Call before any server or channel exists.

Every process reports its kind as `service.name` (edge, worker, dispatcher, identity,
conversation, agent, access, notifier: what Jaeger lists as services) and a `service.instance.id`
of its own, so replicas of one kind share a name and are still told apart."""

from __future__ import annotations

import os
import uuid

from opentelemetry import trace
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

_instrumented = False


def process_resource(service_name: str) -> Resource:
    """The resource every span of this process carries. OTEL_RESOURCE_ATTRIBUTES may add
    attributes (e.g. a pod's name as `service.instance.id`); the service name is always the
    process's kind, whatever OTEL_SERVICE_NAME says."""
    given = OTELResourceDetector().detect().attributes
    return Resource.create({
        "service.name": service_name,
        # Random per start: a restarted replica is a new instance, two replicas never collide.
        "service.instance.id": str(given.get("service.instance.id") or uuid.uuid4()),
        "process.pid": os.getpid(),
    })


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
        provider = TracerProvider(resource=process_resource(service_name))
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


class UrlQueryDropped(SpanProcessor):
    """The edge's: its HTTP server spans keep the path and the route but not the query string,
    which can hold an address (`/customers/lookup?email=…`). Set empty as the span starts, before
    any exporter sees it."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if span.attributes.get("url.query"):
            span.set_attribute("url.query", "")


def shutdown_tracing() -> None:
    """Flushes spans still buffered; called on graceful stop."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush(timeout_millis=5000)
