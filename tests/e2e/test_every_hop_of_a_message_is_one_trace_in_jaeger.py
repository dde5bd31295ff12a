"""Operators read every hop in Jaeger: one customer message — from the web form, a signed
WhatsApp webhook or a Gmail push — and a person's reply to an escalated conversation are each
one trace, read back from a real Jaeger's HTTP API (`/api/v3/traces/{id}`), exactly as an
operator would: the edge's HTTP span, the Kafka publish and process spans, the worker, the gRPC
client and server spans of identity, conversation and agent, the knowledge search with its SQL,
the outbound publish and the dispatcher's send to the channel. Every gRPC server span's parent is
its client span, every Kafka process span's its publish span, and no span's parent is missing.
Replicas of one kind report one service name and their own instance ids."""

from __future__ import annotations

import asyncio
import secrets
import signal
import uuid
from collections.abc import Iterable
from datetime import datetime, timezone

import httpx
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.handoff.v1 import handoff_service_pb2 as ho_pb
from fte.handoff.v1 import handoff_service_pb2_grpc as ho_grpc

from devstack.migrate import service_dsn
from services.common.grpc_client import open_channel
from tests.access_services import create_key
from tests.e2e.channel_loop import (
    GMAIL_PATH,
    WHATSAPP_PATH,
    customer_email,
    email_answer,
    history,
    inbound,
    new_email_address,
    new_message_sid,
    new_phone,
    until,
    whatsapp_answer,
)
from tests.e2e.conftest import SUPPORT_ADDRESS, WHATSAPP_FROM, wait_for_reply
from tests.e2e.jaeger import CLIENT, CONSUMER, INTERNAL, PRODUCER, SERVER, Span
from tests.e2e.probes import eventually, group_members, submit_many, ticket_rows
from tests.fakes.google_oidc import push_body, push_headers
from tests.fakes.twilio import inbound_params, sign

IDENTITY = "/fte.identity.v1.IdentityService/ResolveCustomer"
RECORD_INBOUND = "/fte.conversation.v1.ConversationService/RecordInbound"
RESPOND = "/fte.agent.v1.AgentService/Respond"
SEARCH = "/fte.knowledge.v1.KnowledgeService/Search"
RECORD_OUTBOUND = "/fte.conversation.v1.ConversationService/RecordOutbound"
REPLY_TO_CUSTOMER = "/fte.handoff.v1.HandoffService/ReplyToCustomer"


def answered_hops(channel: str, *, entered_by: str = "edge") -> set[tuple[str, int, str]]:
    """(service, kind, name) of every hop a customer message and its answer on `channel` pass:
    into fte.tickets.incoming (`entered_by` publishes it), through the worker, identity,
    conversation and the agent with its knowledge search, out to the dispatcher's send."""
    outbound = f"fte.channels.{channel}.outbound"
    return {
        (entered_by, PRODUCER, "fte.tickets.incoming publish"),
        ("worker", CONSUMER, "fte.tickets.incoming process"),
        ("worker", CLIENT, IDENTITY), ("identity", SERVER, IDENTITY),
        ("worker", CLIENT, RECORD_INBOUND), ("conversation", SERVER, RECORD_INBOUND),
        ("worker", CLIENT, RESPOND), ("agent", SERVER, RESPOND),
        ("agent", INTERNAL, "agent.respond"),
        ("agent", CLIENT, SEARCH), ("agent", SERVER, SEARCH),
        ("agent", INTERNAL, "knowledge.search"),
        ("worker", PRODUCER, f"{outbound} publish"),
        ("dispatcher", CONSUMER, f"{outbound} process"),
        ("dispatcher", CLIENT, RECORD_OUTBOUND), ("conversation", SERVER, RECORD_OUTBOUND),
        ("dispatcher", CLIENT, f"{channel} send"),
    }


async def read_trace(jaeger, trace_id: str, expected: set[tuple[str, int, str]]) -> list[Span]:
    """The trace as Jaeger serves it, once every expected hop is in and every parent too. Each
    process exports on its own schedule, and a span ends (and is exported) after its children:
    a child can be in Jaeger a moment before its parent. A parent that never comes stays missing
    and fails the test (assert_connected)."""
    spans: list[Span] = []
    for _ in range(120):
        spans = await jaeger.trace(trace_id)
        ids = {s.span_id for s in spans}
        complete = all(not s.parent_span_id or s.parent_span_id in ids for s in spans)
        if expected <= {(s.service, s.kind, s.name) for s in spans} and complete:
            return spans
        await asyncio.sleep(0.5)
    missing = expected - {(s.service, s.kind, s.name) for s in spans}
    assert not missing, (f"not in Jaeger's trace {trace_id}: {sorted(missing)}; it has "
                         f"{sorted({(s.service, s.kind, s.name) for s in spans})}")
    return spans


def _is_sql(span: Span) -> bool:
    """asyncpg's span of one statement (either semantic-convention spelling)."""
    return "postgresql" in (span.attributes.get("db.system"), span.attributes.get("db.system.name"))


def _descendants(spans: Iterable[Span], ancestor: Span) -> list[Span]:
    children: dict[str, list[Span]] = {}
    for s in spans:
        children.setdefault(s.parent_span_id, []).append(s)
    found, todo = [], [ancestor.span_id]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child.span_id)
    return found


def assert_connected(spans: list[Span], trace_id: str) -> None:
    """One trace, rooted in the test's own client span, every parent present, every gRPC server
    span under its client span, every Kafka process span under (or linked to) its publish span."""
    assert {s.trace_id for s in spans} == {trace_id}
    by_id = {s.span_id: s for s in spans}
    orphans = [(s.service, s.name) for s in spans if s.parent_span_id and s.parent_span_id not in by_id]
    assert not orphans, f"spans whose parent is not in the trace: {orphans}"
    roots = [(s.service, s.name) for s in spans if not s.parent_span_id]
    assert [service for service, _ in roots] == ["e2e-client"], f"roots: {roots}"

    edge_servers = [s for s in spans if s.service == "edge" and s.kind == SERVER]
    assert edge_servers and all(by_id[s.parent_span_id].service == "e2e-client" for s in edge_servers)
    grpc_servers = [s for s in spans if s.kind == SERVER and s.attributes.get("rpc.system") == "grpc"]
    assert grpc_servers
    for server in grpc_servers:
        client = by_id[server.parent_span_id]
        assert (client.kind, client.name) == (CLIENT, server.name), \
            f"{server.service} {server.name}: parent is {client.service} {client.name}"
    for process in [s for s in spans if s.kind == CONSUMER and s.name.endswith(" process")]:
        publish_name = process.name.removesuffix(" process") + " publish"
        sources = [by_id.get(process.parent_span_id)] + [by_id.get(span_id) for _, span_id in process.links]
        assert any(p is not None and (p.kind, p.name) == (PRODUCER, publish_name) for p in sources), \
            f"{process.service} {process.name}: neither parent nor link is its publish span"
    # Every process says what it is and which replica it is.
    assert all(s.instance for s in spans if s.service != "e2e-client")


def assert_search_has_sql(spans: list[Span]) -> None:
    """The knowledge search runs inside the Search RPC and its SQL inside the search."""
    by_id = {s.span_id: s for s in spans}
    [search, *_] = [s for s in spans if s.name == "knowledge.search"]
    assert by_id[search.parent_span_id].name == SEARCH
    sql = [s for s in _descendants(spans, search) if _is_sql(s)]
    assert sql, "no asyncpg span under knowledge.search"
    assert all(s.service == "agent" and s.kind == CLIENT for s in sql)


def assert_sent_by_dispatcher(spans: list[Span], channel: str) -> Span:
    """The channel API call is a span of the dispatcher's handling of the outbound record."""
    by_id = {s.span_id: s for s in spans}
    sends = [s for s in spans if s.name == f"{channel} send" and not s.attributes.get("fte.notice")]
    assert sends, f"no {channel} send"
    send = sends[0]
    assert by_id[send.parent_span_id].name == f"fte.channels.{channel}.outbound process"
    assert send.attributes["fte.channel"] == channel and send.attributes["fte.reply_id"]
    return send


async def test_a_web_form_message_is_one_trace_from_submit_to_ticket_page(http, jaeger):
    question = "How do I turn on two-factor authentication for my account?"
    with jaeger.client_span("submit the support form") as headers:
        submitted = await http.post("/support/submit", headers=headers, json={
            "name": "Trace Tester",
            "email": f"trace-{uuid.uuid4().hex[:8]}@example.com",
            "subject": "Two-factor question",
            "category": "technical",
            "message": question,
        })
    assert submitted.status_code == 202, submitted.text
    await wait_for_reply(http, submitted.json()["ticket_id"])
    trace_id = headers["traceparent"].split("-")[1]

    spans = await read_trace(jaeger, trace_id, {("edge", SERVER, "POST /support/submit")}
                             | answered_hops("web_form"))

    assert_connected(spans, trace_id)
    assert_search_has_sql(spans)
    assert_sent_by_dispatcher(spans, "web_form")
    # The customer's words and address are on no span.
    assert not [s.name for s in spans if "turn on two-factor" in s.text or "@example.com" in s.text]


async def test_a_signed_whatsapp_message_is_one_trace_from_webhook_to_twilio(channel_fakes, jaeger):
    phone = new_phone()
    params = inbound_params(channel_fakes.twilio.account_sid, new_message_sid(), f"whatsapp:{phone}",
                            WHATSAPP_FROM, "How do I reset my password? The link never comes.", "Ana")
    url = f"{channel_fakes.public_base_url}{WHATSAPP_PATH}"
    with jaeger.client_span("Twilio delivers a WhatsApp message") as headers:
        async with httpx.AsyncClient(timeout=30) as client:
            accepted = await client.post(url, data=params, headers={
                **headers, "X-Twilio-Signature": sign(channel_fakes.twilio.auth_token, url, params),
                "I-Twilio-Idempotency-Token": secrets.token_hex(16)})
    assert accepted.status_code == 200, accepted.text
    await whatsapp_answer(channel_fakes, phone)
    trace_id = headers["traceparent"].split("-")[1]

    spans = await read_trace(jaeger, trace_id, {("edge", SERVER, f"POST {WHATSAPP_PATH}")}
                             | answered_hops("whatsapp"))

    assert_connected(spans, trace_id)
    assert_search_has_sql(spans)
    send = assert_sent_by_dispatcher(spans, "whatsapp")
    # The span names Twilio's message (its SID), never the customer's number.
    assert str(send.attributes["fte.external_id"]).startswith("SM")
    assert not [s.name for s in spans if phone.removeprefix("+") in s.text]


async def test_a_gmail_push_is_one_trace_from_pubsub_to_the_threaded_reply(channel_fakes, http, jaeger):
    address = new_email_address("trace")
    channel_fakes.gmail.deliver(customer_email(
        address, "Password reset", "Hello, how do I reset my password? The link never arrives."))
    with jaeger.client_span("Pub/Sub pushes a mailbox change") as headers:
        pushed = await http.post(GMAIL_PATH, content=push_body(SUPPORT_ADDRESS, channel_fakes.gmail.history_id),
                                 headers={**push_headers(channel_fakes.google.mint(channel_fakes.pubsub_audience)),
                                          **headers})
    assert pushed.status_code == 204, pushed.text
    await email_answer(channel_fakes, address)
    trace_id = headers["traceparent"].split("-")[1]

    # The push becomes a MailboxChanged; the dispatcher's Gmail ingest reads the mail and
    # publishes it for the worker, inside the same trace.
    spans = await read_trace(jaeger, trace_id, {
        ("edge", SERVER, f"POST {GMAIL_PATH}"),
        ("edge", PRODUCER, "fte.channels.email.inbound publish"),
        ("dispatcher", CONSUMER, "fte.channels.email.inbound process"),
    } | answered_hops("email", entered_by="dispatcher"))

    assert_connected(spans, trace_id)
    assert_search_has_sql(spans)
    assert_sent_by_dispatcher(spans, "email")
    assert not [s.name for s in spans if address in s.text]


async def test_an_operators_lookup_by_address_leaves_the_address_off_the_trace(http, jaeger, operator_headers):
    address = new_email_address("lookup")
    with jaeger.client_span("an operator looks a customer up") as headers:
        looked_up = await http.get("/customers/lookup", params={"email": address},
                                   headers={**headers, **operator_headers})
    assert looked_up.status_code == 404, looked_up.text  # nobody wrote from it
    trace_id = headers["traceparent"].split("-")[1]

    spans = await read_trace(jaeger, trace_id, {
        ("edge", SERVER, "GET /customers/lookup"),
        ("edge", CLIENT, "/fte.identity.v1.IdentityService/LookupCustomer"),
        ("identity", SERVER, "/fte.identity.v1.IdentityService/LookupCustomer"),
    })

    assert_connected(spans, trace_id)
    [server] = [s for s in spans if s.service == "edge" and s.kind == SERVER]
    assert server.attributes.get("http.route") == "/customers/lookup"
    assert not [s.name for s in spans if address in s.text or address.replace("@", "%40") in s.text]


async def _escalation_of(handoff: ho_grpc.HandoffServiceStub, ticket_id: str) -> ho_pb.QueuedEscalation | None:
    page = await handoff.ListEscalations(ho_pb.ListEscalationsRequest(team="sales", page_size=200))
    return next((e for e in page.escalations if e.ticket_id == ticket_id), None)


async def test_a_persons_reply_in_the_inbox_is_one_trace_to_whatsapp(
        stack, pipeline, channel_fakes, identity, conversation, http, jaeger):
    operator_key = await create_key(service_dsn(stack.admin_dsn, "access"), "agent", "Trace Operator")
    phone = new_phone()
    params = inbound_params(channel_fakes.twilio.account_sid, new_message_sid(), f"whatsapp:{phone}",
                            WHATSAPP_FROM, "How much does the Business plan cost per user per month?", "Ana")
    url = f"{channel_fakes.public_base_url}{WHATSAPP_PATH}"
    async with httpx.AsyncClient(timeout=30) as client:
        accepted = await client.post(url, data=params, headers={
            "X-Twilio-Signature": sign(channel_fakes.twilio.auth_token, url, params)})
    assert accepted.status_code == 200
    handover = await whatsapp_answer(channel_fakes, phone)
    [question] = inbound(await history(identity, conversation, phone=phone))
    async with open_channel(pipeline.address("conversation"), 20, credential=operator_key) as channel:
        handoff = ho_grpc.HandoffServiceStub(channel)
        escalation = await until(lambda: _escalation_of(handoff, question.ticket_id),
                                 "the escalation in the sales queue", timeout=30)
        assert escalation.reason == conv_pb.ESCALATION_REASON_PRICING
        await handoff.ClaimEscalation(ho_pb.ClaimEscalationRequest(escalation_id=escalation.escalation_id))

    answer = "Business is quoted per seat; I have sent you our price list by email."
    with jaeger.client_span("the inbox sends a person's reply") as headers:
        replied = await http.post(
            f"/inbox/api/escalations/{escalation.escalation_id}/reply",
            json={"content": answer, "idempotency_key": f"trace-{uuid.uuid4().hex}"},
            headers={**headers, "Authorization": f"Bearer {operator_key}"})
    assert replied.status_code == 200, replied.text
    from_person = await whatsapp_answer(channel_fakes, phone, after=len(handover))
    assert " ".join(m["Body"] for m in from_person).endswith(answer)
    trace_id = headers["traceparent"].split("-")[1]

    spans = await read_trace(jaeger, trace_id, {
        ("edge", SERVER, "POST /inbox/api/escalations/{escalation_id}/reply"),
        ("edge", CLIENT, REPLY_TO_CUSTOMER), ("conversation", SERVER, REPLY_TO_CUSTOMER),
        ("conversation", PRODUCER, "fte.channels.whatsapp.outbound publish"),
        ("dispatcher", CONSUMER, "fte.channels.whatsapp.outbound process"),
        ("dispatcher", CLIENT, RECORD_OUTBOUND), ("conversation", SERVER, RECORD_OUTBOUND),
        ("dispatcher", CLIENT, "whatsapp send"),
    })

    assert_connected(spans, trace_id)
    [server] = [s for s in spans if (s.kind, s.name) == (SERVER, REPLY_TO_CUSTOMER)]
    assert [s for s in _descendants(spans, server) if _is_sql(s)], \
        "the reply is stored (SQL) inside the RPC"
    [publish] = [s for s in _descendants(spans, server) if s.kind == PRODUCER and s.service == "conversation"]
    assert publish.name == "fte.channels.whatsapp.outbound publish"
    assert_sent_by_dispatcher(spans, "whatsapp")
    # The person's words are not on any span.
    assert not [s.name for s in spans if "price list" in s.text]


async def test_worker_replicas_share_the_service_name_and_keep_their_own_instance(
        http, pipeline, stack, jaeger):
    started = datetime.now(timezone.utc)
    await pipeline.start("worker-replica", copy_of="worker")
    try:
        async def split_between_two() -> bool:
            members = await group_members(stack.bootstrap_servers)
            return len(members) == 2 and all(members.values())

        await eventually(split_between_two, 60, "the partitions split between two workers", every=0.2)
        tickets = list(await submit_many(http, 12, "replicas"))

        async def all_answered() -> bool:
            rows = await ticket_rows(stack.admin_dsn, tickets)
            return sum(1 for r in rows.values() if r.outbound) == len(tickets)

        await eventually(all_answered, 180, "every submission answered")

        async def handled_by_two() -> list[Span] | None:
            spans = [s for s in await jaeger.spans_of("worker", started)
                     if s.name == "fte.tickets.incoming process"]
            return spans if len({s.instance for s in spans}) >= 2 else None

        spans = await until(handled_by_two, "process spans of both workers in Jaeger", timeout=60)
    finally:
        assert await pipeline.kill("worker-replica", signal.SIGTERM) == 0, pipeline.log_tail("worker-replica")
    assert {s.service for s in spans} == {"worker"}
    assert len({s.instance for s in spans}) == 2
    assert "worker" in await jaeger.services()
    assert not {"worker-replica", "unknown_service"} & set(await jaeger.services())
