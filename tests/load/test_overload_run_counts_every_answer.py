"""The overload run (tests/load/overload.py) against a real edge on the test Kafka: Locust in its
own process, every answer counted once as accepted, refused or failed, and the ticket ids it
reports as accepted are all on Kafka."""

from __future__ import annotations

from fte.events.v1 import events_pb2

from services.common import topics
from services.edge.__main__ import build
from tests.e2e.probes import read_topic
from tests.edge.conftest import edge_settings, serve_edge
from tests.load.overload import classify, run_overload


def test_an_answer_is_refused_only_with_retry_after():
    assert classify(202, {}) == "accepted"
    assert classify(503, {"Retry-After": "5"}) == "refused"
    assert classify(429, {"Retry-After": "60"}) == "refused"
    assert classify(503, {}) == "failed"  # a 503 that does not say when to come back
    assert classify(0, None) == "failed"  # no answer at all: reset, refused, closed
    assert classify(500, {"Retry-After": "5"}) == "failed"
    assert classify(422, {}) == "other"


async def test_every_answer_is_counted_and_every_accepted_ticket_is_on_kafka(
        stack, identity_address, conversation_address, service_auth):
    settings = edge_settings(stack, identity_address, conversation_address, **service_auth("edge"),
                             rate_limit_per_ip="100000/minute", edge_max_in_flight=4)
    async with serve_edge(settings, build(settings)) as url:
        result = await run_overload(url, users=12, duration_s=6, spawn_rate=12, ticket_ids=True)

    submit = result["submit"]
    assert submit["failed"] == 0 and submit["other"] == 0, result
    assert submit["accepted"] >= 1, result
    counted = submit["accepted"] + submit["refused"]
    assert counted == sum(submit["statuses"].values())
    assert len(result["ticket_ids"]) == submit["accepted"] == len(set(result["ticket_ids"]))
    assert result["errors"] == {}

    on_kafka = {events_pb2.InboundMessage.FromString(r.value).ticket_id
                for r in await read_topic(stack.bootstrap_servers, topics.INCOMING, key_prefix="locust-")}
    assert set(result["ticket_ids"]) <= on_kafka
