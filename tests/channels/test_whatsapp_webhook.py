"""POST /webhooks/whatsapp over real HTTP: Twilio's signature decides, the message is published
to fte.tickets.incoming keyed by the E.164 sender, and Twilio gets empty TwiML."""

from __future__ import annotations

import logging

import pytest
from aiokafka.errors import KafkaConnectionError
from fastapi import FastAPI
from fte.common.v1 import channel_pb2
from fte.events.v1 import events_pb2

from services.common import topics
from services.edge.webhooks import create_webhook_router
from tests.channels.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    PUBLIC_BASE,
    RecordingProducer,
    channel_settings,
    publishing_to,
    serve,
)
from tests.fakes.twilio import inbound_params, post_webhook, sign

CUSTOMER = "whatsapp:+351912345678"
PUBLIC_URL = f"{PUBLIC_BASE}/webhooks/whatsapp"


@pytest.fixture
def producer() -> RecordingProducer:
    return RecordingProducer()


@pytest.fixture
def edge(producer):
    app = FastAPI()
    app.include_router(create_webhook_router(channel_settings(), publishing_to(producer)))
    with serve(app) as url:
        yield url


def _params(sid: str = "SM" + "a" * 32, body: str = "My board disappeared, can you help?") -> dict[str, str]:
    return inbound_params(ACCOUNT_SID, sid, CUSTOMER, "whatsapp:+14155238886", body, profile="Ana Silva")


def test_signed_message_is_published_and_answered_with_empty_twiml(edge, producer):
    params = _params()
    response = post_webhook(edge, PUBLIC_URL, params, AUTH_TOKEN)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text == '<?xml version="1.0" encoding="UTF-8"?><Response />'
    [record] = producer.on(topics.INCOMING)
    assert record.key == "+351912345678"
    event = events_pb2.InboundMessage.FromString(record.value)
    assert event.idempotency_key == params["MessageSid"]
    assert event.channel == channel_pb2.CHANNEL_WHATSAPP
    assert event.sender.whatsapp == CUSTOMER
    assert event.sender.display_name == "Ana Silva"
    assert event.content == "My board disappeared, can you help?"
    assert event.thread.external_id == params["MessageSid"]
    assert event.attributes["NumMedia"] == "0"
    assert event.attributes["To"] == "whatsapp:+14155238886"
    assert event.receive_time.seconds > 0 and event.publish_time.seconds > 0


@pytest.mark.parametrize(
    "case",
    ["tampered body", "signed for another URL", "missing signature", "signed with another token"],
)
def test_unverifiable_webhook_is_403_logged_and_publishes_nothing(edge, producer, caplog, case):
    params = _params()
    kwargs: dict = {
        "tampered body": {"body_override": {**params, "Body": "Please refund everything"}},
        "signed for another URL": {
            "signature": sign(AUTH_TOKEN, "https://attacker.example/webhooks/whatsapp", params)
        },
        "missing signature": {"signature": None},
        "signed with another token": {"signature": sign("0" * 32, PUBLIC_URL, params)},
    }[case]
    caplog.set_level(logging.WARNING, logger="services.edge.webhooks")

    response = post_webhook(edge, PUBLIC_URL, params, AUTH_TOKEN, **kwargs)

    assert response.status_code == 403
    assert producer.records == []
    [event] = [r for r in caplog.records if getattr(r, "security_event", "") == "whatsapp_auth_failed"]
    assert "+351912345678" not in event.getMessage()


def test_twilio_retry_of_the_same_message_carries_the_same_idempotency_key(edge, producer):
    params = _params(sid="SM" + "b" * 32)

    first = post_webhook(edge, PUBLIC_URL, params, AUTH_TOKEN)
    second = post_webhook(edge, PUBLIC_URL, params, AUTH_TOKEN)

    assert first.status_code == second.status_code == 200
    assert first.text == second.text
    events = [events_pb2.InboundMessage.FromString(r.value) for r in producer.on(topics.INCOMING)]
    # RecordInbound is idempotent on this key: one ticket, one answer.
    assert {e.idempotency_key for e in events} == {params["MessageSid"]}
    assert {r.key for r in producer.on(topics.INCOMING)} == {"+351912345678"}


def test_media_without_caption_still_becomes_a_message(edge, producer):
    params = {
        **_params(body=""),
        "NumMedia": "1",
        "MediaContentType0": "image/jpeg",
        "MediaUrl0": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/ME1",
    }

    assert post_webhook(edge, PUBLIC_URL, params, AUTH_TOKEN).status_code == 200

    event = events_pb2.InboundMessage.FromString(producer.on(topics.INCOMING)[0].value)
    assert "1 attachment" in event.content
    assert event.attributes["MediaContentType0"] == "image/jpeg"


def test_kafka_down_answers_503_so_twilio_retries(edge, producer):
    producer.error = KafkaConnectionError()

    response = post_webhook(edge, PUBLIC_URL, _params(), AUTH_TOKEN)

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"


def test_unparseable_sender_is_400(edge, producer):
    params = {**_params(), "From": "whatsapp:not-a-number"}

    response = post_webhook(edge, PUBLIC_URL, params, AUTH_TOKEN)

    assert response.status_code == 400
    assert producer.records == []


def test_disabled_whatsapp_answers_404_even_when_signed(producer):
    app = FastAPI()
    app.include_router(create_webhook_router(channel_settings(whatsapp_enabled=False), publishing_to(producer)))
    with serve(app) as url:
        response = post_webhook(url, PUBLIC_URL, _params(), AUTH_TOKEN)
        status = post_webhook(
            url, f"{PUBLIC_BASE}/webhooks/whatsapp/status", {"MessageStatus": "sent"}, AUTH_TOKEN
        )

    assert response.status_code == 404
    assert status.status_code == 404
    assert producer.records == []


def test_public_base_url_with_a_path_prefix_is_what_gets_verified(producer):
    # Behind a proxy that maps https://example.org/support/* to this app's /*.
    settings = channel_settings(public_base_url="https://example.org/support/")
    app = FastAPI()
    app.include_router(create_webhook_router(settings, publishing_to(producer)))
    params = _params()
    with serve(app) as url:
        ok = post_webhook(
            url,
            "https://example.org/support/webhooks/whatsapp",
            params,
            AUTH_TOKEN,
            path="/webhooks/whatsapp",
        )
        # Signed for the URL the app sees rather than the one Twilio called: refused.
        wrong = post_webhook(url, f"{url}/webhooks/whatsapp", params, AUTH_TOKEN)

    assert ok.status_code == 200
    assert wrong.status_code == 403
