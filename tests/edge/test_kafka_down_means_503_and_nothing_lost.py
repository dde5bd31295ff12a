"""With Kafka down the edge does not pretend: 503 + Retry-After. Every submission that got a
202 is on the topic, before and after the outage. A refused record may still reach Kafka once
it is back (the producer keeps retrying what it has in flight), so clients retry with the same
Idempotency-Key: the retry and any late copy name the same ticket, and nothing is doubled."""

from __future__ import annotations

import shutil
import uuid

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from fte.events.v1 import events_pb2

from devstack import DEFAULT_DATA_ROOT, kafka
from services.common import topics
from tests.e2e.pipeline import free_port
from tests.edge.conftest import edge_settings, serve_edge, valid_form


async def _ticket_ids_on_topic(bootstrap: str) -> set[str]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(topics.INCOMING, p) for p in range(kafka.topic_partitions()[topics.INCOMING])]
        consumer.assign(parts)
        end = await consumer.end_offsets(parts)
        for tp in parts:
            consumer.seek(tp, 0)
        ids: set[str] = set()
        seen = 0
        for _ in range(50):
            if seen >= sum(end.values()):
                break
            for records in (await consumer.getmany(*parts, timeout_ms=500)).values():
                seen += len(records)
                ids.update(events_pb2.InboundMessage.FromString(r.value).ticket_id for r in records)
        return ids
    finally:
        await consumer.stop()


async def test_kafka_outage_answers_503_and_loses_nothing_accepted(stack):
    data_dir = DEFAULT_DATA_ROOT / "test-kafka-outage"
    shutil.rmtree(data_dir, ignore_errors=True)
    cfg = kafka.KafkaConfig(data_dir=data_dir, port=free_port(), controller_port=free_port())
    await kafka.start(cfg)
    try:
        await kafka.ensure_topics(cfg.bootstrap_servers, kafka.topic_partitions(), 1)
        settings = edge_settings(
            stack, "127.0.0.1:1", "127.0.0.1:1",
            kafka_bootstrap_servers=cfg.bootstrap_servers, publish_timeout_s=2.0,
        )
        accepted: set[str] = set()
        refused_keys: list[str] = []
        async with serve_edge(settings) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
            async def submit(key: str) -> httpx.Response:
                return await http.post(
                    "/support/submit",
                    json=valid_form(email=f"o-{key[:8]}@example.com"),
                    headers={"Idempotency-Key": key},
                )

            before = await submit(str(uuid.uuid4()))
            assert before.status_code == 202
            accepted.add(before.json()["ticket_id"])

            kafka.stop(cfg)
            for _ in range(3):
                key = str(uuid.uuid4())
                reply = await submit(key)
                assert reply.status_code == 503, reply.text
                assert reply.headers["retry-after"] == "5"
                refused_keys.append(key)
            assert (await http.get("/ready")).status_code == 503

            await kafka.start(cfg)
            for key in refused_keys:  # the client retries; the producer reconnects on its own
                for _ in range(30):
                    reply = await submit(key)
                    if reply.status_code == 202:
                        accepted.add(reply.json()["ticket_id"])
                        break
                else:
                    raise AssertionError("edge never recovered after Kafka came back")

        on_topic = await _ticket_ids_on_topic(cfg.bootstrap_servers)
        assert len(accepted) == 4
        assert accepted <= on_topic, "a 202 was given for a message Kafka does not have"
        # Late copies of refused records carry the ticket id of their retry: nothing new.
        assert on_topic == accepted
    finally:
        kafka.stop(cfg)
        shutil.rmtree(data_dir, ignore_errors=True)
