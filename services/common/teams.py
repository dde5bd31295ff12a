"""Escalation routing and the support team's business hours, read once from teams.toml: which
team owns each escalation reason, where each team is notified, and the hours in which the
promised first human reply is counted. Configuration, not code: a deployment changes the file
(or the TEAM_<NAME>_EMAIL / TEAM_<NAME>_WEBHOOK_URL environment variables, read by the notifier)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import time
from pathlib import Path

TEAMS_FILE = Path(__file__).with_name("teams.toml")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class BusinessHours:
    timezone: str
    days: tuple[int, ...]  # 0 = Monday, as datetime.weekday()
    open: time
    close: time
    first_reply_minutes: int


@dataclass(frozen=True)
class Teams:
    routing: dict[str, str]  # reason name (lower case, without the prefix) → team
    emails: dict[str, str]  # team → address ("" when none)
    hours: BusinessHours

    def team_for(self, reason: str) -> str:
        """The team for a reason name such as "pricing" or "ESCALATION_REASON_PRICING"."""
        key = reason.lower().removeprefix("escalation_reason_")
        return self.routing.get(key, self.routing["other"])


def load(path: Path = TEAMS_FILE) -> Teams:
    with path.open("rb") as f:
        data = tomllib.load(f)
    routing = dict(data["routing"])
    teams = data["teams"]
    unknown = sorted(set(routing.values()) - set(teams))
    if unknown or "other" not in routing:
        raise ValueError(f"{path}: routing names unknown teams {unknown} or has no 'other'")
    hours = data["business_hours"]
    return Teams(
        routing=routing,
        emails={name: team.get("email", "") for name, team in teams.items()},
        hours=BusinessHours(
            timezone=hours["timezone"],
            days=tuple(DAYS.index(d) for d in hours["days"]),
            open=time.fromisoformat(hours["open"]),
            close=time.fromisoformat(hours["close"]),
            first_reply_minutes=int(hours["first_reply_minutes"]),
        ),
    )


TEAMS = load()
