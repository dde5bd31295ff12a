"""Hands people's replies (HandoffService.ReplyToCustomer) to the outbound dispatcher: the same
`fte.events.v1.OutboundMessage` on the same `fte.channels.<ch>.outbound` topic, keyed by
customer, as the inbound worker publishes for the agent's replies, so they get the same
sending, idempotency (on the reply id), dead letters and delivery-status updates.
The producer starts on the first reply, so a conversation process nobody replies through needs
no broker."""

from __future__ import annotations

import asyncio

from aiokafka.errors import KafkaError
from fte.events.v1 import events_pb2

from services.common import topics
from services.common.errors import Unavailable
from services.common.kafka import LazyProducer, publish


class ReplyPublisher:
    def __init__(self, bootstrap_servers: str) -> None:
        self._producer = LazyProducer(bootstrap_servers, "conversation-handoff-replies")

    async def close(self) -> None:
        await self._producer.close()

    async def send(self, message: events_pb2.OutboundMessage) -> None:
        """UNAVAILABLE when Kafka does not take it: the reply is stored, and the caller's retry
        with the same idempotency key publishes it again (the dispatcher sends it once)."""
        try:
            producer = await self._producer.get()
            await publish(producer, topics.outbound_topic(message.channel), message.customer_id,
                          message)
        except (KafkaError, OSError, asyncio.TimeoutError) as exc:
            raise Unavailable(
                f"the reply is stored but could not be handed to the channel ({type(exc).__name__});"
                " retry with the same idempotency_key"
            ) from None
