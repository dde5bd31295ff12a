"""Prometheus metrics on the running pipeline, scraped from every process's /metrics the way
Prometheus does (tests/observability/scrape.py): after web-form, WhatsApp and email traffic, an
escalation a person answers and resolves, a customer recognised across channels, a poison
record, a refused RPC and a bad request at the edge, the channel, agent, system and business
series say what happened; and every metric of the catalogue (services/common/metrics.py) is
exported by at least one process."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import grpc
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fte.common.v1 import channel_pb2
from fte.handoff.v1 import handoff_service_pb2 as handoff_pb
from fte.handoff.v1 import handoff_service_pb2_grpc as handoff_grpc
from fte.identity.v1 import identity_service_pb2 as id_pb
from fte.identity.v1 import identity_service_pb2_grpc as id_grpc
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

from devstack.migrate import service_dsn
from services.common import metrics as catalogue
from services.common import topics
from services.common.grpc_client import open_channel
from tests.access_services import create_key
from tests.e2e.channel_loop import (
    customer_email,
    email_answer,
    email_customer,
    find_customer,
    history,
    inbound,
    new_email_address,
    new_phone,
    post_whatsapp,
    until,
    whatsapp_answer,
)
from tests.e2e.conftest import wait_for_reply
from tests.e2e.pipeline import metrics_address
from tests.observability.scrape import Scrape, scrape

# Every process of the pipeline serves /metrics (the edge on its HTTP port).
PROCESSES = ("access", "identity", "conversation", "agent", "worker", "dispatcher", "notifier", "edge")
HTTP_METRICS = ("http_requests", "http_request_duration_seconds")  # prometheus-fastapi-instrumentator


async def scrape_all(pipeline) -> dict[str, Scrape]:
    specs = {p.name: p for p in pipeline.processes}
    return {name: await scrape(metrics_address(specs[name])) for name in PROCESSES}


@dataclass
class Traffic:
    before: dict[str, Scrape]  # every process's scrape before the traffic


@pytest.fixture(scope="module")
async def traffic(stack, pipeline, channel_fakes, identity, conversation) -> Traffic:
    """One pass of everything the assertions below read, from counters taken before it."""
    before = await scrape_all(pipeline)
    async with httpx.AsyncClient(base_url=pipeline.edge_url, timeout=30) as http:
        await _traffic(stack, pipeline, channel_fakes, http, identity, conversation)
    return Traffic(before)


async def _traffic(stack, pipeline, channel_fakes, http, identity, conversation) -> None:

    # The web form: a question the agent answers on the ticket page.
    form = await http.post("/support/submit", json={
        "name": "Metrics Ada", "email": f"metrics-{uuid.uuid4().hex[:8]}@example.com",
        "subject": "Password", "category": "technical",
        "message": "How do I reset my password? The link never seems to come."})
    assert form.status_code == 202
    await wait_for_reply(http, form.json()["ticket_id"])
    # A bad request: 422 with the field, counted as 4xx.
    bad = await http.post("/support/submit", json={"name": "x", "email": "not an address"})
    assert bad.status_code == 422

    # Email, then the same customer on WhatsApp through a linked number: known across channels.
    address, phone = new_email_address("metrics"), new_phone()
    await email_customer(channel_fakes, http, customer_email(
        address, "Two-factor", "How do I turn on two-factor authentication for my account?", name="Mia"))
    await email_answer(channel_fakes, address)
    customer = await find_customer(identity, email=address)
    await identity.LinkIdentifier(id_pb.LinkIdentifierRequest(
        customer_id=customer.customer_id, type=id_pb.IDENTIFIER_TYPE_PHONE, value=phone,
        channel=channel_pb2.CHANNEL_WHATSAPP))
    assert (await post_whatsapp(channel_fakes, phone, "How do I reset my password?")).status_code == 200
    await whatsapp_answer(channel_fakes, phone)

    # An escalation on WhatsApp, which a person answers in time and resolves.
    pricing_phone = new_phone()
    await post_whatsapp(channel_fakes, pricing_phone, "How much does the Business plan cost per user per month?")
    handover = await whatsapp_answer(channel_fakes, pricing_phone)
    [question] = inbound(await history(identity, conversation, phone=pricing_phone))
    operator_key = await create_key(service_dsn(stack.admin_dsn, "access"), "agent", "Metrics Operator")
    async with open_channel(pipeline.address("conversation"), 20, credential=operator_key) as channel:
        handoff = handoff_grpc.HandoffServiceStub(channel)

        async def queued():
            page = await handoff.ListEscalations(handoff_pb.ListEscalationsRequest(team="sales", page_size=200))
            return next((e for e in page.escalations if e.ticket_id == question.ticket_id), None)

        escalation = await until(queued, "the pricing escalation queued", timeout=30)
        await handoff.ReplyToCustomer(handoff_pb.ReplyToCustomerRequest(
            escalation_id=escalation.escalation_id, content="Per seat; the price list is on its way.",
            idempotency_key=f"metrics-{uuid.uuid4().hex}"))
        await whatsapp_answer(channel_fakes, pricing_phone, after=len(handover))
        await handoff.ResolveEscalation(handoff_pb.ResolveEscalationRequest(
            escalation_id=escalation.escalation_id, note="Price list sent."))

    # A record no one can read: dead-lettered by the worker.
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topics.INCOMING, b"\xff\x00 not a protobuf", key=b"metrics-poison")
    finally:
        await producer.stop()

    # A refused call: no credential.
    async with open_channel(pipeline.address("identity"), 10) as anonymous:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await id_grpc.IdentityServiceStub(anonymous).GetCustomer(
                id_pb.GetCustomerRequest(customer_id=customer.customer_id))
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def grew(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after.value(name, **labels) - before.value(name, **labels)


async def until_grown(pipeline, traffic, process: str, name: str, at_least: float = 1, **labels) -> Scrape:
    """The process's scrape once `name{labels}` grew by `at_least` since before the traffic
    (counters land a moment after what they count: a dead letter, a reply sent)."""
    specs = {p.name: p for p in pipeline.processes}

    async def probe():
        now = await scrape(metrics_address(specs[process]))
        return now if grew(traffic.before[process], now, name, **labels) >= at_least else None

    return await until(probe, f"{process}: {name}{labels} to grow by {at_least}", timeout=60)


async def test_channel_level_messages_by_outcome_latency_and_sentiment(pipeline, traffic):
    worker = await until_grown(pipeline, traffic, "worker", "fte_messages_total",
                               channel="unknown", outcome="dead_lettered")
    before = traffic.before["worker"]
    assert grew(before, worker, "fte_messages_total", channel="web_form", outcome="answered") >= 1
    assert grew(before, worker, "fte_messages_total", channel="email", outcome="answered") >= 1
    assert grew(before, worker, "fte_messages_total", channel="whatsapp", outcome="answered") >= 1
    assert grew(before, worker, "fte_messages_total", channel="whatsapp", outcome="escalated") >= 1
    for channel in ("web_form", "email", "whatsapp"):
        assert grew(before, worker, "fte_customer_sentiment_count", channel=channel) >= 1
        assert worker.has("fte_conversations_total", channel=channel)
    assert grew(before, worker, "fte_conversations_total", channel="email") >= 1
    # Sentiment is VADER's compound score: within -1..1 on average.
    for channel in ("web_form", "email", "whatsapp"):
        count = worker.value("fte_customer_sentiment_count", channel=channel)
        assert -1 <= worker.value("fte_customer_sentiment_sum", channel=channel) / count <= 1

    dispatcher = await until_grown(pipeline, traffic, "dispatcher", "fte_reply_latency_seconds_count",
                                   channel="whatsapp", at_least=2)
    d_before = traffic.before["dispatcher"]
    for channel in ("web_form", "email"):
        assert grew(d_before, dispatcher, "fte_reply_latency_seconds_count", channel=channel) >= 1
        # Every reply took more than nothing and less than the longest bucket.
        assert dispatcher.value("fte_reply_latency_seconds_bucket", channel=channel, le="+Inf") == \
            dispatcher.value("fte_reply_latency_seconds_count", channel=channel)
        assert dispatcher.value("fte_reply_latency_seconds_sum", channel=channel) > 0
    for channel in ("whatsapp", "email"):
        assert [s.value in (0, 1) for s in dispatcher.samples("fte_channel_circuit_open", channel=channel)] == [True]


async def test_agent_level_tool_calls_knowledge_hits_and_tokens(pipeline, traffic):
    agent = await until_grown(pipeline, traffic, "agent", "fte_knowledge_searches_total", outcome="hit")
    before = traffic.before["agent"]
    calls = [s for s in agent.samples("fte_agent_tool_calls_total", outcome="ok")]
    assert {s.labels["tool"] for s in calls} >= {"search_knowledge_base"}, calls
    assert grew(before, agent, "fte_agent_tool_calls_total", tool="search_knowledge_base", outcome="ok") >= 1
    assert agent.has("fte_agent_tokens_total", kind="input") and agent.has("fte_agent_tokens_total", kind="output")
    assert agent.has("fte_agent_errors_total", kind="model")


async def test_system_level_rpcs_lag_pools_dead_letters_and_http(pipeline, traffic):
    after = await scrape_all(pipeline)
    identity, before = after["identity"], traffic.before["identity"]
    service = "fte.identity.v1.IdentityService"
    assert grew(before, identity, "fte_rpc_server_duration_seconds_count",
                service=service, method="ResolveCustomer", code="OK") >= 4
    assert grew(before, identity, "fte_rpc_server_duration_seconds_count",
                service=service, method="GetCustomer", code="UNAUTHENTICATED") == 1
    conversation = after["conversation"]
    assert grew(traffic.before["conversation"], conversation, "fte_rpc_server_duration_seconds_count",
                service="fte.conversation.v1.ConversationService", method="RecordInbound", code="OK") >= 4
    assert grew(traffic.before["agent"], after["agent"], "fte_rpc_server_duration_seconds_count",
                service="fte.agent.v1.AgentService", method="Respond", code="OK") >= 4

    # Every pool: in use within its size, its size within its maximum.
    pools = {"identity": "identity", "conversation": "conversation", "agent": "knowledge",
             "access": "access", "notifier": "notifier"}
    for process, pool in pools.items():
        scraped = after[process]
        in_use, size, most = (scraped.value("fte_db_pool_connections", pool=pool, state=s)
                              for s in ("in_use", "size", "max"))
        assert 0 <= in_use <= size <= most and most >= 1, (process, in_use, size, most)

    # Lag of the worker's group on every partition it holds, back to 0 once all is handled.
    async def drained():
        lags = (await scrape(metrics_address(next(p for p in pipeline.processes if p.name == "worker")))
                ).samples("fte_kafka_consumer_lag", group="fte-inbound-worker", topic=topics.INCOMING)
        return lags if lags and all(s.value == 0 for s in lags) else None

    await until(drained, "the worker's lag back to 0 on every partition", timeout=60)
    assert after["dispatcher"].has("fte_kafka_consumer_lag", group="fte-dispatcher-whatsapp")
    assert after["notifier"].has("fte_kafka_consumer_lag", group="fte-notifier")

    worker = await until_grown(pipeline, traffic, "worker", "fte_dead_letters_total",
                               topic=topics.DLQ, source=topics.INCOMING)
    assert worker.value("fte_dead_letters_total", topic=topics.DLQ, source=topics.INCOMING) >= 1

    edge, e_before = after["edge"], traffic.before["edge"]
    assert grew(e_before, edge, "http_requests_total", handler="/support/submit", method="POST", status="4xx") >= 1
    assert grew(e_before, edge, "http_requests_total", handler="/support/submit", method="POST", status="2xx") >= 1
    assert edge.has("http_request_duration_seconds_count", handler="/support/submit", method="POST")


async def test_business_level_identifications_tickets_closed_and_first_replies(pipeline, traffic):
    after = await scrape_all(pipeline)
    identity = after["identity"]
    assert grew(traffic.before["identity"], identity, "fte_customer_identifications_total",
                channel="whatsapp", result="cross_channel") >= 1
    assert grew(traffic.before["identity"], identity, "fte_customer_identifications_total",
                channel="email", result="new") >= 1
    conversation, before = after["conversation"], traffic.before["conversation"]
    assert grew(before, conversation, "fte_tickets_closed_total", channel="whatsapp", resolved_by="person") == 1
    assert grew(before, conversation, "fte_escalation_first_replies_total", team="sales", promise="kept") >= 1


async def test_every_metric_of_the_catalogue_is_exported_by_a_running_process(pipeline, traffic):
    wanted = {m.describe()[0].name for m in vars(catalogue).values() if isinstance(m, MetricWrapperBase)}
    # The catalogue's metrics, as the default registry holds them once it is imported.
    assert len(wanted) == 20 and wanted <= {f.name for f in REGISTRY.collect()}
    exported: dict[str, set[str]] = {}
    for process, scraped in (await scrape_all(pipeline)).items():
        for name, family in scraped.families.items():
            if family.samples:
                exported.setdefault(name, set()).add(process)
    missing = sorted((wanted | set(HTTP_METRICS)) - set(exported))
    assert missing == [], f"exported by no process: {missing}"
