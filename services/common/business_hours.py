"""When the promised first human reply on an escalation is due: the first-reply time counted in
business hours only (teams.toml: Monday–Friday, 08:00–20:00 UTC, 60 minutes). Pure functions of
time, shared by the conversation service (it stores the due time) and the agent (its handover
message states it when the promise runs past the end of the working day)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.common.teams import TEAMS, BusinessHours


def _zone(hours: BusinessHours) -> ZoneInfo:
    return ZoneInfo(hours.timezone)


def _day_bounds(day: datetime, hours: BusinessHours) -> tuple[datetime, datetime]:
    tz = _zone(hours)
    return (datetime.combine(day.date(), hours.open, tz), datetime.combine(day.date(), hours.close, tz))


def is_open(at: datetime, hours: BusinessHours = TEAMS.hours) -> bool:
    """Whether people are at work at `at` (opening time included, closing time not)."""
    local = at.astimezone(_zone(hours))
    opens, closes = _day_bounds(local, hours)
    return local.weekday() in hours.days and opens <= local < closes


def next_open(at: datetime, hours: BusinessHours = TEAMS.hours) -> datetime:
    """`at` itself when people are at work then, else the next opening time."""
    local = at.astimezone(_zone(hours))
    for _ in range(8):
        opens, closes = _day_bounds(local, hours)
        if local.weekday() in hours.days and local < closes:
            return max(local, opens)
        local = datetime.combine(local.date() + timedelta(days=1), time(0), _zone(hours))
    raise ValueError("business hours name no working day")


def reply_due(raised: datetime, hours: BusinessHours = TEAMS.hours) -> datetime:
    """`raised` plus the first-reply minutes, counting only business time (UTC result).
    An escalation at Friday 19:30 is due Monday 08:30."""
    remaining = timedelta(minutes=hours.first_reply_minutes)
    at = next_open(raised, hours)
    while True:
        _, closes = _day_bounds(at, hours)
        if remaining <= closes - at:
            return (at + remaining).astimezone(UTC)
        remaining -= closes - at
        at = next_open(closes, hours)


def promise_is_plain(raised: datetime, due: datetime, hours: BusinessHours = TEAMS.hours) -> bool:
    """True when the due time is simply `raised` + the first-reply minutes (raised during
    business hours, early enough): the published "within 1 business hour" says it exactly."""
    return due - raised <= timedelta(minutes=hours.first_reply_minutes)


def describe(due: datetime, hours: BusinessHours = TEAMS.hours) -> str:
    """"Monday 08:30 UTC": the weekday and time in the team's time zone."""
    local = due.astimezone(_zone(hours))
    return f"{local:%A %H:%M} {hours.timezone}"


def breached(due: datetime | None, first_reply: datetime | None, now: datetime) -> bool:
    """The first reply came after the due time, or has not come and the due time has passed."""
    if due is None:
        return False
    return (first_reply or now) > due
