"""Delivery reports: the StatusCallback URL the sender gave Twilio comes back signed (query
string included) and turns into UpdateDeliveryStatus requests keyed by our reply id."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.events.v1 import events_pb2

from services.channels.whatsapp import DeliveryStatusUpdate, WhatsAppSender
from services.edge.webhooks import create_webhook_router
from tests.channels.conftest import ACCOUNT_SID, AUTH_TOKEN, RecordingProducer, channel_settings, publishing_to, serve
from tests.fakes.twilio import FakeTwilio, post_webhook, sign, status_params


class Sink:
    def __init__(self) -> None:
        self.updates: list[DeliveryStatusUpdate] = []
        self.error: Exception | None = None

    async def __call__(self, update: DeliveryStatusUpdate) -> None:
        if self.error:
            raise self.error
        self.updates.append(update)


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def edge(sink):
    app = FastAPI()
    app.include_router(
        create_webhook_router(channel_settings(), publishing_to(RecordingProducer()), on_delivery_status=sink)
    )
    with serve(app) as url:
        yield url


@pytest.fixture
async def sent(registry):
    """Messages really sent through the sender: a 2-part reply, as Twilio recorded them."""
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as twilio:
        sender = WhatsAppSender(
            channel_settings(twilio_api_base_url=twilio.url, whatsapp_max_chars=20), registry=registry
        )
        message = events_pb2.OutboundMessage(
            reply_id="reply-7",
            ticket_id="t-1",
            recipient=events_pb2.Recipient(phone="whatsapp:+351912345678"),
            parts=["First sentence here. Second one here."],
        )
        await sender.send(message)
        await sender.aclose()
        yield twilio.messages


def _report(edge: str, message: dict[str, str], status: str, error_code: str = ""):
    # Twilio posts to the exact StatusCallback URL it was given, signing it with the query.
    return post_webhook(
        edge, message["StatusCallback"], status_params(ACCOUNT_SID, message, status, error_code), AUTH_TOKEN
    )


def test_delivered_report_of_the_last_part_updates_the_reply(edge, sink, sent):
    first, last = sent

    assert _report(edge, first, "delivered").status_code == 204
    assert _report(edge, last, "sent").status_code == 204
    assert _report(edge, last, "delivered").status_code == 204

    assert [(u.reply_id, u.delivery_status, u.external_id) for u in sink.updates] == [
        ("reply-7", conv_pb.DELIVERY_STATUS_SENT, last["Sid"]),
        ("reply-7", conv_pb.DELIVERY_STATUS_DELIVERED, last["Sid"]),
    ]
    assert sink.updates[-1].to_request() == conv_pb.UpdateDeliveryStatusRequest(
        reply_id="reply-7", delivery_status=conv_pb.DELIVERY_STATUS_DELIVERED, external_id=last["Sid"]
    )


def test_read_counts_as_delivered_and_queued_is_ignored(edge, sink, sent):
    _report(edge, sent[-1], "queued")
    _report(edge, sent[-1], "read")

    assert [u.delivery_status for u in sink.updates] == [conv_pb.DELIVERY_STATUS_DELIVERED]


def test_failure_of_any_part_fails_the_reply_with_the_reason(edge, sink, sent):
    assert _report(edge, sent[0], "undelivered", error_code="63016").status_code == 204

    [update] = sink.updates
    assert update.delivery_status == conv_pb.DELIVERY_STATUS_FAILED
    assert "63016" in update.error and "24-hour" in update.error


def test_report_signed_without_the_query_string_is_refused(edge, sink, sent):
    message = sent[-1]
    params = status_params(ACCOUNT_SID, message, "delivered")
    bare_url = message["StatusCallback"].split("?")[0]

    response = post_webhook(
        edge, message["StatusCallback"], params, AUTH_TOKEN, signature=sign(AUTH_TOKEN, bare_url, params)
    )

    assert response.status_code == 403
    assert sink.updates == []


def test_report_with_a_forged_reply_id_is_refused(edge, sink, sent):
    message = dict(sent[-1])
    params = status_params(ACCOUNT_SID, message, "failed")
    forged = message["StatusCallback"].replace("reply-7", "reply-8")

    response = post_webhook(
        edge, forged, params, AUTH_TOKEN, signature=sign(AUTH_TOKEN, message["StatusCallback"], params)
    )

    assert response.status_code == 403
    assert sink.updates == []


def test_status_store_unavailable_answers_503(edge, sink, sent):
    sink.error = ConnectionError("conversation service down")

    response = _report(edge, sent[-1], "delivered")

    assert response.status_code == 503
