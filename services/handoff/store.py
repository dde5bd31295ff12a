"""SQL for the notifier's own schema (`notifier`, role fte_notifier): which notifications of
which escalation went out. Nothing else; the escalation itself lives in ConversationService."""

from __future__ import annotations

import asyncpg


class SentNotifications:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def sent(self, escalation_id: str) -> set[tuple[str, str]]:
        """(team, transport) of every notification of this escalation already sent."""
        rows = await self.pool.fetch(
            "SELECT team, transport FROM notifications_sent WHERE escalation_id = $1", escalation_id)
        return {(r["team"], r["transport"]) for r in rows}

    async def record(self, escalation_id: str, team: str, transport: str, ticket_id: str) -> None:
        """Written once the send succeeded; a repeat (a record handled twice) changes nothing."""
        await self.pool.execute(
            "INSERT INTO notifications_sent (escalation_id, team, transport, ticket_id)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            escalation_id, team, transport, ticket_id)
