"""run_gmail_ingest on the real Kafka: nothing it cannot handle blocks the mailbox or vanishes.
A record that is not a notification, a mail Gmail keeps failing to serve (after a bounded
number of attempts) and a mail that cannot be parsed each land in fte.dlq as a DeadLetter; the
customer mail behind them is still ingested."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer
from fte.events.v1 import events_pb2

from devstack import kafka as devkafka
from services.channels.gmail.ingest import MailboxNotification, run_gmail_ingest
from services.common.kafka import new_producer, publish
from tests.channels import mail_samples as mail
from tests.channels.conftest import SUPPORT, gmail_settings
from tests.channels.dispatcher_run import until
from tests.fakes.gmail import BACKEND_ERROR
from tests.fakes.http import Reply


async def test_unreadable_notification_and_unfetchable_or_unparseable_mail_are_dead_lettered(
    stack, gmail, registry
):
    kafka = stack.bootstrap_servers
    run = uuid.uuid4().hex[:8]
    inbound, incoming, dlq = f"test.{run}.email.inbound", f"test.{run}.incoming", f"test.{run}.dlq"
    await devkafka.ensure_topics(kafka, {inbound: 1, incoming: 1, dlq: 1})
    settings = gmail_settings(
        gmail, gmail_ingest_group=f"test-gmail-ingest-{run}", gmail_message_max_attempts=2
    )
    stuck = gmail.deliver(mail.plain("Bo <bo@example.com>", "Help", "Gmail fails on me.", "<bo-1@example.com>"))
    broken = gmail.deliver(mail.plain("Cy <cy@example.com>", "Help", "I cannot be read.", "<cy-1@example.com>"))
    fine = gmail.deliver(mail.gmail_reply_alternative())
    # Gmail answers 503 for one mail, forever; another comes back in a shape we cannot read.
    gmail.fail("GET", rf"/messages/{stuck}$", BACKEND_ERROR, times=1_000_000)
    unreadable_resource = {
        "id": broken,
        "threadId": broken,
        "internalDate": "9" * 30,  # far beyond any date a mail can carry
        "payload": {
            "mimeType": "text/plain",
            "headers": [{"name": "From", "value": "Cy <cy@example.com>"}],
            "body": {"size": 17, "data": "SSBjYW5ub3QgYmUgcmVhZC4"},
        },
    }
    gmail.fail("GET", rf"/messages/{broken}$", Reply.json(200, unreadable_resource), times=1_000_000)

    producer = new_producer(kafka, f"test-{run}")
    await producer.start()
    readers = {
        topic: AIOKafkaConsumer(topic, bootstrap_servers=kafka, auto_offset_reset="earliest", group_id=None)
        for topic in (incoming, dlq)
    }
    for reader in readers.values():
        await reader.start()
    got: dict[str, list[bytes]] = {incoming: [], dlq: []}

    async def has(topic: str, n: int) -> bool:
        for records in (await readers[topic].getmany(timeout_ms=100)).values():
            got[topic].extend(r.value for r in records)
        return len(got[topic]) >= n

    stop = asyncio.Event()
    task = asyncio.create_task(
        run_gmail_ingest(
            settings, kafka, stop, notifications_topic=inbound, incoming_topic=incoming, dlq_topic=dlq,
            registry=registry,
        )
    )
    try:
        await producer.send_and_wait(inbound, value=b"\x0a\x03not a notification\xff", key=SUPPORT.encode())
        await publish(producer, inbound, SUPPORT, MailboxNotification(SUPPORT, gmail.history_id).to_proto())
        await until(lambda: has(incoming, 1), "the good mail to be ingested", timeout=90)
        await until(lambda: has(dlq, 3), "three dead letters", timeout=30)
        assert not task.done(), "the ingest must keep running"
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        for reader in readers.values():
            await reader.stop()
        await producer.stop()

    [emitted] = [events_pb2.InboundMessage.FromString(v) for v in got[incoming]]
    assert emitted.idempotency_key == fine
    letters = [events_pb2.DeadLetter.FromString(v) for v in got[dlq]]
    by_stage = {letter.stage: letter for letter in letters}
    assert set(by_stage) == {"gmail_notification", "gmail_fetch", "gmail_parse"}
    unreadable = by_stage["gmail_notification"]
    assert unreadable.original_topic == inbound and unreadable.offset == 0
    assert unreadable.payload == b"\x0a\x03not a notification\xff"
    fetch = by_stage["gmail_fetch"]
    assert fetch.idempotency_key == stuck and fetch.attempts == 2
    assert "503" in fetch.error and fetch.original_topic == inbound and fetch.offset == 1
    assert by_stage["gmail_parse"].idempotency_key == broken
    # Bounded: two attempts of three tries each, then never again.
    assert len(gmail.received("GET", rf"/messages/{stuck}$")) == 6
