"""The edge's HTTP spans, made by FastAPI's own OpenTelemetry instrumentation (app.TELEMETRY):
one server span per request, a child of the caller's traceparent, named by method and route,
the Kafka publish inside it; no span for a probe or a scrape; no query string on any span
(`UrlQueryDropped`, installed by `python -m services.edge`). Each request carries a trace id of
its own, so the spans other tests make in this process are told apart."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from services.common.telemetry import UrlQueryDropped, setup_tracing
from tests.edge.conftest import valid_form


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    provider = setup_tracing("edge-test")
    provider.add_span_processor(UrlQueryDropped())
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # keeps nothing from the tests after this one


def traceparent() -> tuple[str, str, dict[str, str]]:
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, parent_id, {"traceparent": f"00-{trace_id}-{parent_id}-01"}


def of_trace(exporter: InMemorySpanExporter, trace_id: str) -> list:
    return [s for s in exporter.get_finished_spans() if f"{s.context.trace_id:032x}" == trace_id]


async def test_a_submit_is_one_server_span_under_the_callers_trace(http, spans):
    trace_id, parent_id, headers = traceparent()
    reply = await http.post("/support/submit", json=valid_form(email=f"t-{uuid.uuid4().hex[:8]}@example.com"),
                            headers=headers)
    assert reply.status_code == 202, reply.text

    traced = of_trace(spans, trace_id)
    [server] = [s for s in traced if s.kind == SpanKind.SERVER]
    assert server.name == "POST /support/submit"
    assert f"{server.parent.span_id:016x}" == parent_id
    assert server.attributes["http.route"] == "/support/submit"
    assert server.attributes["http.request.method"] == "POST"
    assert server.attributes["http.response.status_code"] == 202
    # The publish runs inside the request's span, so the worker's side continues this trace.
    [publish] = [s for s in traced if s.kind == SpanKind.PRODUCER]
    assert publish.parent.span_id == server.context.span_id
    # Only the server span and the publish: no spans for FastAPI's own steps.
    assert len(traced) == 2, [s.name for s in traced]


@pytest.mark.parametrize("path", ["/health", "/ready", "/metrics"])
async def test_probes_and_scrapes_make_no_span(http, spans, path):
    trace_id, _, headers = traceparent()
    reply = await http.get(path, headers=headers)
    assert reply.status_code in (200, 503), reply.text
    assert of_trace(spans, trace_id) == []


async def test_a_lookup_by_address_leaves_the_query_off_its_span(operator, spans):
    address = f"lookup-{uuid.uuid4().hex[:8]}@example.com"
    trace_id, _, headers = traceparent()
    reply = await operator.get("/customers/lookup", params={"email": address}, headers=headers)
    assert reply.status_code == 404, reply.text

    # The identity service serves in this process too: its SERVER span is in the trace as well.
    [server] = [s for s in of_trace(spans, trace_id) if s.instrumentation_scope.name == "fastapi"]
    assert server.name == "GET /customers/lookup" and server.kind == SpanKind.SERVER
    assert server.attributes["url.path"] == "/customers/lookup"
    assert server.attributes["url.query"] == ""
    shown = " ".join(str(v) for v in server.attributes.values())
    assert address not in shown and address.replace("@", "%40") not in shown
