"""Delivers a one-time link code to the claimed address over that address's own channel: an
`fte.events.v1.OutboundMessage` on `fte.channels.email.outbound` (the Gmail sender) or
`fte.channels.whatsapp.outbound` (Twilio), which the outbound dispatcher sends.

The code leaves identity only here, in that one record. The record names no ticket, so the
dispatcher sends it without storing its text in ConversationService (it records only replies
that belong to a ticket); the Kafka span carries topic, partition and offset, never the payload.
The producer starts on the first code, so an identity that never links needs no broker."""

from __future__ import annotations

import asyncio
import logging
import uuid

from aiokafka.errors import KafkaError
from fte.common.v1 import channel_pb2
from fte.events.v1 import events_pb2

from services.common import topics
from services.common.errors import Unavailable
from services.common.kafka import LazyProducer, publish
from services.identity.resolver import EMAIL, Identifier


class _NoPayloads(logging.Filter):
    """aiokafka's producer logs every record's value at DEBUG ("Sending (key=... value=...)"):
    with LOG_LEVEL=DEBUG that line would hold the code. Dropped, whatever the level."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Sending (key=")


logging.getLogger("aiokafka.producer.producer").addFilter(_NoPayloads())


class CodeDelivery:
    def __init__(self, bootstrap_servers: str) -> None:
        self._producer = LazyProducer(bootstrap_servers, "identity-link-codes")

    async def close(self) -> None:
        await self._producer.close()

    async def send(self, link_id: uuid.UUID, customer_id: uuid.UUID, to: Identifier,
                   subject: str, text: str) -> int:
        """Publishes the code message; returns the channel it went on. UNAVAILABLE when Kafka
        does not take it (the caller cancels the link: a code nobody received must not wait)."""
        channel = channel_pb2.CHANNEL_EMAIL if to.kind == EMAIL else channel_pb2.CHANNEL_WHATSAPP
        message = events_pb2.OutboundMessage(
            # The link id: a redelivered record is sent once (the senders are idempotent on it).
            reply_id=str(link_id),
            customer_id=str(customer_id),
            channel=channel,
            recipient=events_pb2.Recipient(
                email=to.value if to.kind == EMAIL else "",
                phone=to.value if to.kind != EMAIL else "",
            ),
            parts=[text],
            subject=subject if to.kind == EMAIL else "",
        )
        message.create_time.GetCurrentTime()
        try:
            producer = await self._producer.get()
            await publish(producer, topics.outbound_topic(channel), str(customer_id), message)
        except (KafkaError, OSError, asyncio.TimeoutError) as exc:
            raise Unavailable(
                f"the code could not be handed to the {to.kind} channel ({type(exc).__name__}); retry"
            ) from None
        return channel
