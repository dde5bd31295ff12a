"""What a web form proves (issue 12): without a token its email and phone are a claim; the host
page's identity token (hex HMAC-SHA256 of the signed-in user's email) makes the email verified;
a token that proves nothing is refused with a 4xx naming it, and nothing is published."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fte.common.v1.sender_assurance_pb2 import SENDER_ASSURANCE_CLAIMED, SENDER_ASSURANCE_VERIFIED

from services.edge.identity_token import identity_token
from tests.edge.conftest import edge_settings, serve_edge, valid_form
from tests.edge.test_submit_validates_and_publishes_after_ack import _end_offsets, _events_since

SECRET = "site-secret-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
async def signed_edge_url(stack, identity_address, conversation_address) -> AsyncIterator[str]:
    settings = edge_settings(stack, identity_address, conversation_address, webform_identity_secret=SECRET)
    async with serve_edge(settings) as url:
        yield url


@pytest.fixture
async def signed(signed_edge_url) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=signed_edge_url, timeout=20) as client:
        yield client


async def _published(stack, client: httpx.AsyncClient, form: dict):
    before = await _end_offsets(stack.bootstrap_servers)
    reply = await client.post("/support/submit", json=form)
    if await _end_offsets(stack.bootstrap_servers) == before:
        return reply, []
    return reply, await _events_since(stack.bootstrap_servers, before)


async def test_a_form_without_a_token_is_a_claim(signed, stack):
    email = f"claim-{uuid.uuid4().hex[:8]}@example.com"
    reply, events = await _published(stack, signed, valid_form(email=email, phone="+351 961 234 567"))

    assert reply.status_code == 202
    [event] = [e for e in events if e.ticket_id == reply.json()["ticket_id"]]
    assert event.sender.assurance == SENDER_ASSURANCE_CLAIMED


async def test_a_valid_token_makes_the_email_verified(signed, stack):
    email = f"Signed.{uuid.uuid4().hex[:8]}@Example.com"
    # The host page signs the address as it knows it: trimmed and lower-cased.
    token = identity_token(email, SECRET).upper()
    reply, events = await _published(stack, signed, valid_form(email=email, identity_token=token))

    assert reply.status_code == 202
    [event] = [e for e in events if e.ticket_id == reply.json()["ticket_id"]]
    assert event.sender.email == email.lower()
    assert event.sender.assurance == SENDER_ASSURANCE_VERIFIED


@pytest.mark.parametrize(
    "token",
    [
        identity_token("someone.else@example.com", SECRET),
        identity_token("victim@example.com", "another-site-secret"),
        "not-hex-at-all",
    ],
    ids=["other-email", "other-secret", "garbage"],
)
async def test_a_wrong_token_is_refused_naming_it_and_nothing_is_published(signed, stack, token):
    reply, events = await _published(
        stack, signed, valid_form(email="victim@example.com", identity_token=token)
    )

    assert reply.status_code == 403
    assert reply.json()["detail"].startswith("identity_token:")
    assert events == []


async def test_a_token_where_no_secret_is_configured_is_refused(http, stack):
    reply, events = await _published(
        stack, http, valid_form(identity_token=identity_token("ada@example.com", SECRET))
    )

    assert reply.status_code == 400
    assert reply.json()["detail"].startswith("identity_token:")
    assert events == []


async def test_an_overlong_token_is_422_naming_it(signed):
    reply = await signed.post("/support/submit", json=valid_form(identity_token="a" * 200))

    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"][-1] == "identity_token"
