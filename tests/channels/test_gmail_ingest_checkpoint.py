"""run_gmail_ingest on a real Kafka broker: the last processed historyId survives a restart
(it is committed with the offset), so the next run reads history from there — no resync, no
mail emitted twice, nothing missed — and every run renews the mailbox's users.watch.

Runs on the session's real Kafka (the `stack` fixture)."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from fte.events.v1 import events_pb2

from devstack import kafka as devkafka
from services.channels.gmail.ingest import MailboxNotification, run_gmail_ingest
from services.common.kafka import new_producer, publish
from tests.channels import mail_samples as mail
from tests.channels.conftest import SUPPORT, gmail_settings


@pytest.fixture(scope="module")
async def kafka(stack):
    """The session's real Kafka (embedded, or KAFKA_BOOTSTRAP_SERVERS)."""
    return stack.bootstrap_servers


async def _run_until(
    settings, bootstrap: str, topics_: dict[str, str], predicate, timeout: float = 60.0
) -> None:
    """Runs the ingest worker until `predicate` holds, then stops it as SIGTERM would."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_gmail_ingest(settings, bootstrap, stop, **topics_))
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while not await predicate():
            if task.done():
                task.result()  # surface the crash
            assert asyncio.get_running_loop().time() < deadline, "ingest did not get there in time"
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_history_checkpoint_survives_a_restart(kafka, gmail):
    # Unique names: the broker may be shared with other test runs.
    run = uuid.uuid4().hex[:8]
    inbound, incoming = f"test.{run}.email.inbound", f"test.{run}.incoming"
    await devkafka.ensure_topics(kafka, {inbound: 3, incoming: 1})
    names = {"notifications_topic": inbound, "incoming_topic": incoming}
    settings = gmail_settings(
        gmail,
        gmail_ingest_group=f"test-gmail-ingest-{run}",
        gmail_pubsub_topic="projects/flowboard-support/topics/gmail",
    )
    producer = new_producer(kafka, f"test-{run}")
    await producer.start()
    reader = AIOKafkaConsumer(incoming, bootstrap_servers=kafka, auto_offset_reset="earliest", group_id=None)
    await reader.start()
    emitted: list[events_pb2.InboundMessage] = []

    async def emitted_count(n: int) -> bool:
        for records in (await reader.getmany(timeout_ms=100)).values():
            emitted.extend(events_pb2.InboundMessage.FromString(r.value) for r in records)
        return len(emitted) >= n

    try:
        first = gmail.deliver(mail.gmail_reply_alternative())
        await publish(producer, inbound, SUPPORT, MailboxNotification(SUPPORT, gmail.history_id).to_proto())
        await _run_until(settings, kafka, names, lambda: emitted_count(1))
        checkpoint = await _committed_history_id(kafka, settings.gmail_ingest_group, inbound)
        assert checkpoint == gmail.history_id  # stored with the offset

        second = gmail.deliver(
            mail.plain("Lee <lee@example.com>", "Export", "How do I export a board?", "<lee-1@example.com>")
        )
        await publish(producer, inbound, SUPPORT, MailboxNotification(SUPPORT, gmail.history_id).to_proto())
        await _run_until(settings, kafka, names, lambda: emitted_count(2))
    finally:
        await reader.stop()
        await producer.stop()
        await _delete_topics(kafka, [inbound, incoming])

    assert [e.idempotency_key for e in emitted] == [first, second]
    # First run: no checkpoint yet, a bounded resync. After the restart: history from the
    # stored historyId, no second resync.
    assert len(gmail.received("GET", r"/messages$")) == 1
    [history] = gmail.received("GET", r"/history$")
    assert history.param("startHistoryId") == str(checkpoint)
    # Each run (re)started the mailbox's push notifications to the configured topic.
    watches = gmail.received("POST", r"/watch$")
    assert len(watches) == 2
    assert watches[0].json() == {
        "topicName": "projects/flowboard-support/topics/gmail",
        "labelIds": ["INBOX"],
        "labelFilterBehavior": "include",
    }


async def _delete_topics(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()


async def _committed_history_id(bootstrap: str, group: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    states = [
        json.loads(meta.metadata) for tp, meta in offsets.items() if tp.topic == topic and meta.metadata
    ]
    [state] = [s for s in states if SUPPORT in s]
    return int(state[SUPPORT])
