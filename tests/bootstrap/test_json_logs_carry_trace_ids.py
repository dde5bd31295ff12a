"""Every log line a service writes is one JSON object naming the service and level; a line
written while handling an RPC carries the caller's trace id and the handler's span id, and
customer addresses in it are redacted."""

from __future__ import annotations

import asyncio
import json
import signal

from fte.identity.v1 import identity_service_pb2 as pb
from opentelemetry import trace
from fte.identity.v1 import identity_service_pb2_grpc as pb_grpc

from services.common.grpc_client import open_channel
from tests.bootstrap.test_graceful_stop import fixture_process

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"


async def test_rpc_log_line_is_json_with_callers_trace_id_and_no_customer_address(service_auth, admin_key):
    # The caller's span: whether or not this test process has the gRPC client instrumented
    # (other tests may have set it up), the call carries this trace.
    caller = trace.NonRecordingSpan(trace.SpanContext(
        int(TRACE_ID, 16), int(CALLER_SPAN_ID, 16), is_remote=False,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED)))
    async with fixture_process(service_auth("identity")) as (proc, address):
        async with open_channel(address, timeout_s=10, credential=admin_key) as ch:
            with trace.use_span(caller):
                await pb_grpc.IdentityServiceStub(ch).GetCustomer(
                    pb.GetCustomerRequest(customer_id="log:ada@example.com on +1 202-555-0142"),
                    metadata=(("traceparent", f"00-{TRACE_ID}-{CALLER_SPAN_ID}-01"),),
                )
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=15) == 0
        lines = (await proc.stdout.read()).decode().splitlines()

    records = [json.loads(line) for line in lines if line.strip()]  # fails on any non-JSON line
    assert records and all(r["service"] == "scripted" and r["level"] for r in records)
    [rpc_line] = [r for r in records if r["message"].startswith("looked up")]
    assert rpc_line["trace_id"] == TRACE_ID
    assert len(rpc_line["span_id"]) == 16 and rpc_line["span_id"] != CALLER_SPAN_ID
    assert rpc_line["message"] == "looked up [email] on [phone]"
    assert not any("ada@example.com" in line or "555-0142" in line for line in lines)
