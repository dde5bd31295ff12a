"""Kafka topic names, in one place."""

from services.common import channels

INCOMING = "fte.tickets.incoming"
ESCALATIONS = "fte.escalations"
# Escalations the notifier (services/handoff) could not notify: its own dead letters, apart from
# fte.dlq (customer messages and replies), so people replay them without touching the others.
ESCALATIONS_DLQ = "fte.escalations.dlq"
DLQ = "fte.dlq"


def channel_slug(channel: int) -> str:
    """email | whatsapp | web_form — the part of a channel topic name."""
    try:
        return channels.name(channel)
    except ValueError:
        raise ValueError(f"no topic for channel {channel}") from None


def outbound_topic(channel: int) -> str:
    return f"fte.channels.{channel_slug(channel)}.outbound"


def inbound_topic(channel: int) -> str:
    return f"fte.channels.{channel_slug(channel)}.inbound"
