"""Gmail ingest: Pub/Sub push → fte.channels.email.inbound → history → messages →
fte.tickets.incoming.

The edge parses the push (`parse_push`) and publishes a MailboxChanged keyed by mailbox; the
ingest consumer (in the dispatcher process) reads the mailbox history from the last processed
historyId, fetches each new mail, and publishes one InboundMessage per customer email.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from fte.common.v1 import channel_pb2, sender_assurance_pb2
from fte.events.v1 import events_pb2
from googleapiclient.errors import HttpError

from services.channels.gmail.client import GmailApi, HistoryExpired
from services.channels.gmail.parsing import SKIP_LABELS, ParsedEmail, parse_gmail_message, skip_reason
from services.channels.resilience import BREAKERS, BreakerRegistry, ChannelUnavailable
from services.channels.settings import ChannelSettings
from services.common import topics
from services.common.consumer import consume
from services.common.dead_letters import DeadLetters, describe_error
from services.common.kafka import new_producer, processing, publish
from services.common.retry import RetryPolicy, Stopped

log = logging.getLogger(__name__)

PUSH_PATH = "/webhooks/gmail"

# --------------------------------------------------------------------------- push notification


@dataclass(frozen=True)
class MailboxNotification:
    """A Gmail push notification: the mailbox changed up to `history_id`.

    Published to fte.channels.email.inbound as fte.events.v1.MailboxChanged."""

    email_address: str
    history_id: int
    pubsub_message_id: str = ""
    publish_time: str = ""

    def to_proto(self) -> events_pb2.MailboxChanged:
        message = events_pb2.MailboxChanged(
            email_address=self.email_address,
            history_id=self.history_id,
            pubsub_message_id=self.pubsub_message_id,
        )
        if self.publish_time:
            message.publish_time.FromJsonString(self.publish_time)
        return message

    @classmethod
    def from_bytes(cls, data: bytes) -> MailboxNotification:
        m = events_pb2.MailboxChanged.FromString(data)
        return cls(
            email_address=m.email_address,
            history_id=m.history_id,
            pubsub_message_id=m.pubsub_message_id,
            publish_time=m.publish_time.ToJsonString() if m.HasField("publish_time") else "",
        )


def parse_push(body: bytes) -> MailboxNotification:
    """A Pub/Sub push body → the notification; ValueError naming what is wrong."""
    try:
        envelope = json.loads(body)
        message = envelope["message"]
        data = json.loads(base64.b64decode(message["data"], validate=True))
        address = str(data["emailAddress"]).strip().lower()
        history_id = int(data["historyId"])
    except (ValueError, KeyError, TypeError, OverflowError, binascii.Error) as exc:
        raise ValueError(
            "expected a Pub/Sub push: message.data = base64 JSON with emailAddress and historyId"
        ) from exc
    if not address or history_id <= 0:
        raise ValueError("emailAddress and a positive historyId are required")
    if history_id >= 2**64:
        raise ValueError("historyId: larger than Gmail's 64-bit history ids")
    notification = MailboxNotification(
        email_address=address,
        history_id=history_id,
        pubsub_message_id=str(message.get("messageId") or message.get("message_id") or ""),
        publish_time=str(message.get("publishTime") or message.get("publish_time") or ""),
    )
    try:
        notification.to_proto()
    except ValueError as exc:
        raise ValueError(f"message.publishTime: not an RFC 3339 time ({exc})") from exc
    return notification


# --------------------------------------------------------------------------- ingest

Emit = Callable[[str, events_pb2.InboundMessage], Awaitable[None]]
# (the notification record being handled or None, Gmail message id, stage, error, attempts)
DeadLetter = Callable[[ConsumerRecord | None, str, str, str, int], Awaitable[None]]


class GmailIngest:
    """Turns one mailbox notification into InboundMessages, one per new customer email.

    `handle` reads history from the last processed historyId (the caller stores it durably)
    and returns the historyId to store next. Mail is emitted oldest first with the Gmail id as
    idempotency key, so handling the same change twice emits the same keys (deduplicated
    downstream), and handling nothing new emits nothing.

    With `dead_letter`, one mail cannot hold up the mailbox: a mail Gmail refuses to serve or
    that cannot be parsed is dead-lettered at once, and one whose fetch keeps failing
    transiently is dead-lettered after `gmail_message_max_attempts` attempts that reached Gmail
    (refusals by the open circuit do not count: that is an outage, and everything waits).
    Without it, such errors propagate and the notification is retried."""

    def __init__(
        self,
        settings: ChannelSettings,
        api: GmailApi,
        emit: Emit,
        remember: int = 10_000,
        dead_letter: DeadLetter | None = None,
    ) -> None:
        self.settings = settings
        self.api = api
        self.emit = emit
        self.dead_letter = dead_letter
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._failures: OrderedDict[str, int] = OrderedDict()
        self._remember = remember

    async def handle(
        self,
        notification: MailboxNotification,
        last_history_id: int | None,
        source: ConsumerRecord | None = None,
    ) -> int | None:
        if notification.email_address != self.settings.gmail_support_address:
            log.warning("gmail notification for a mailbox we do not serve: ignored")
            return last_history_id
        if last_history_id is None:
            return await self._resync("no stored historyId", source)
        try:
            added, latest = await self.api.added_since(last_history_id)
        except HistoryExpired:
            return await self._resync(f"historyId {last_history_id} expired", source)
        for message in added:
            await self._ingest(message.id, message.labels, source)
        return max(latest, last_history_id)

    async def _resync(self, why: str, source: ConsumerRecord | None) -> int:
        # Take the position first: whatever arrives while we list is caught by the next round.
        latest = await self.api.current_history_id()
        ids = await self.api.recent_message_ids(
            self.settings.gmail_resync_query, self.settings.gmail_resync_max_messages
        )
        log.warning("gmail resync (%s): re-reading %d recent message(s)", why, len(ids))
        for message_id in reversed(ids):
            await self._ingest(message_id, (), source)
        return latest

    async def _ingest(self, message_id: str, labels: tuple[str, ...], source: ConsumerRecord | None) -> None:
        if not message_id or message_id in self._seen or SKIP_LABELS.intersection(labels):
            return
        try:
            resource = await self.api.get_message(message_id)
            email = parse_gmail_message(resource) if resource is not None else None
            reason = skip_reason(email, self.settings.own_addresses) if email is not None else ""
        except ChannelUnavailable as exc:
            if self.dead_letter is None or not exc.attempted:
                raise
            failures = self._failures.get(message_id, 0) + 1
            self._failures[message_id] = failures
            while len(self._failures) > self._remember:
                self._failures.popitem(last=False)
            if failures < self.settings.gmail_message_max_attempts:
                raise
            await self.dead_letter(source, message_id, "gmail_fetch", describe_error(exc), failures)
        except Exception as exc:
            # Gmail refusing this message (a 4xx other than 404), or a message we cannot
            # parse: the same every time, so retrying would only hold up the mail behind it.
            if self.dead_letter is None:
                raise
            stage = "gmail_fetch" if isinstance(exc, HttpError) else "gmail_parse"
            await self.dead_letter(source, message_id, stage, describe_error(exc), 1)
        else:
            if email is not None:
                if reason:
                    log.info("gmail message %s skipped: %s", message_id, reason)
                else:
                    await self.emit(
                        email.from_address, inbound_message(email, self.settings.gmail_support_address)
                    )
        self._failures.pop(message_id, None)
        self._seen[message_id] = None
        while len(self._seen) > self._remember:
            self._seen.popitem(last=False)


def inbound_message(email: ParsedEmail, mailbox: str) -> events_pb2.InboundMessage:
    text = email.text or (
        f"[the customer sent {email.attachments} attachment(s) with no text]"
        if email.attachments
        else "[no text]"
    )
    event = events_pb2.InboundMessage(
        idempotency_key=email.gmail_id,
        channel=channel_pb2.CHANNEL_EMAIL,
        sender=events_pb2.Sender(
            email=email.from_address,
            display_name=email.from_name,
            # Gmail's delivery proves the From address only when DMARC passed for its domain.
            assurance=sender_assurance_pb2.SENDER_ASSURANCE_VERIFIED
            if email.dmarc == "pass"
            else sender_assurance_pb2.SENDER_ASSURANCE_CLAIMED,
            dmarc=email.dmarc,
        ),
        content=text,
        subject=email.subject,
        thread=events_pb2.ThreadRef(
            thread_id=email.thread_id,
            message_id=email.message_id,
            references=email.references,
            external_id=email.gmail_id,
        ),
        attributes={"mailbox": mailbox, "attachments": str(email.attachments)},
    )
    if email.received:
        event.receive_time.FromDatetime(email.received)
    return event


# --------------------------------------------------------------------------- ingest consumer


class HistoryCheckpoints:
    """The last processed historyId per mailbox, kept as the metadata of the ingest group's
    committed offsets (JSON, per partition).

    The checkpoint and the offset go to Kafka in one commit, so they can never disagree, and
    they survive restarts for as long as the group's offsets are retained (offsets.retention,
    7 days by default, about as long as Gmail keeps history; beyond that a resync is needed
    anyway). Mailboxes are the record key, so each lives on exactly one partition."""

    def __init__(self, bootstrap_servers: str, group_id: str) -> None:
        self.group_id = group_id
        self._admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap_servers, client_id=f"{group_id}-checkpoints"
        )
        self._started = False
        self._by_partition: dict[TopicPartition, dict[str, int]] = {}

    async def ensure_loaded(self, tp: TopicPartition) -> None:
        """Reads the partition's committed checkpoint unless this owner already has it."""
        if tp in self._by_partition:
            return
        if not self._started:
            await self._admin.start()
            self._started = True
        committed = await self._admin.list_consumer_group_offsets(self.group_id, partitions=[tp])
        meta = committed.get(tp)
        try:
            state = json.loads(meta.metadata) if meta and meta.metadata else {}
        except ValueError:
            state = {}
        self._by_partition[tp] = {str(k): int(v) for k, v in state.items()}

    def forget(self, partitions) -> None:
        """After a revocation another consumer may move the checkpoint on: reload next time."""
        for tp in partitions:
            self._by_partition.pop(tp, None)

    def get(self, tp: TopicPartition, mailbox: str) -> int | None:
        return self._by_partition.get(tp, {}).get(mailbox)

    def set(self, tp: TopicPartition, mailbox: str, history_id: int | None) -> None:
        if history_id is not None:
            self._by_partition.setdefault(tp, {})[mailbox] = history_id

    def metadata(self, tp: TopicPartition) -> str:
        return json.dumps(self._by_partition.get(tp, {}), sort_keys=True)

    async def close(self) -> None:
        if self._started:
            await self._admin.close()


def kafka_emitter(producer: AIOKafkaProducer, topic: str = topics.INCOMING) -> Emit:
    """Publishes ingested mail to fte.tickets.incoming, keyed by the sender's address."""

    async def emit(key: str, event: events_pb2.InboundMessage) -> None:
        event.publish_time.GetCurrentTime()
        await publish(producer, topic, key, event)

    return emit


class MalformedNotification(ValueError):
    """A record on the notifications topic that is not a MailboxChanged: parked, never retried."""


def _notification(record: ConsumerRecord) -> MailboxNotification:
    try:
        note = MailboxNotification.from_bytes(record.value or b"")
    except Exception as exc:  # noqa: BLE001 - whatever the decoder says, it is not one
        raise MalformedNotification(describe_error(exc)) from exc
    if not note.email_address:
        raise MalformedNotification("no emailAddress")
    return note


def latest_per_mailbox(records: list[ConsumerRecord]) -> list[ConsumerRecord]:
    """A batch's notifications for one mailbox are handled once, at the last of them: history
    from the checkpoint covers them all. Records that are not notifications stay (to be
    dead-lettered)."""
    mailboxes = [_mailbox(record) for record in records]
    last = {mailbox: i for i, mailbox in enumerate(mailboxes) if mailbox is not None}
    return [r for i, (r, mailbox) in enumerate(zip(records, mailboxes)) if mailbox is None or last[mailbox] == i]


def _mailbox(record: ConsumerRecord) -> str | None:
    try:
        return _notification(record).email_address
    except MalformedNotification:
        return None


async def consume_notifications(
    kafka_bootstrap_servers: str,
    group_id: str,
    topic: str,
    ingest: GmailIngest,
    checkpoints: HistoryCheckpoints,
    stop: asyncio.Event,
    dead_letters: DeadLetters,
    *,
    grace_s: float,
    drain_s: float,
    retry_max_s: float = 60.0,
) -> None:
    """The ingest loop. The offset is committed with the mailbox's new checkpoint (as commit
    metadata) only after its mail is published. Gmail down: the notification is retried with
    backoff, uncommitted, until it works or we stop — notifications wait in Kafka, nothing is
    dropped. A record that is not a notification is dead-lettered."""

    async def handle(record: ConsumerRecord) -> None:
        # The push's trace goes on: the Gmail API calls and each mail's publish to
        # fte.tickets.incoming (and so the worker, the agent and the reply) nest under it.
        with processing(record, group_id):
            note = _notification(record)
            tp = TopicPartition(record.topic, record.partition)
            # Loaded here rather than on assignment: aiokafka may hand out records of a newly
            # assigned partition before an assignment callback has finished.
            await checkpoints.ensure_loaded(tp)
            checkpoint = checkpoints.get(tp, note.email_address)
            checkpoints.set(tp, note.email_address, await ingest.handle(note, checkpoint, record))

    async def dead_letter(record: ConsumerRecord, exc: BaseException, attempts: int) -> None:
        await dead_letters.park(record, stage="gmail_notification", error=str(exc), attempts=attempts)

    await consume(
        kafka_bootstrap_servers,
        group_id,
        [topic],
        handle,
        stop,
        grace_s=grace_s,
        drain_s=drain_s,
        retry=RetryPolicy(
            initial_s=1.0,
            max_s=retry_max_s,
            # Anything else may clear up (Gmail back, Kafka back): the notification waits.
            retry_on=lambda exc: not isinstance(exc, MalformedNotification),
            log_as="gmail ingest",
        ),
        dead_letter=dead_letter,
        commit_metadata=checkpoints.metadata,
        on_revoke=checkpoints.forget,
        collapse=latest_per_mailbox,
        max_records=200,
    )


async def run_gmail_ingest(
    settings: ChannelSettings,
    kafka_bootstrap_servers: str,
    stop: asyncio.Event,
    *,
    notifications_topic: str = topics.inbound_topic(channel_pb2.CHANNEL_EMAIL),
    incoming_topic: str = topics.INCOMING,
    dlq_topic: str = topics.DLQ,
    registry: BreakerRegistry = BREAKERS,
    grace_s: float = 10.0,
    drain_s: float = 20.0,
) -> None:
    """The Gmail ingest worker: fte.channels.email.inbound → Gmail API → fte.tickets.incoming.

    Run it next to the dispatcher's consumers (e.g. in `asyncio.gather`); returns after `stop`.
    `grace_s` and `drain_s` as for `services.common.consumer.PartitionedConsumer`."""
    producer = new_producer(kafka_bootstrap_servers, "gmail-ingest")
    await producer.start()
    checkpoints = HistoryCheckpoints(kafka_bootstrap_servers, settings.gmail_ingest_group)
    watcher: asyncio.Task | None = None
    try:
        api = GmailApi(settings, registry=registry)
        if settings.gmail_pubsub_topic:
            watcher = asyncio.create_task(keep_watching(api, settings, stop))
        dead_letters = DeadLetters(producer, dlq_topic)

        async def dead_letter(source, message_id, stage, error, attempts) -> None:
            await dead_letters.park(
                source, stage=stage, error=error, attempts=attempts, idempotency_key=message_id
            )

        ingest = GmailIngest(
            settings, api, kafka_emitter(producer, incoming_topic), dead_letter=dead_letter
        )
        await consume_notifications(
            kafka_bootstrap_servers,
            settings.gmail_ingest_group,
            notifications_topic,
            ingest,
            checkpoints,
            stop,
            dead_letters,
            grace_s=grace_s,
            drain_s=drain_s,
        )
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await checkpoints.close()
        await producer.stop()


async def keep_watching(api: GmailApi, settings: ChannelSettings, stop: asyncio.Event) -> None:
    """Renews the mailbox's users.watch well before its 7-day expiry; retries a failed renewal
    every few minutes (notifications keep flowing from the previous watch meanwhile)."""
    every_s = min(300.0, settings.gmail_watch_renew_s)
    renewal = RetryPolicy(initial_s=every_s, max_s=every_s, log_as="gmail watch renewal")
    with contextlib.suppress(Stopped):
        while not stop.is_set():
            answer = await renewal.call(api.watch, settings.gmail_pubsub_topic, stop=stop)
            log.info("gmail watch renewed until %s", answer.get("expiration", "?"))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=settings.gmail_watch_renew_s)
