"""Per-sender and per-IP limits answer 429 with Retry-After."""

from __future__ import annotations

import uuid

import httpx

from tests.edge.conftest import edge_settings, serve_edge, valid_form


async def test_sender_over_limit_gets_429(stack, identity_address, conversation_address):
    settings = edge_settings(stack, identity_address, conversation_address, rate_limit_per_sender="3/minute")
    async with serve_edge(settings) as url, httpx.AsyncClient(base_url=url) as http:
        email = f"busy-{uuid.uuid4().hex[:8]}@example.com"
        codes = [(await http.post("/support/submit", json=valid_form(email=email))).status_code for _ in range(4)]
        assert codes == [202, 202, 202, 429]
        other = await http.post("/support/submit", json=valid_form(email=f"calm-{uuid.uuid4().hex[:8]}@example.com"))
        assert other.status_code == 202


async def test_ip_over_limit_gets_429_with_retry_after(stack, identity_address, conversation_address):
    settings = edge_settings(stack, identity_address, conversation_address, rate_limit_per_ip="2/minute")
    async with serve_edge(settings) as url, httpx.AsyncClient(base_url=url) as http:
        replies = [await http.post("/support/submit", json=valid_form(email=f"u{i}-{uuid.uuid4().hex[:6]}@example.com")) for i in range(3)]
        assert [r.status_code for r in replies] == [202, 202, 429]
        assert replies[-1].headers["retry-after"] == "60"
