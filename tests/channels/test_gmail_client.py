"""GmailApi (google-api-python-client over httplib2) against the local Gmail: OAuth refresh,
timeouts and Google's 429/5xx retried a bounded number of times, refusals permanent, and the
email channel's circuit breaker opening and closing."""

from __future__ import annotations

import asyncio

import pytest

from services.channels.gmail.client import GmailApi
from services.channels.gmail.sender import GmailSender
from services.channels.resilience import ChannelUnavailable, SendFailed
from services.common.retry import is_transient
from tests.channels import mail_samples as mail
from tests.channels.conftest import SEND, gmail_settings, outbound
from tests.fakes.gmail import BACKEND_ERROR, google_error

RATE_LIMITED = google_error(
    429, "Too many concurrent requests for user.", "rateLimitExceeded", "RESOURCE_EXHAUSTED"
)


async def test_gmail_calls_use_the_refreshed_oauth_token(gmail, gmail_api):
    gmail_id = gmail.deliver(mail.gmail_reply_alternative())
    await gmail_api.current_history_id()
    await gmail_api.get_message(gmail_id)

    [token] = gmail.received("POST", r"^/token$")
    assert token.form()["grant_type"] == "refresh_token"
    assert token.form()["refresh_token"] == gmail.refresh_token
    tokens = {r.headers["authorization"] for r in gmail.received("GET", r"^/gmail/")}
    assert len(tokens) == 1 and tokens.pop().removeprefix("Bearer ") in gmail.access_tokens


async def test_slow_gmail_beyond_the_client_timeout_is_retried(gmail, registry):
    api = GmailApi(gmail_settings(gmail, gmail_timeout_s=0.3), registry=registry)
    gmail_id = gmail.deliver(mail.gmail_reply_alternative())
    gmail.stall("GET", rf"/messages/{gmail_id}$", seconds=1.0, times=1)

    resource = await api.get_message(gmail_id)

    assert resource["id"] == gmail_id
    assert len(gmail.received("GET", rf"/messages/{gmail_id}$")) == 2
    assert registry.health() == {"email": "ok"}


async def test_gmail_that_stays_slow_is_tried_three_times_at_most(gmail, registry):
    api = GmailApi(gmail_settings(gmail, gmail_timeout_s=0.3), registry=registry)
    gmail_id = gmail.deliver(mail.gmail_reply_alternative())
    gmail.stall("GET", rf"/messages/{gmail_id}$", seconds=1.0, times=5)

    with pytest.raises(ChannelUnavailable, match="timeout|Timeout"):
        await api.get_message(gmail_id)

    assert len(gmail.received("GET", rf"/messages/{gmail_id}$")) == 3


async def test_gmail_503_is_retried_then_sent_once(gmail, sender, thread, registry):
    gmail.fail("POST", SEND, BACKEND_ERROR, times=2)

    await sender.send(outbound(thread, "Hello."))

    assert len(gmail.received("POST", SEND)) == 3
    assert len(gmail.sent) == 1
    assert registry.health() == {"email": "ok"}


async def test_gmail_429_is_retried_then_sent_once(gmail, sender, thread, registry):
    gmail.fail("POST", SEND, RATE_LIMITED, times=1)

    await sender.send(outbound(thread, "Hello."))

    assert len(gmail.received("POST", SEND)) == 2
    assert len(gmail.sent) == 1
    assert registry.health() == {"email": "ok"}


async def test_gmail_429_that_persists_is_tried_three_times_at_most(gmail, sender, thread):
    gmail.fail("POST", SEND, RATE_LIMITED, times=10)

    with pytest.raises(ChannelUnavailable, match="429") as err:
        await sender.send(outbound(thread, "Hello."))

    assert is_transient(err.value)  # the reply waits in Kafka
    assert len(gmail.received("POST", SEND)) == 3
    assert gmail.sent == []


async def test_gmail_refusal_is_a_permanent_failure(gmail, sender, thread):
    gmail.fail("POST", SEND, google_error(400, "Invalid To header", "invalidArgument", "INVALID_ARGUMENT"))

    with pytest.raises(SendFailed, match="Invalid To header") as err:
        await sender.send(outbound(thread, "Hello."))

    assert not is_transient(err.value)
    assert len(gmail.received("POST", SEND)) == 1


async def test_breaker_opens_after_repeated_503_and_email_reports_degraded(gmail, thread, registry):
    settings = gmail_settings(gmail, breaker_failure_threshold=2, breaker_reset_s=0.3)
    heard: list[tuple[str, str]] = []
    registry.add_listener(lambda channel, state: heard.append((channel, state.value)))
    sender = GmailSender(settings, GmailApi(settings, registry=registry))
    gmail.fail("POST", SEND, BACKEND_ERROR, times=6)

    for _ in range(2):
        with pytest.raises(ChannelUnavailable):
            await sender.send(outbound(thread, "Hello."))
    with pytest.raises(ChannelUnavailable, match="circuit open") as err:
        await sender.send(outbound(thread, "Hello."))

    assert is_transient(err.value)  # the reply stays in Kafka
    assert len(gmail.received("POST", SEND)) == 6
    assert registry.health() == {"email": "degraded"}

    # After the reset period one trial goes through; Gmail is back, the circuit closes.
    await asyncio.sleep(0.35)
    await sender.send(outbound(thread, "Hello."))
    assert len(gmail.sent) == 1
    assert registry.health() == {"email": "ok"}
    assert heard == [("email", "open"), ("email", "half_open"), ("email", "closed")]
