"""The one retry policy (services.common.retry): bounded attempts, outages waited out however
long they last, a stop that ends the wait at once, errors that are never retried; and the
transaction helper on the test stack's real PostgreSQL: a lost race is run again in a fresh
transaction (the loser's writes rolled back) and a race lost every time answers ABORTED."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from grpc_interceptor.exceptions import Aborted

from services.common.retry import RetryPolicy, Stopped, in_transaction


class Flaky:
    def __init__(self, *errors: BaseException, delay_s: float = 0.0) -> None:
        self.errors = list(errors)
        self.calls = 0
        self.delay_s = delay_s  # each attempt takes this long before it fails or succeeds

    async def __call__(self) -> str:
        self.calls += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.errors:
            raise self.errors.pop(0)
        return "done"


async def test_bounded_attempts_then_the_last_error_as_it_is():
    flaky = Flaky(*(ConnectionError(f"try {i}") for i in range(1, 6)))
    with pytest.raises(ConnectionError, match="try 3"):
        await RetryPolicy(attempts=3, initial_s=0.001, max_s=0.01).call(flaky)
    assert flaky.calls == 3


async def test_only_errors_retry_on_accepts_are_tried_again():
    flaky = Flaky(ConnectionError("transient"), ValueError("permanent"))
    policy = RetryPolicy(attempts=5, initial_s=0.001, retry_on=lambda exc: isinstance(exc, ConnectionError))
    with pytest.raises(ValueError):
        await policy.call(flaky)
    assert flaky.calls == 2


async def test_an_outage_is_waited_out_however_many_attempts_it_takes():
    policy = RetryPolicy(
        attempts=2, initial_s=0.001, max_s=0.002, outage=lambda exc: isinstance(exc, TimeoutError)
    )
    outage = Flaky(*(TimeoutError("outage") for _ in range(6)))
    assert await policy.call(outage) == "done"
    assert outage.calls == 7
    fault = Flaky(*(ConnectionError("fault") for _ in range(6)))
    with pytest.raises(ConnectionError):
        await policy.call(fault)
    assert fault.calls == 2


async def test_a_stop_ends_the_wait_for_the_next_attempt_at_once():
    stop = asyncio.Event()
    flaky = Flaky(*(ConnectionError("down") for _ in range(100)))
    loop = asyncio.get_running_loop()
    loop.call_later(0.2, stop.set)
    started = loop.time()
    with pytest.raises(Stopped):
        await RetryPolicy(initial_s=60.0, max_s=60.0).call(flaky, stop=stop)
    assert loop.time() - started < 2.0
    assert flaky.calls == 1


async def test_a_failed_first_attempt_counts_as_the_first_of_the_policy(caplog):
    # The first attempt runs outside tenacity; its failure must still count: for the attempt
    # budget, in the warning before the wait, for `give_up` and for `give_up_after_s`.
    once = Flaky(*(ConnectionError("down") for _ in range(5)))
    with pytest.raises(ConnectionError):
        await RetryPolicy(attempts=1, initial_s=0.001).call(once)
    assert once.calls == 1
    flaky = Flaky(ConnectionError("down"))
    with caplog.at_level("WARNING", logger="services.common.retry"):
        assert await RetryPolicy(attempts=2, initial_s=0.001, log_as="the call").call(flaky) == "done"
    assert flaky.calls == 2
    assert [r.getMessage().split(", retrying")[0] for r in caplog.records] == ["the call failed (attempt 1)"]
    asked = Flaky(*(ConnectionError("down") for _ in range(5)))
    with pytest.raises(ConnectionError):
        await RetryPolicy(initial_s=0.001).call(asked, give_up=lambda: True)
    assert asked.calls == 1


async def test_give_up_after_counts_from_the_first_attempt():
    slow = Flaky(*(ConnectionError("down") for _ in range(5)), delay_s=0.3)
    with pytest.raises(ConnectionError):
        await RetryPolicy(initial_s=0.001, max_s=0.001, give_up_after_s=0.2).call(slow)
    assert slow.calls == 1


async def test_a_lost_race_runs_again_in_a_fresh_transaction_and_a_persistent_one_is_aborted(stack):
    table = f"public.retry_probe_{uuid.uuid4().hex[:8]}"
    pool = await asyncpg.create_pool(stack.admin_dsn, min_size=1, max_size=2)
    try:
        await pool.execute(f"CREATE TABLE {table} (attempt int)")
        attempts = 0

        class LostRace(Exception):
            pass

        async def loses_once(conn: asyncpg.Connection) -> int:
            nonlocal attempts
            attempts += 1
            await conn.execute(f"INSERT INTO {table} VALUES ($1)", attempts)
            if attempts == 1:
                raise LostRace
            return attempts

        lost = lambda exc: isinstance(exc, LostRace)  # noqa: E731
        assert await in_transaction(pool, loses_once, attempts=3, exhausted="x", retry_on=lost) == 2
        assert [r["attempt"] for r in await pool.fetch(f"SELECT attempt FROM {table}")] == [2]

        async def always_loses(conn: asyncpg.Connection) -> None:
            await conn.execute(f"INSERT INTO {table} VALUES (0)")
            raise LostRace

        with pytest.raises(Aborted, match="lost every race"):
            await in_transaction(pool, always_loses, attempts=3, exhausted="lost every race", retry_on=lost)
        assert await pool.fetchval(f"SELECT count(*) FROM {table} WHERE attempt = 0") == 0
    finally:
        await pool.execute(f"DROP TABLE IF EXISTS {table}")
        await pool.close()


def test_delay_follows_the_schedule_retrying_waits():
    """The supervisor of `make run` reads its restart delays from here: doubling from
    `initial_s` (plus up to `initial_s` of jitter) and never above `max_s`."""
    policy = RetryPolicy(initial_s=1.0, max_s=30.0)
    for failures, low in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 16.0)):
        assert low <= policy.delay(failures) <= low + 1.0
    assert [policy.delay(n) for n in (6, 7, 50, 5000)] == [30.0] * 4
