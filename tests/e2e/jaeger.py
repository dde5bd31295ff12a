"""A real Jaeger for the e2e pipeline (the binary `make run` uses, devstack/jaeger/config.yaml:
127.0.0.1 only, traces in memory) on free ports, and a client of its HTTP query API that reads
traces back the way an operator does: `/api/v3/traces/{trace_id}`, `/api/v3/traces?query…`."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import httpx
from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from devstack import REPO_ROOT, _proc
from devstack import jaeger as devstack_jaeger
from tests.ports import free_port

LOG_DIR = REPO_ROOT / "artifacts" / "e2e-logs"

# OTLP's span kinds, as Jaeger's api_v3 (OTLP/JSON) gives them.
INTERNAL, SERVER, CLIENT, PRODUCER, CONSUMER = 1, 2, 3, 4, 5


def _value(v: dict) -> object:
    """An OTLP/JSON AnyValue as plain Python."""
    if "arrayValue" in v:
        return [_value(x) for x in v["arrayValue"].get("values", [])]
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in v:
            return v[key]
    if "intValue" in v:
        return int(v["intValue"])
    return str(v)


def _attributes(items: Iterable[dict]) -> dict[str, object]:
    return {a["key"]: _value(a.get("value", {})) for a in items}


@dataclass(frozen=True)
class Span:
    service: str
    instance: str  # the process's service.instance.id
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, object] = field(default_factory=dict)
    links: tuple[tuple[str, str], ...] = ()  # (trace id, span id)
    # Every attribute, event and link of the span as text: what must never be there is looked for in it.
    text: str = ""


def parse_traces(body: dict) -> list[Span]:
    """The spans of an api_v3 answer ({"result": {"resourceSpans": […]}})."""
    spans = []
    for rs in body.get("result", {}).get("resourceSpans", []):
        resource = _attributes(rs.get("resource", {}).get("attributes", []))
        for scope in rs.get("scopeSpans", []):
            for s in scope.get("spans", []):
                attributes = _attributes(s.get("attributes", []))
                spans.append(Span(
                    service=str(resource.get("service.name", "")),
                    instance=str(resource.get("service.instance.id", "")),
                    name=s["name"],
                    trace_id=s["traceId"].lower(),
                    span_id=s["spanId"].lower(),
                    parent_span_id=(s.get("parentSpanId") or "").lower(),
                    kind=int(s.get("kind", 0)),
                    attributes=attributes,
                    links=tuple((link["traceId"].lower(), link["spanId"].lower()) for link in s.get("links", [])),
                    text=" ".join([f"{k}={v}" for k, v in attributes.items()]
                                  + [str(e) for e in s.get("events", [])]
                                  + [str(link) for link in s.get("links", [])]),
                ))
    return spans


@dataclass
class Jaeger:
    """A running Jaeger: where the processes export (`otlp_endpoint`) and its query API (`url`)."""

    otlp_endpoint: str
    url: str

    async def _get(self, path: str, params: dict | None = None) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            return await client.get(path, params=params)

    async def services(self) -> list[str]:
        reply = await self._get("/api/services")
        reply.raise_for_status()
        return reply.json()["data"] or []

    async def trace(self, trace_id: str) -> list[Span]:
        """Every span of the trace that Jaeger has now ([] while it has none)."""
        reply = await self._get(f"/api/v3/traces/{trace_id}")
        if reply.status_code == 404:
            return []
        reply.raise_for_status()
        return parse_traces(reply.json())

    async def spans_of(self, service: str, since: datetime, limit: int = 1000) -> list[Span]:
        """Every span of every trace with a span of `service` that started after `since`."""
        reply = await self._get("/api/v3/traces", {
            "query.service_name": service,
            "query.start_time_min": since.isoformat().replace("+00:00", "Z"),
            "query.start_time_max": (datetime.now(timezone.utc) + timedelta(minutes=1))
            .isoformat().replace("+00:00", "Z"),
            "query.num_traces": str(limit),
        })
        if reply.status_code == 404:
            return []
        reply.raise_for_status()
        return parse_traces(reply.json())

    async def all_spans(self, since: datetime) -> list[Span]:
        """Every span Jaeger holds of traces touching any service since `since`, once each."""
        found: dict[str, Span] = {}
        for service in await self.services():
            for span in await self.spans_of(service, since):
                found.setdefault(span.span_id, span)
        return list(found.values())

    @contextlib.contextmanager
    def client_span(self, name: str) -> Iterator[dict[str, str]]:
        """A CLIENT span of the test itself (service `e2e-client`: the customer's or operator's
        side) exported to this Jaeger; yields the headers (`traceparent`) that carry it. Its own
        tracer provider: the test process's global one is left alone."""
        provider = TracerProvider(resource=Resource.create({"service.name": "e2e-client"}))
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=self.otlp_endpoint, insecure=True)))
        try:
            with provider.get_tracer("e2e").start_as_current_span(name, kind=SpanKind.CLIENT) as span:
                headers: dict[str, str] = {}
                propagate.inject(headers, context=trace.set_span_in_context(span))
                yield headers
        finally:
            provider.shutdown()


@contextlib.asynccontextmanager
async def running_jaeger(name: str = "jaeger") -> AsyncIterator[Jaeger]:
    """Starts Jaeger on free ports (log in artifacts/e2e-logs/<name>.log), stops it after."""
    cfg = devstack_jaeger.JaegerConfig(data_dir=LOG_DIR, otlp_port=free_port(), http_port=free_port(),
                                       grpc_port=free_port())
    argv, env = devstack_jaeger.command(cfg)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"{name}.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not await asyncio.to_thread(devstack_jaeger.answers, cfg):
            if proc.poll() is not None:
                raise RuntimeError(f"jaeger exited with {proc.returncode}:\n{_proc.tail(log_path)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"jaeger did not answer on {cfg.url}:\n{_proc.tail(log_path)}")
            await asyncio.sleep(0.1)
        yield Jaeger(cfg.otlp_endpoint, cfg.url)
    finally:
        proc.terminate()
        try:
            await asyncio.to_thread(proc.wait, 10)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait)
