"""Kafka topic names, in one place."""

from fte.common.v1 import channel_pb2

INCOMING = "fte.tickets.incoming"
ESCALATIONS = "fte.escalations"
METRICS = "fte.metrics"
DLQ = "fte.dlq"

_CHANNEL_SLUG = {
    channel_pb2.CHANNEL_EMAIL: "email",
    channel_pb2.CHANNEL_WHATSAPP: "whatsapp",
    channel_pb2.CHANNEL_WEB_FORM: "web",
}


def channel_slug(channel: int) -> str:
    """email | whatsapp | web — the part of a channel topic name."""
    try:
        return _CHANNEL_SLUG[channel]
    except KeyError:
        raise ValueError(f"no topic for channel {channel}") from None


def outbound_topic(channel: int) -> str:
    return f"fte.channels.{channel_slug(channel)}.outbound"


def inbound_topic(channel: int) -> str:
    return f"fte.channels.{channel_slug(channel)}.inbound"
