"""Which notifier failures are tried again, which wait out an outage, which go to the DLQ at
once; and that what is logged or dead-lettered never quotes a webhook URL."""

from __future__ import annotations

import httpx

from services.handoff.notification import Delivery, MalformedEscalation
from services.handoff.notifier import (
    NotificationsFailed,
    StoreUnavailable,
    WebhookFailed,
    describe,
    is_outage,
    is_retryable,
)

SECRET_URL = "https://hooks.slack.example/services/T000/B000/very-secret-token"


def test_server_errors_and_timeouts_are_retried_client_errors_are_not() -> None:
    assert is_retryable(WebhookFailed(503)) and is_retryable(WebhookFailed(429))
    assert not is_retryable(WebhookFailed(404)) and not is_retryable(WebhookFailed(400))
    assert is_retryable(httpx.ConnectError("refused", request=httpx.Request("POST", SECRET_URL)))
    assert is_retryable(httpx.ReadTimeout("slow", request=httpx.Request("POST", SECRET_URL)))
    assert not is_retryable(MalformedEscalation("no ids"))


def test_a_partly_failed_escalation_is_retried_while_any_failure_may_pass() -> None:
    hook = Delivery("sales", "webhook", SECRET_URL)
    mail = Delivery("sales", "email", "sales@flowboard.example")
    assert is_retryable(NotificationsFailed([(hook, WebhookFailed(404)), (mail, ConnectionError())]))
    assert not is_retryable(NotificationsFailed([(hook, WebhookFailed(404))]))


def test_only_an_unreachable_dependency_is_an_outage() -> None:
    assert is_outage(StoreUnavailable("ConnectionRefusedError"))
    assert not is_outage(WebhookFailed(503))


def test_errors_are_described_without_the_url() -> None:
    error = httpx.ConnectError(f"cannot reach {SECRET_URL}", request=httpx.Request("POST", SECRET_URL))
    hook = Delivery("sales", "webhook", SECRET_URL)
    for exc in (error, WebhookFailed(500), NotificationsFailed([(hook, error)])):
        assert "secret" not in describe(exc), describe(exc)
    assert "secret" not in repr(hook)
