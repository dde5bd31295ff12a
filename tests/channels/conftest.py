"""Shared pieces: channel settings pointing at the fakes, the webhook router served over real
HTTP by uvicorn, and a Kafka producer stand-in that records what the edge published (the real
Kafka path is covered by the stack tests). The in-process ConversationService (real gRPC on
the test stack's PostgreSQL) is there for the tests that run the dispatcher for real."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
import uvicorn
from fastapi import FastAPI
from fte.events.v1 import events_pb2

from services.channels.resilience import BreakerRegistry
from services.channels.settings import ChannelSettings
from services.edge.outbox import EdgePublisher
from tests.channels import mail_samples as mail

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "f" * 32
WHATSAPP_FROM = "whatsapp:+14155238886"
PUBLIC_BASE = "https://support.flowboard.example"
SUPPORT = "support@flowboard.example"
AUDIENCE = f"{PUBLIC_BASE}/webhooks/gmail"


def channel_settings(**overrides) -> ChannelSettings:
    values = dict(
        whatsapp_enabled=True,
        gmail_enabled=True,
        public_base_url=PUBLIC_BASE,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_whatsapp_from=WHATSAPP_FROM,
        gmail_support_address=SUPPORT,
        pubsub_audience=AUDIENCE,
        # Fast retries: the waits are not what these tests are about.
        channel_retry_initial_s=0.01,
        channel_retry_max_s=0.05,
        twilio_timeout_s=2.0,
        gmail_timeout_s=2.0,
    )
    values.update(overrides)
    return ChannelSettings(_env_file=None, **values)


@dataclass
class Published:
    topic: str
    key: str
    value: bytes
    headers: list


class RecordingProducer:
    """Stands in for AIOKafkaProducer.send_and_wait: records, or fails like a broker that is down."""

    def __init__(self) -> None:
        self.records: list[Published] = []
        self.error: Exception | None = None
        self._lock = threading.Lock()

    async def send_and_wait(self, topic, value=None, key=None, headers=None):
        if self.error is not None:
            raise self.error
        with self._lock:
            self.records.append(Published(topic, (key or b"").decode(), value or b"", list(headers or [])))
            return SimpleNamespace(partition=0, offset=len(self.records) - 1)

    def on(self, topic: str) -> list[Published]:
        with self._lock:
            return [r for r in self.records if r.topic == topic]


def publishing_to(producer: RecordingProducer) -> Callable[[], EdgePublisher]:
    """The webhook router's `get_publisher`: the edge's publish over `producer`, with no outbox
    (no database in these tests), so a failing producer means 503 as it did before the outbox."""
    publisher = EdgePublisher(lambda: producer, None, publish_timeout_s=5.0)
    return lambda: publisher


@contextlib.contextmanager
def serve(app: FastAPI):
    """Serves `app` on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def registry() -> BreakerRegistry:
    """Breakers of one test only, so one test's open circuit never leaks into the next."""
    return BreakerRegistry()


@pytest.fixture
def twilio():
    from tests.fakes.twilio import FakeTwilio

    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as fake:
        yield fake


@pytest.fixture
def dispatcher(stack, conversation_address, conversation, gmail, twilio, registry, service_keys):
    """The real dispatcher on Kafka and the real ConversationService, sending to the fake Gmail
    and Twilio: `async with dispatcher() as run`, or `dispatcher(channels, **settings)`."""
    from tests.channels.dispatcher_run import running_dispatcher

    def start(channels: ChannelSettings | None = None, **settings):
        channels = channels or gmail_settings(gmail, twilio_api_base_url=twilio.url)
        return running_dispatcher(
            stack.bootstrap_servers, conversation_address, conversation, channels, registry,
            **{"service_key": service_keys["dispatcher"], **settings},
        )

    return start


# --------------------------------------------------------------------------- Gmail


def gmail_settings(fake, **overrides) -> ChannelSettings:
    """Settings for the real client against the fake: API root, OAuth token endpoint and the
    refresh-token credentials the fake accepts."""
    return channel_settings(
        gmail_api_base_url=f"{fake.url}/",
        google_token_uri=f"{fake.url}/token",
        gmail_oauth_client_id=fake.client_id,
        gmail_oauth_client_secret=fake.client_secret,
        gmail_oauth_refresh_token=fake.refresh_token,
        **overrides,
    )


@pytest.fixture
def gmail():
    from tests.fakes.gmail import FakeGmail

    with FakeGmail(SUPPORT) as fake:
        yield fake


@pytest.fixture
def gmail_api(gmail, registry):
    from services.channels.gmail.client import GmailApi

    return GmailApi(gmail_settings(gmail), registry=registry)


SEND = r"/messages/send$"


@pytest.fixture
def sender(gmail, gmail_api):
    from services.channels.gmail.sender import GmailSender

    return GmailSender(gmail_settings(gmail), gmail_api)


@pytest.fixture
def thread(gmail) -> events_pb2.ThreadRef:
    """A customer's mail in the mailbox, as the ingest described it."""
    gmail.deliver(mail.gmail_reply_alternative(), thread_id="18c0thread01")
    return events_pb2.ThreadRef(
        thread_id="18c0thread01",
        message_id="<CAF=abc123@mail.gmail.com>",
        references=["<first@flowboard.example>", "<second@flowboard.example>"],
        external_id="18c0ffee0000",
    )


def outbound(
    thread, *parts: str, subject: str = "Re: Re: Board disappeared", html: str = ""
) -> events_pb2.OutboundMessage:
    return events_pb2.OutboundMessage(
        reply_id="reply-9",
        ticket_id="t-1",
        recipient=events_pb2.Recipient(email=mail.CUSTOMER, display_name="Ana Silva"),
        parts=list(parts),
        html=html,
        subject=subject,
        thread=thread,
    )
