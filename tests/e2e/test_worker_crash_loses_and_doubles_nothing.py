"""200 submissions; the worker is SIGKILLed mid-stream and restarted. Afterwards every
submission has exactly one ticket and exactly one reply: none lost, none doubled."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

N = 200


async def _counts(admin_dsn: str, ticket_ids: list[str]) -> tuple[int, dict[str, int]]:
    conn = await asyncpg.connect(admin_dsn)
    try:
        tickets = await conn.fetchval(
            "SELECT count(*) FROM conversation.tickets WHERE ticket_id = ANY($1::uuid[])", ticket_ids
        )
        rows = await conn.fetch(
            """SELECT ticket_id::text AS t, count(*) AS n FROM conversation.messages
               WHERE direction = 'outbound' AND ticket_id = ANY($1::uuid[]) GROUP BY ticket_id""",
            ticket_ids,
        )
        return tickets, {r["t"]: r["n"] for r in rows}
    finally:
        await conn.close()


async def test_sigkill_mid_stream_then_restart_gives_exactly_one_reply_each(http, pipeline, stack):
    ticket_ids: list[str] = []

    async def submit(i: int) -> None:
        reply = await http.post(
            "/support/submit",
            json={
                "name": f"Load Tester {i}",
                "email": f"crash-{i}-{uuid.uuid4().hex[:6]}@example.com",
                "subject": "Calendar sync question",
                "category": "general",
                "message": f"How often does calendar sync refresh? (message {i})",
            },
        )
        assert reply.status_code == 202, reply.text
        ticket_ids.append(reply.json()["ticket_id"])

    for start in range(0, N, 20):
        await asyncio.gather(*(submit(i) for i in range(start, start + 20)))
        if start == 60:
            # Let the worker get going on the backlog, then kill it mid-message.
            await asyncio.sleep(2)
            assert await pipeline.kill("worker") != 0
            await pipeline.start("worker")

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 600
    while True:
        tickets, replies = await _counts(stack.admin_dsn, ticket_ids)
        if len(replies) == N or loop.time() > deadline:
            break
        await asyncio.sleep(2)
    assert len(set(ticket_ids)) == N
    assert tickets == N, "every accepted submission has its ticket"
    assert len(replies) == N, f"{N - len(replies)} submissions got no reply"
    doubled = {t: n for t, n in replies.items() if n != 1}
    assert not doubled, f"tickets with more than one reply: {doubled}"
