"""Trying again: which failures are worth it, and the one backoff policy every loop uses.

`RetryPolicy` is tenacity configured the house way (exponential backoff with jitter, bounded
or until a stop); `in_transaction` re-runs a database transaction that lost to a concurrent
one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import asyncpg
import grpc
from aiokafka.errors import KafkaError
from grpc_interceptor.exceptions import Aborted
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

_TRANSIENT_CODES = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
}


def is_transient(exc: BaseException) -> bool:
    """True for errors a later attempt may not hit: unreachable peers, timeouts, overload."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code() in _TRANSIENT_CODES
    return isinstance(exc, (asyncio.TimeoutError, ConnectionError, KafkaError))


def is_database_conflict(ex: BaseException) -> bool:
    """Deadlock detected (40P01) or serialization failure (40001): the transaction was rolled
    back and running it again is the documented remedy."""
    return isinstance(ex, (asyncpg.DeadlockDetectedError, asyncpg.SerializationError))


def _any_error(exc: BaseException) -> bool:
    return True


class Stopped(Exception):
    """The stop event was set while waiting for the next attempt: the work is left undone."""


@dataclass(frozen=True)
class RetryPolicy:
    """How a failing call is tried again.

    Waits grow exponentially from `initial_s` to `max_s`, with up to `initial_s` of jitter so
    that callers hit by the same outage do not come back in lockstep. Only errors `retry_on`
    accepts are retried (never cancellation); the last error propagates as it is."""

    # None: until it works, `give_up_after_s` passes or the stop event is set.
    attempts: int | None = None
    initial_s: float = 0.2
    max_s: float = 30.0
    retry_on: Callable[[BaseException], bool] = _any_error
    # Errors that are an outage rather than a fault of the call: waited out however long they
    # last; `attempts` ends the retrying only on other errors.
    outage: Callable[[BaseException], bool] | None = None
    give_up_after_s: float | None = None
    # Names the call in a warning before each wait; empty: retries are silent.
    log_as: str = ""

    def _retrying(
        self, stop: asyncio.Event | None, give_up: Callable[[], bool] | None, since: float
    ) -> AsyncRetrying:
        """The tenacity AsyncRetrying `call` hands a failed first attempt to.

        With `stop`, a wait ends as soon as the event is set and raises `Stopped`; `give_up`
        is asked after each failure whether to stop trying (e.g. the caller's deadline);
        `give_up_after_s` counts from `since` (`time.monotonic()` before the first attempt)."""
        return AsyncRetrying(
            retry=retry_if_exception(self._retries),
            stop=lambda state: self._gives_up(state, give_up, since),
            wait=self._wait(),
            sleep=_sleep_unless(stop) if stop is not None else asyncio.sleep,
            before_sleep=self._warn if self.log_as else None,
            reraise=True,
        )

    def delay(self, failures: int) -> float:
        """The wait after the `failures`-th failure in a row, as `call` would wait it: for
        loops that are no call to retry, such as a supervisor restarting a crashed process."""
        state = RetryCallState(None, None, (), {})
        state.attempt_number = failures
        return self._wait()(state)

    def _wait(self) -> wait_exponential_jitter:
        return wait_exponential_jitter(multiplier=self.initial_s, max=self.max_s, jitter=self.initial_s)

    async def call(
        self, fn: Callable[..., Awaitable[T]], *args, stop: asyncio.Event | None = None,
        give_up: Callable[[], bool] | None = None, **kwargs,
    ) -> T:
        """`await fn(*args, **kwargs)`, tried again as the policy says (`fn` may be anything
        returning an awaitable, e.g. a gRPC stub method); `stop` and `give_up` as in `_retrying`.

        The first attempt runs outside tenacity: setting up an AsyncRetrying costs ~30 µs of
        CPU, paid on every call that works the first time, which is nearly every call (every
        RPC served, every record consumed; tests/bench/README.md). A failure the policy retries
        is handed to tenacity as its first attempt, so the waits, the warnings, `attempts` and
        `give_up_after_s` count it as before."""
        started = time.monotonic()
        try:
            return await fn(*args, **kwargs)
        except Exception as exc:
            if not self._retries(exc):
                raise
            first_failure = exc
        replayed = False
        async for attempt in self._retrying(stop, give_up, started):
            with attempt:
                if not replayed:
                    replayed = True
                    raise first_failure
                return await fn(*args, **kwargs)
        raise AssertionError("unreachable: tenacity either returned or raised")

    def _retries(self, exc: BaseException) -> bool:
        return isinstance(exc, Exception) and self.retry_on(exc)

    def _gives_up(self, state: RetryCallState, give_up: Callable[[], bool] | None, since: float) -> bool:
        if give_up is not None and give_up():
            return True
        if self.give_up_after_s is not None and time.monotonic() - since >= self.give_up_after_s:
            return True
        if self.attempts is None:
            return False
        exc = state.outcome.exception() if state.outcome else None
        if self.outage is not None and exc is not None and self.outage(exc):
            return False
        return stop_after_attempt(self.attempts)(state)

    def _warn(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s failed (attempt %d), retrying in %.1fs: %s",
            self.log_as,
            state.attempt_number,
            state.next_action.sleep if state.next_action else 0.0,
            type(exc).__name__,
        )


class Counted:
    """`fn(*args, **kwargs)` as a retried call's attempt, counting how often it ran: what a
    dead letter or an ABORTED message reports after `RetryPolicy.call` gave up."""

    def __init__(self, fn: Callable[..., Awaitable[T]], *args, **kwargs) -> None:
        self.attempts = 0
        self._fn, self._args, self._kwargs = fn, args, kwargs

    async def __call__(self) -> T:
        self.attempts += 1
        return await self._fn(*self._args, **self._kwargs)


def _sleep_unless(stop: asyncio.Event) -> Callable[[float], Awaitable[None]]:
    async def sleep(seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)
        if stop.is_set():
            raise Stopped

    return sleep


def conflict_retry(
    attempts: int, retry_on: Callable[[BaseException], bool] = is_database_conflict, log_as: str = ""
) -> RetryPolicy:
    """For work whose transaction lost a race: PostgreSQL rolled it back and picked a winner,
    so the next attempt usually runs alone; a short pause keeps two losers apart."""
    return RetryPolicy(attempts=attempts, initial_s=0.05, max_s=0.5, retry_on=retry_on, log_as=log_as)


async def in_transaction(
    pool: asyncpg.Pool,
    work: Callable[[asyncpg.Connection], Awaitable[T]],
    *,
    attempts: int,
    exhausted: str,
    retry_on: Callable[[BaseException], bool] = is_database_conflict,
) -> T:
    """`work(conn)` in a transaction of its own, run again in a fresh one while it loses to a
    concurrent transaction (`retry_on`). A conflict that persists for `attempts` raises
    ABORTED with `exhausted`: a concurrency problem, not an outage, so the caller may retry."""
    async def run() -> T:
        async with pool.acquire() as conn, conn.transaction():
            return await work(conn)

    try:
        return await conflict_retry(attempts, retry_on).call(run)
    except Exception as exc:
        if retry_on(exc):
            raise Aborted(exhausted) from exc
        raise
