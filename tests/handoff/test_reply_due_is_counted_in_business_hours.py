"""The promised first human reply is counted in business hours (Mon–Fri 08:00–20:00 UTC, 60
minutes): pure functions, tested on examples and on properties over any moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.common import business_hours as bh

# 2026-11-30 is a Monday.
MON = datetime(2026, 11, 30, tzinfo=UTC)


def at(day: int, hh: int, mm: int = 0) -> datetime:
    return MON + timedelta(days=day, hours=hh, minutes=mm)


def test_within_business_hours_it_is_due_an_hour_later():
    assert bh.reply_due(at(1, 10, 15)) == at(1, 11, 15)
    assert bh.reply_due(at(1, 8)) == at(1, 9)
    assert bh.promise_is_plain(at(1, 10, 15), bh.reply_due(at(1, 10, 15)))


def test_friday_evening_is_due_monday_morning():
    due = bh.reply_due(at(4, 19, 30))
    assert due == at(7, 8, 30)
    assert bh.describe(due) == "Monday 08:30 UTC"
    assert not bh.promise_is_plain(at(4, 19, 30), due)


def test_night_and_weekend_wait_for_the_opening():
    assert bh.reply_due(at(1, 3)) == at(1, 9)  # Tuesday 03:00 → Tuesday 09:00
    assert bh.reply_due(at(2, 20)) == at(3, 9)  # closing time counts as closed
    assert bh.reply_due(at(5, 12)) == at(7, 9)  # Saturday noon → Monday 09:00
    assert bh.reply_due(at(6, 23, 59)) == at(7, 9)


def test_breached_is_a_late_first_reply_or_none_past_due():
    due = at(1, 11)
    assert not bh.breached(due, at(1, 10, 59), at(2, 0))
    assert not bh.breached(due, at(1, 11), at(2, 0))
    assert bh.breached(due, at(1, 11, 1), at(1, 11, 1))
    assert not bh.breached(due, None, at(1, 10))
    assert bh.breached(due, None, at(1, 11, 1))
    assert not bh.breached(None, None, at(9, 0))


def _business_minutes(start: datetime, end: datetime) -> int:
    """An independent oracle: open minutes walked one by one."""
    minutes, t = 0, start.replace(second=0, microsecond=0)
    while t < end:
        minutes += bh.is_open(t)
        t += timedelta(minutes=1)
    return minutes


moments = st.integers(min_value=0, max_value=14 * 24 * 60 - 1).map(lambda m: MON + timedelta(minutes=m))


@settings(max_examples=60, deadline=None)
@given(moments)
def test_due_is_exactly_sixty_business_minutes_later(raised):
    due = bh.reply_due(raised)
    assert due > raised
    assert _business_minutes(raised, due) == 60
    # It falls inside a working day (the last minute counted ends at or before closing).
    assert bh.is_open(due - timedelta(minutes=1))


@settings(max_examples=60, deadline=None)
@given(moments)
def test_the_plain_promise_holds_only_inside_business_hours(raised):
    due = bh.reply_due(raised)
    plain = bh.promise_is_plain(raised, due)
    assert plain == (due == raised + timedelta(minutes=60))
    if plain:
        assert bh.is_open(raised)


def test_the_handover_states_the_due_time_outside_business_hours():
    from fte.conversation.v1 import conversation_service_pb2 as conv_pb

    from services.agent import handover
    from services.common.company import COMPANY

    friday_evening = at(4, 19, 30)
    text = handover.message(conv_pb.ESCALATION_REASON_PRICING, "How much is it?",
                            raised=friday_evening, due=bh.reply_due(friday_evening))
    assert text.endswith("A person will reply by Monday 08:30 UTC.")
    assert f"({COMPANY.sales_email})" in text
    tuesday = at(1, 10)
    text = handover.message(conv_pb.ESCALATION_REASON_PRICING, "How much is it?",
                            raised=tuesday, due=bh.reply_due(tuesday))
    assert text.endswith(f"within {COMPANY.escalation_first_reply}.")


def test_the_configured_hours_are_the_published_ones(facts):
    """teams.toml's hours are what FACTS.md promises customers, so the due time the handover
    states follows from published facts."""
    from datetime import time

    from services.common.teams import TEAMS

    assert "Human support team: Monday–Friday, 08:00–20:00 UTC." in facts
    assert "first human reply within 1 business hour" in facts
    hours = TEAMS.hours
    assert (hours.timezone, hours.days, hours.open, hours.close, hours.first_reply_minutes) == (
        "UTC", (0, 1, 2, 3, 4), time(8), time(20), 60)
