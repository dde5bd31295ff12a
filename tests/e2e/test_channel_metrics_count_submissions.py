"""GET /metrics/channels counts what customers sent: after three web-form submissions from new
customers are answered, the web channel has three more tickets, three more conversations and
six more messages (each question and its answer); the other channels are unchanged."""

from __future__ import annotations

import asyncio

from tests.e2e.conftest import wait_for_reply
from tests.e2e.probes import submit_many

COUNTS = ("tickets", "conversations", "messages")


async def _counts(http, headers: dict[str, str]) -> dict[str, dict[str, int]]:
    reply = await http.get("/metrics/channels", headers=headers)
    assert reply.status_code == 200, reply.text
    # Proto JSON: int64 as strings, zero values left out.
    return {c["channel"]: {k: int(c.get(k, 0)) for k in COUNTS} for c in reply.json()["channels"]}


async def test_channel_metrics_reflect_answered_submissions(http, operator_headers):
    before = await _counts(http, operator_headers)
    assert set(before) == {"CHANNEL_EMAIL", "CHANNEL_WHATSAPP", "CHANNEL_WEB_FORM"}

    ticket_ids = list(await submit_many(http, 3, "metrics"))
    await asyncio.gather(*(wait_for_reply(http, t) for t in ticket_ids))

    after = await _counts(http, operator_headers)
    assert after["CHANNEL_WEB_FORM"] == {
        "tickets": before["CHANNEL_WEB_FORM"]["tickets"] + 3,
        "conversations": before["CHANNEL_WEB_FORM"]["conversations"] + 3,
        "messages": before["CHANNEL_WEB_FORM"]["messages"] + 6,
    }
    assert after["CHANNEL_EMAIL"] == before["CHANNEL_EMAIL"]
    assert after["CHANNEL_WHATSAPP"] == before["CHANNEL_WHATSAPP"]
