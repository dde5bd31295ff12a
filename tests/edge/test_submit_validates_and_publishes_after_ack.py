"""POST /support/submit: bad input gets a 4xx naming the problem and publishes nothing;
good input is on Kafka (acks=all) before the 202 comes back."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from fte.common.v1 import channel_pb2
from fte.events.v1 import events_pb2

from devstack import kafka
from services.common import topics
from tests.edge.conftest import valid_form


async def _end_offsets(bootstrap: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        count = kafka.topic_partitions()[topics.INCOMING]
        return await consumer.end_offsets([TopicPartition(topics.INCOMING, p) for p in range(count)])
    finally:
        await consumer.stop()


async def _events_since(bootstrap: str, start: dict[TopicPartition, int]) -> list[events_pb2.InboundMessage]:
    end = await _end_offsets(bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    events = []
    try:
        consumer.assign(list(end))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        for tp in end:
            while await consumer.position(tp) < end[tp]:
                batch = await consumer.getmany(tp, timeout_ms=2000)
                for record in batch.get(tp, []):
                    events.append(events_pb2.InboundMessage.FromString(record.value))
    finally:
        await consumer.stop()
    return events


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"name": "A"}, "name"),
        ({"email": "not-an-email"}, "email"),
        ({"subject": "Hey"}, "subject"),
        ({"category": "sales"}, "category"),
        ({"message": "too short"}, "message"),
        ({"message": "x" * 5001}, "message"),
        ({"phone": "12"}, "phone"),
        ({"name": 42}, "name"),
    ],
)
async def test_bad_field_is_422_naming_it_and_publishes_nothing(http, stack, overrides, field):
    before = await _end_offsets(stack.bootstrap_servers)
    reply = await http.post("/support/submit", json=valid_form(**overrides))
    assert reply.status_code == 422
    assert any(err["loc"][-1] == field for err in reply.json()["detail"]), reply.json()
    assert await _end_offsets(stack.bootstrap_servers) == before


async def test_malformed_json_and_unknown_fields_are_422(http):
    reply = await http.post("/support/submit", content=b"{not json", headers={"content-type": "application/json"})
    assert reply.status_code == 422
    reply = await http.post("/support/submit", json=valid_form(admin=True))
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"][-1] == "admin"


async def test_body_over_64_kib_is_refused_with_413(http, stack):
    before = await _end_offsets(stack.bootstrap_servers)
    reply = await http.post("/support/submit", json=valid_form(message="x" * (70 * 1024)))
    assert reply.status_code == 413
    assert await _end_offsets(stack.bootstrap_servers) == before


async def test_accepted_submission_is_on_kafka_with_its_ticket_id(http, stack):
    before = await _end_offsets(stack.bootstrap_servers)
    email = f"Grace.{uuid.uuid4().hex[:8]}@Example.com"
    reply = await http.post("/support/submit", json=valid_form(email=email, phone="+351 961 234 567"))
    assert reply.status_code == 202
    body = reply.json()
    uuid.UUID(body["ticket_id"])
    assert "Thank you" in body["message"] and body["expected_response_time"]
    events = [e for e in await _events_since(stack.bootstrap_servers, before) if e.ticket_id == body["ticket_id"]]
    assert len(events) == 1
    event = events[0]
    assert event.channel == channel_pb2.CHANNEL_WEB_FORM
    assert event.sender.email == email.lower()
    assert event.sender.phone == "+351961234567"
    assert event.idempotency_key == f"web:{body['ticket_id']}"
    assert event.category == "technical"


async def test_same_idempotency_key_names_the_same_ticket(http):
    key = str(uuid.uuid4())
    first = await http.post("/support/submit", json=valid_form(), headers={"Idempotency-Key": key})
    again = await http.post("/support/submit", json=valid_form(), headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 202
    assert first.json()["ticket_id"] == again.json()["ticket_id"]


async def test_unknown_ticket_shows_received_and_bad_id_is_422(http):
    reply = await http.get(f"/support/ticket/{uuid.uuid4()}")
    assert reply.status_code == 200
    assert reply.json()["status"] == "received"
    assert (await http.get("/support/ticket/not-a-uuid")).status_code == 422


async def test_customer_lookup_needs_email_or_phone(operator):
    assert (await operator.get("/customers/lookup")).status_code == 400
    missing = await operator.get("/customers/lookup", params={"email": f"nobody-{uuid.uuid4().hex}@example.com"})
    assert missing.status_code == 404


async def test_cors_allows_only_configured_origins(http):
    allowed = await http.options(
        "/support/submit",
        headers={"Origin": "http://host.example", "Access-Control-Request-Method": "POST"},
    )
    assert allowed.headers.get("access-control-allow-origin") == "http://host.example"
    denied = await http.options(
        "/support/submit",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in denied.headers


async def test_ready_reports_dependencies_and_metrics_are_prometheus(http):
    ready = await http.get("/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"kafka": "ok", "identity": "ok", "conversation": "ok"}
    metrics = await http.get("/metrics")
    assert "fte_edge_submissions_total" in metrics.text
