"""POST /webhooks/gmail over real HTTP: Pub/Sub push deliveries are authenticated with
google-auth against locally served Google signing keys (or a shared token), and accepted ones
become a MailboxNotification on fte.channels.email.inbound keyed by the mailbox."""

from __future__ import annotations

import logging

import httpx
import pytest
from aiokafka.errors import KafkaTimeoutError
from fastapi import FastAPI

from services.channels.gmail.ingest import MailboxNotification
from services.edge.webhooks import create_webhook_router
from tests.channels.conftest import AUDIENCE, SUPPORT, RecordingProducer, channel_settings, publishing_to, serve
from tests.fakes.google_oidc import FakeGoogleCerts, SigningKey, push_body, push_headers

EMAIL_INBOUND = "fte.channels.email.inbound"


@pytest.fixture(scope="module")
def google():
    with FakeGoogleCerts() as fake:
        yield fake


@pytest.fixture
def producer() -> RecordingProducer:
    return RecordingProducer()


def _edge(producer, **overrides):
    app = FastAPI()
    app.include_router(create_webhook_router(channel_settings(**overrides), publishing_to(producer)))
    return serve(app)


@pytest.fixture
def edge(google, producer):
    with _edge(producer, google_certs_url=f"{google.url}/oauth2/v1/certs") as url:
        yield url


def _push(edge: str, token: str | None, body: bytes | None = None, query: str = "") -> httpx.Response:
    return httpx.post(
        f"{edge}/webhooks/gmail{query}",
        content=body if body is not None else push_body(SUPPORT, 123456789012),
        headers=push_headers(token),
        timeout=10,
    )


def test_valid_push_token_publishes_the_notification_keyed_by_mailbox(edge, google, producer):
    body = push_body(SUPPORT.upper(), 987654321987, message_id="136969346945")

    response = _push(edge, google.mint(AUDIENCE), body)

    assert response.status_code == 204
    [record] = producer.on(EMAIL_INBOUND)
    assert record.key == SUPPORT
    note = MailboxNotification.from_bytes(record.value)
    assert (note.email_address, note.history_id, note.pubsub_message_id) == (
        SUPPORT,
        987654321987,
        "136969346945",
    )
    assert note.publish_time.endswith("Z")


@pytest.mark.parametrize(
    "case",
    ["expired", "wrong audience", "wrong issuer", "signed by another key", "not a JWT", "no Authorization"],
)
def test_unauthenticated_push_is_403_and_publishes_nothing(edge, google, producer, caplog, case):
    token = {
        "expired": lambda: google.mint(AUDIENCE, issued_ago_s=7200, lifetime_s=3600),
        "wrong audience": lambda: google.mint("https://other.example/push"),
        "wrong issuer": lambda: google.mint(AUDIENCE, issuer="https://evil.example"),
        # Same key id as Google's, different private key: the signature cannot verify.
        "signed by another key": lambda: google.mint(AUDIENCE, key=SigningKey.generate(), kid=google.key.kid),
        "not a JWT": lambda: "definitely-not-a-jwt",
        "no Authorization": lambda: None,
    }[case]()
    caplog.set_level(logging.WARNING, logger="services.edge.webhooks")

    response = _push(edge, token)

    assert response.status_code == 403
    assert producer.records == []
    assert any(getattr(r, "security_event", "") == "gmail_auth_failed" for r in caplog.records)


def test_only_the_configured_push_service_account_is_accepted(google, producer):
    with _edge(
        producer,
        google_certs_url=f"{google.url}/oauth2/v1/certs",
        pubsub_service_account_email="gmail-push@flowboard-support.iam.gserviceaccount.com",
    ) as url:
        ok = _push(url, google.mint(AUDIENCE))
        other = _push(url, google.mint(AUDIENCE, email="someone@other-project.iam.gserviceaccount.com"))

    assert (ok.status_code, other.status_code) == (204, 403)
    assert len(producer.records) == 1


def test_jwks_certs_document_works_too(google, producer):
    with _edge(producer, google_certs_url=f"{google.url}/oauth2/v3/certs") as url:
        assert _push(url, google.mint(AUDIENCE)).status_code == 204
        assert (
            _push(url, google.mint(AUDIENCE, key=SigningKey.generate(), kid=google.key.kid)).status_code
            == 403
        )


def test_signing_keys_are_cached_and_refetched_when_google_rotates_them(producer):
    with (
        FakeGoogleCerts() as google,
        _edge(producer, google_certs_url=f"{google.url}/oauth2/v1/certs") as url,
    ):
        for _ in range(3):
            assert _push(url, google.mint(AUDIENCE)).status_code == 204
        assert len(google.received("GET")) == 1  # max-age honoured

        google.rotate()
        assert _push(url, google.mint(AUDIENCE)).status_code == 204
        assert len(google.received("GET")) == 2


def test_signing_keys_unreachable_answers_503_so_pubsub_retries(google, producer):
    with _edge(producer, google_certs_url=f"{google.url}/no-such-certs") as url:
        response = _push(url, google.mint(AUDIENCE))

    assert response.status_code == 503
    assert producer.records == []


def test_shared_verification_token_mode(producer):
    with _edge(producer, pubsub_audience="", pubsub_verification_token="s3cr3t-push-token") as url:
        ok = _push(url, None, query="?token=s3cr3t-push-token")
        wrong = _push(url, None, query="?token=guess")
        none = _push(url, None)

    assert (ok.status_code, wrong.status_code, none.status_code) == (204, 403, 403)
    assert len(producer.on(EMAIL_INBOUND)) == 1


def test_malformed_push_body_is_400(edge, google, producer):
    response = _push(edge, google.mint(AUDIENCE), body=b'{"message": {"data": "bm90IGpzb24="}}')

    assert response.status_code == 400
    assert "emailAddress" in response.json()["detail"]
    assert producer.records == []


def test_notification_for_another_mailbox_is_acknowledged_and_dropped(edge, google, producer):
    response = _push(edge, google.mint(AUDIENCE), body=push_body("someone-else@flowboard.example", 5))

    assert response.status_code == 204
    assert producer.records == []


def test_kafka_unavailable_answers_503(edge, google, producer):
    producer.error = KafkaTimeoutError()

    assert _push(edge, google.mint(AUDIENCE)).status_code == 503


def test_disabled_email_channel_answers_404(google, producer):
    with _edge(producer, gmail_enabled=False) as url:
        response = _push(url, google.mint(AUDIENCE))

    assert response.status_code == 404
    assert producer.records == []
