"""WhatsAppSender through the twilio library against a local Twilio: what Twilio received
(From, To, Body, StatusCallback), splitting, retries, the breaker and the 24-hour window."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from fte.events.v1 import events_pb2

from services.channels.resilience import ChannelUnavailable, SendFailed
from services.channels.whatsapp import OutsideServiceWindow, WhatsAppSender, split_message
from services.common.retry import is_transient
from tests.channels.conftest import ACCOUNT_SID, PUBLIC_BASE, WHATSAPP_FROM, channel_settings
from tests.fakes.twilio import SERVICE_UNAVAILABLE, TOO_MANY_REQUESTS, twilio_error

MESSAGES = r"/Messages\.json$"


@pytest.fixture
async def sender(twilio, registry):
    s = WhatsAppSender(channel_settings(twilio_api_base_url=twilio.url), registry=registry)
    yield s
    await s.aclose()


def reply(
    *parts: str, reply_id: str = "r-1", phone: str = "whatsapp:+351912345678"
) -> events_pb2.OutboundMessage:
    return events_pb2.OutboundMessage(
        reply_id=reply_id, ticket_id="t-1", recipient=events_pb2.Recipient(phone=phone), parts=list(parts)
    )


# --------------------------------------------------------------------------- splitting

LONG = (
    "Thanks for reaching out about your board. "
    "Archived boards can be restored at any time from the board menu. "
    "Deleted boards go to the Trash and are kept for 30 days before they are purged for good. "
    "To restore one, open Settings, then Trash, and choose Restore next to the board. "
    "Only workspace admins and owners can restore items from the Trash. "
    "If you cannot see the board there, tell me its name and I will look further!"
)


def test_split_keeps_sentences_whole_in_order_and_under_the_limit():
    chunks = split_message(LONG, 300)

    assert len(chunks) == 2
    assert all(len(c) <= 300 for c in chunks)
    assert " ".join(chunks) == LONG
    assert all(c.endswith((".", "!")) for c in chunks)


def test_split_breaks_an_overlong_sentence_at_words_and_an_overlong_word_anywhere():
    sentence = " ".join(["word"] * 100)  # 499 characters, no sentence end
    url = "https://example.org/" + "x" * 400

    chunks = split_message(f"{sentence}. Link: {url}", 300)

    assert all(len(c) <= 300 for c in chunks)
    assert "".join(chunks).replace(" ", "") == f"{sentence}. Link: {url}".replace(" ", "")


def test_split_keeps_line_breaks_inside_a_message():
    assert split_message("Steps:\n1. Open Settings.\n2. Choose Trash.", 300) == [
        "Steps:\n1. Open Settings.\n2. Choose Trash."
    ]


# --------------------------------------------------------------------------- sending


async def test_reply_is_sent_from_the_configured_sender_with_a_status_callback(sender, twilio):
    sid = await sender.send(
        reply("Your board is in the Trash; restore it from Settings.", reply_id="reply-42")
    )

    [message] = twilio.messages
    assert message["From"] == WHATSAPP_FROM
    assert message["To"] == "whatsapp:+351912345678"
    assert message["Body"] == "Your board is in the Trash; restore it from Settings."
    assert message["Sid"] == sid
    callback = urlsplit(message["StatusCallback"])
    assert (
        f"{callback.scheme}://{callback.netloc}{callback.path}" == f"{PUBLIC_BASE}/webhooks/whatsapp/status"
    )
    assert parse_qs(callback.query) == {
        "reply_id": ["reply-42"], "ticket_id": ["t-1"], "part": ["1"], "parts": ["1"]
    }
    [request] = twilio.received("POST", MESSAGES)
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"


async def test_long_reply_goes_as_several_messages_in_order(sender, twilio):
    sid = await sender.send(reply(LONG, "And one more thing."))

    bodies = [m["Body"] for m in twilio.messages]
    assert len(bodies) == 3
    assert all(len(b) <= 300 for b in bodies)
    assert " ".join(bodies[:2]) == LONG and bodies[2] == "And one more thing."
    assert [parse_qs(urlsplit(m["StatusCallback"]).query)["part"][0] for m in twilio.messages] == [
        "1",
        "2",
        "3",
    ]
    assert sid == twilio.messages[-1]["Sid"]


async def test_twilio_503_is_retried_then_the_message_goes_once(sender, twilio, registry):
    twilio.fail("POST", MESSAGES, SERVICE_UNAVAILABLE, times=2)

    await sender.send(reply("Hello!"))

    assert len(twilio.received("POST", MESSAGES)) == 3
    assert [m["Body"] for m in twilio.messages] == ["Hello!"]
    assert registry.health() == {"whatsapp": "ok"}


async def test_throttling_429_is_retried(sender, twilio):
    twilio.fail("POST", MESSAGES, TOO_MANY_REQUESTS, times=1)

    await sender.send(reply("Hello!"))

    assert len(twilio.messages) == 1


async def test_timeout_is_retried(twilio, registry):
    sender = WhatsAppSender(
        channel_settings(twilio_api_base_url=twilio.url, twilio_timeout_s=0.3), registry=registry
    )
    twilio.stall("POST", MESSAGES, seconds=1.0, times=1)
    try:
        await sender.send(reply("Hello!"))
    finally:
        await sender.aclose()

    assert len(twilio.received("POST", MESSAGES)) == 2


async def test_exhausted_retries_raise_a_transient_error_so_the_reply_waits_in_kafka(sender, twilio):
    twilio.fail("POST", MESSAGES, SERVICE_UNAVAILABLE, times=3)

    with pytest.raises(ChannelUnavailable) as err:
        await sender.send(reply("Hello!"))

    assert is_transient(err.value)  # the dispatcher's own test: retry later, never commit
    assert len(twilio.received("POST", MESSAGES)) == 3
    assert twilio.messages == []


async def test_breaker_opens_after_repeated_503_and_reports_degraded(twilio, registry):
    sender = WhatsAppSender(
        channel_settings(twilio_api_base_url=twilio.url, breaker_failure_threshold=2, breaker_reset_s=60),
        registry=registry,
    )
    twilio.fail("POST", MESSAGES, SERVICE_UNAVAILABLE, times=100)
    try:
        for _ in range(2):
            with pytest.raises(ChannelUnavailable):
                await sender.send(reply("Hello!"))
        calls = len(twilio.requests)
        with pytest.raises(ChannelUnavailable, match="circuit open"):
            await sender.send(reply("Hello!"))
    finally:
        await sender.aclose()

    assert len(twilio.requests) == calls == 6  # open: no call reaches Twilio
    assert registry.health() == {"whatsapp": "degraded"}


async def test_a_retry_after_a_failed_part_does_not_resend_earlier_parts(sender, twilio):
    message = reply("First part.", "Second part.", reply_id="reply-partial")
    twilio.fail("POST", MESSAGES, SERVICE_UNAVAILABLE, times=3, after=1)  # part 2 fails for good

    with pytest.raises(ChannelUnavailable):
        await sender.send(message)
    await sender.send(message)  # the dispatcher's retry

    assert [m["Body"] for m in twilio.messages] == ["First part.", "Second part."]


async def test_invalid_number_is_a_permanent_failure_without_retries(sender, twilio, registry):
    with pytest.raises(SendFailed) as err:
        await sender.send(reply("Hello!", phone="whatsapp:+1555"))

    assert not is_transient(err.value)
    assert twilio.requests == []  # refused before calling Twilio
    assert registry.health() == {"whatsapp": "ok"}


async def test_twilio_refusal_is_permanent_and_keeps_the_circuit_closed(sender, twilio, registry):
    twilio.fail("POST", MESSAGES, twilio_error(400, 21211, "Invalid 'To' Phone Number"), times=1)

    with pytest.raises(SendFailed, match="21211"):
        await sender.send(reply("Hello!"))

    assert len(twilio.received("POST", MESSAGES)) == 1
    assert registry.health() == {"whatsapp": "ok"}


# --------------------------------------------------------------------------- 24-hour window

NOW = datetime(2025, 3, 3, 12, 0, tzinfo=timezone.utc)


def _sender_with_last_inbound(twilio, registry, last: datetime | None) -> WhatsAppSender:
    return WhatsAppSender(
        channel_settings(twilio_api_base_url=twilio.url),
        registry=registry,
        last_inbound_time=lambda message: last,
        clock=lambda: NOW,
    )


async def test_reply_outside_the_24_hour_window_is_refused_and_nothing_is_sent(twilio, registry):
    sender = _sender_with_last_inbound(twilio, registry, NOW - timedelta(hours=25))

    with pytest.raises(OutsideServiceWindow) as err:
        await sender.send(reply("Hello again!"))

    assert err.value.escalate
    assert re.search(r"24-hour .*window.*25\.0 h ago", err.value.reason)
    assert twilio.requests == []


async def test_reply_inside_the_window_is_sent(twilio, registry):
    sender = _sender_with_last_inbound(twilio, registry, NOW - timedelta(hours=23, minutes=59))
    try:
        await sender.send(reply("Hello again!"))
    finally:
        await sender.aclose()

    assert len(twilio.messages) == 1


async def test_window_reads_the_outbound_contract_field_when_it_exists(twilio, registry):
    message = reply("Hello again!")
    message.customer_last_inbound_time.FromDatetime(datetime.now(timezone.utc) - timedelta(hours=30))
    sender = WhatsAppSender(channel_settings(twilio_api_base_url=twilio.url), registry=registry)

    with pytest.raises(OutsideServiceWindow):
        await sender.send(message)

    assert twilio.requests == []
