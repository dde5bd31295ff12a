"""One submission is one trace: spans from edge, worker, identity, conversation, agent and
dispatcher, all under the trace the HTTP request started, every parent present."""

from __future__ import annotations

import asyncio
import os
import uuid

from tests.e2e.conftest import wait_for_reply

SERVICES = {"edge", "worker", "identity", "conversation", "agent", "dispatcher"}


async def test_submission_yields_one_connected_trace(http, otlp):
    _, spans = otlp
    trace_id = os.urandom(16).hex()
    root_span_id = os.urandom(8).hex()
    submitted = await http.post(
        "/support/submit",
        json={
            "name": "Trace Tester",
            "email": f"trace-{uuid.uuid4().hex[:8]}@example.com",
            "subject": "Two-factor question",
            "category": "technical",
            "message": "How do I turn on two-factor authentication for my account?",
        },
        headers={"traceparent": f"00-{trace_id}-{root_span_id}-01"},
    )
    assert submitted.status_code == 202
    await wait_for_reply(http, submitted.json()["ticket_id"])

    # Each process exports on its own schedule (every 0.5 s): wait until every hop is in.
    expected = {
        ("edge", "fte.tickets.incoming publish"),
        ("worker", "fte.tickets.incoming process"),
        ("worker", "fte.channels.web_form.outbound publish"),
        ("dispatcher", "fte.channels.web_form.outbound process"),
        ("identity", "/fte.identity.v1.IdentityService/ResolveCustomer"),
        ("agent", "/fte.agent.v1.AgentService/Respond"),
        ("dispatcher", "/fte.conversation.v1.ConversationService/UpdateDeliveryStatus"),
        ("conversation", "/fte.conversation.v1.ConversationService/UpdateDeliveryStatus"),
    }
    ours = []
    for _ in range(60):
        ours = [s for s in spans if s.trace_id == trace_id]
        if expected <= {(s.service, s.name) for s in ours}:
            break
        await asyncio.sleep(0.5)
    assert SERVICES <= {s.service for s in ours}, sorted({s.service for s in ours})
    missing = expected - {(s.service, s.name) for s in ours}
    assert not missing, missing

    # Parent/child links intact: every parent is in the trace (or is the caller's own span).
    ids = {s.span_id for s in ours} | {root_span_id}
    orphans = [(s.service, s.name) for s in ours if s.parent_span_id and s.parent_span_id not in ids]
    assert not orphans, orphans
    roots = [s for s in ours if not s.parent_span_id]
    assert not roots, "every span descends from the request's traceparent"
