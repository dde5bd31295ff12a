"""The whole pipeline as real processes on the test stack, exporting their spans to a real Jaeger, both
outside channels enabled and pointed at local fakes (Twilio, Gmail + Google OAuth, Google's
OIDC signing keys) that the official client libraries talk to over real HTTP, and the company's
identity provider, which the access service trusts and the edge offers to the inbox."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from fte.access.v1 import access_service_pb2 as access_pb
from fte.access.v1 import access_service_pb2_grpc as access_grpc
from fte.conversation.v1 import conversation_service_pb2_grpc as conv_grpc
from fte.identity.v1 import identity_service_pb2_grpc as id_grpc

from devstack import REPO_ROOT
from devstack.migrate import service_dsn
from services.common.grpc_client import open_channel
from tests.e2e.jaeger import Jaeger, running_jaeger
from tests.e2e.pipeline import Pipeline, free_port, pipeline_processes
from tests.fakes.gmail import FakeGmail
from tests.fakes.google_oidc import FakeGoogleCerts
from tests.fakes.oidc_provider import FakeOidcProvider, OidcUser
from tests.fakes.twilio import FakeTwilio
from tests.fakes.webhook import FakeWebhook

# The browser test's host page (another origin, embedding the form) must pass CORS.
HOST_PAGE_PORT = free_port()

E2E_ENV = {
    "CORS_ORIGINS": json.dumps([f"http://127.0.0.1:{HOST_PAGE_PORT}"]),
    # Load tests below send from one address: the limits are tested on their own elsewhere.
    "RATE_LIMIT_PER_IP": "100000/minute",
    "RATE_LIMIT_PER_SENDER": "1000/minute",
    "HF_HUB_OFFLINE": "1",
    "LOG_LEVEL": "INFO",
    # The host page's secret for web-form identity tokens (issue 12).
    "WEBFORM_IDENTITY_SECRET": "e2e-host-page-secret",
}


TWILIO_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
TWILIO_AUTH_TOKEN = "e2e" + "f" * 29
WHATSAPP_FROM = "whatsapp:+14155238886"
SUPPORT_ADDRESS = "support@flowboard.example"
# The inbox as a client of the company's identity provider, and the person it signs in.
INBOX_OIDC_CLIENT_ID = "flowboard-inbox-e2e"
OIDC_OPERATOR = OidcUser(sub="e2e-oidc-7f3a", email="dana.ops@flowboard.example", name="Dana Ops")


@dataclass
class ChannelFakes:
    """The outside world of the channels, and the public URLs it was configured with."""

    twilio: FakeTwilio
    gmail: FakeGmail
    google: FakeGoogleCerts
    public_base_url: str  # the edge, as Twilio and Pub/Sub call it
    webhook: FakeWebhook | None = None  # the sales team's chat webhook (the notifier's)
    oidc: FakeOidcProvider | None = None  # the company's identity provider (the inbox's sign-in)

    @property
    def pubsub_audience(self) -> str:
        return f"{self.public_base_url}/webhooks/gmail"

    def env(self) -> dict[str, str]:
        return {
            "WHATSAPP_ENABLED": "true",
            "GMAIL_ENABLED": "true",
            "PUBLIC_BASE_URL": self.public_base_url,
            "TWILIO_ACCOUNT_SID": self.twilio.account_sid,
            "TWILIO_AUTH_TOKEN": self.twilio.auth_token,
            "TWILIO_WHATSAPP_FROM": WHATSAPP_FROM,
            "TWILIO_API_BASE_URL": self.twilio.url,
            "TWILIO_TIMEOUT_S": "5",
            "GMAIL_SUPPORT_ADDRESS": SUPPORT_ADDRESS,
            "GMAIL_API_BASE_URL": f"{self.gmail.url}/",
            "GOOGLE_TOKEN_URI": f"{self.gmail.url}/token",
            "GMAIL_OAUTH_CLIENT_ID": self.gmail.client_id,
            "GMAIL_OAUTH_CLIENT_SECRET": self.gmail.client_secret,
            "GMAIL_OAUTH_REFRESH_TOKEN": self.gmail.refresh_token,
            "GMAIL_TIMEOUT_S": "5",
            "PUBSUB_AUDIENCE": self.pubsub_audience,
            "GOOGLE_CERTS_URL": f"{self.google.url}/oauth2/v1/certs",
            # Fast retries and a short open circuit: the tests wait for outcomes, not backoff.
            "CHANNEL_RETRY_ATTEMPTS": "3",
            "CHANNEL_RETRY_INITIAL_S": "0.05",
            "CHANNEL_RETRY_MAX_S": "0.2",
            "BREAKER_FAILURE_THRESHOLD": "3",
            "BREAKER_RESET_S": "2",
            **({"TEAM_SALES_WEBHOOK_URL": self.webhook.hook_url("/hooks/sales")} if self.webhook else {}),
            **(self.oidc_env() if self.oidc else {}),
        }

    def oidc_env(self) -> dict[str, str]:
        """The access service accepts the provider's id tokens (audience: the inbox's client id);
        the edge offers the provider to the inbox. API keys work as before."""
        assert self.oidc is not None
        return {
            "OIDC_ISSUER": self.oidc.issuer,
            "OIDC_AUDIENCE": self.oidc.client_id,
            "OIDC_JWKS_URL": f"{self.oidc.url}/jwks",
            "INBOX_OIDC_ISSUER": self.oidc.issuer,
            "INBOX_OIDC_CLIENT_ID": self.oidc.client_id,
            "INBOX_OIDC_TOKEN": "id_token",
        }


async def seed_knowledge(admin_dsn: str) -> None:
    env = {**os.environ, **E2E_ENV, "DATABASE_URL": service_dsn(admin_dsn, "knowledge"),
           "PYTHONPATH": f"{REPO_ROOT}:{REPO_ROOT}/gen/python"}
    proc = await asyncio.create_subprocess_exec(
        str(REPO_ROOT / ".venv/bin/python"), "-m", "services.knowledge.seed", cwd=REPO_ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()


@pytest.fixture(scope="session")
async def jaeger() -> AsyncIterator[Jaeger]:
    """Jaeger (the binary make run uses, its loopback config, memory storage) on free ports:
    every pipeline process exports its spans there; tests read them back over its HTTP API."""
    async with running_jaeger() as running:
        yield running


@pytest.fixture(scope="session")
def pipeline_specs():
    """The processes and their ports, chosen before anything starts: the fakes' configuration
    needs the edge's public URL."""
    return pipeline_processes()


@pytest.fixture(scope="session")
def channel_fakes(pipeline_specs) -> Iterator[ChannelFakes]:
    edge = next(p for p in pipeline_specs if p.name == "edge")
    with (
        FakeTwilio(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN) as twilio,
        FakeGmail(SUPPORT_ADDRESS) as gmail,
        FakeGoogleCerts() as google,
        FakeWebhook() as webhook,
        FakeOidcProvider(INBOX_OIDC_CLIENT_ID, f"http://127.0.0.1:{edge.port}", OIDC_OPERATOR) as oidc,
    ):
        yield ChannelFakes(twilio, gmail, google, f"http://127.0.0.1:{edge.port}", webhook, oidc)


@pytest.fixture(scope="session")
async def pipeline(stack, jaeger, pipeline_specs, channel_fakes) -> AsyncIterator[Pipeline]:
    await seed_knowledge(stack.admin_dsn)
    pipe = Pipeline(
        stack,
        pipeline_specs,
        extra_env={**E2E_ENV, **channel_fakes.env(), "OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_endpoint},
    )
    try:
        await pipe.start_all()
        yield pipe
    finally:
        await pipe.stop_all()


@pytest.fixture
async def http(pipeline) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=pipeline.edge_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
async def operator_headers(pipeline, admin_key) -> dict[str, str]:
    """`Authorization` for the operators' routes: a viewer key from the pipeline's access service."""
    async with open_channel(pipeline.address("access"), 20, credential=admin_key) as channel:
        reply = await access_grpc.AccessServiceStub(channel).CreateApiKey(
            access_pb.CreateApiKeyRequest(name="e2e operator", role=access_pb.ROLE_VIEWER)
        )
    return {"Authorization": f"Bearer {reply.secret}"}


async def wait_for_reply(http: httpx.AsyncClient, ticket_id: str, timeout: float = 90) -> dict:
    """Polls the ticket page like the web form does, until a non-customer message shows."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        view = (await http.get(f"/support/ticket/{ticket_id}")).json()
        if any(m["role"] != "customer" for m in view["messages"]):
            return view
        if loop.time() > deadline:
            raise TimeoutError(f"no reply on ticket {ticket_id}: {view}")
        await asyncio.sleep(0.3)


@pytest.fixture(scope="session")
async def identity(pipeline, admin_key) -> AsyncIterator[id_grpc.IdentityServiceStub]:
    channel = open_channel(pipeline.address("identity"), 10, credential=admin_key)
    yield id_grpc.IdentityServiceStub(channel)
    await channel.close()


@pytest.fixture(scope="session")
async def conversation(pipeline, admin_key) -> AsyncIterator[conv_grpc.ConversationServiceStub]:
    channel = open_channel(pipeline.address("conversation"), 10, credential=admin_key)
    yield conv_grpc.ConversationServiceStub(channel)
    await channel.close()
