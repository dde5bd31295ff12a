"""Per-channel resilience: bounded retries with backoff and jitter, then a circuit breaker.

Every call a channel makes to its provider goes through that channel's `ChannelGuard`:
transient failures (429, 5xx, timeouts, connection errors) are retried up to
`channel_retry_attempts` times with exponential backoff and jitter; a call that still fails
counts against the channel's `CircuitBreaker`, which opens after `breaker_failure_threshold`
consecutive failed calls and then refuses calls at once until `breaker_reset_s` has passed.

A reply is never dropped. The two errors a sender raises say what the dispatcher must do:

* `ChannelUnavailable` (a `ConnectionError`, so `services.common.retry.is_transient` already
  treats it as transient): the channel is down or the circuit is open. Do not commit the
  record; it waits in Kafka and is tried again later.
* `SendFailed`: the provider refused this message for good (invalid number, outside the
  WhatsApp window, ...). Retrying cannot help: record the reply as failed with `.reason` and
  escalate the ticket when `.escalate` is set.

Breakers live in a registry so `channel_health()` can report every channel of the process.
"""

from __future__ import annotations

import enum
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TypeVar

from services.channels.settings import ChannelSettings
from services.common.metrics import CIRCUIT_OPEN
from services.common.retry import RetryPolicy

log = logging.getLogger(__name__)

T = TypeVar("T")


class ChannelUnavailable(ConnectionError):
    """The channel cannot take the message now (retries exhausted or circuit open); try later.

    A ConnectionError on purpose: every consumer in the project already treats those as
    transient, so the record stays uncommitted in Kafka instead of being dropped.

    `attempted` tells a refusal by the open circuit (False: nothing reached the provider, so
    nothing is known about this message) from a call that failed after its retries."""

    def __init__(self, channel: str, detail: str, *, attempted: bool = True) -> None:
        super().__init__(f"{channel} unavailable: {detail}")
        self.channel = channel
        self.attempted = attempted


class SendFailed(Exception):
    """The provider refused this message for good; record it failed with `reason`."""

    escalate = True

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BreakerState(str, enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


StateListener = Callable[[str, BreakerState], None]


class CircuitBreaker:
    """Consecutive-failure breaker. Single event loop use; reading `state` is thread-safe."""

    def __init__(
        self,
        name: str,
        failure_threshold: int = 3,
        reset_timeout_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False
        self._listeners: list[StateListener] = []
        self._last_reported = BreakerState.CLOSED
        # Exported from the start (0), so a scrape shows every channel the process sends on.
        CIRCUIT_OPEN.labels(name).set(0)

    def add_listener(self, listener: StateListener) -> None:
        """Called with (name, new state) on every change, e.g. to flip a gRPC health status."""
        self._listeners.append(listener)

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.reset_timeout_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self) -> bool:
        """May a call go out now? Half-open lets exactly one trial through at a time."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._trial_running:
            self._trial_running = True
            self._notify()
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_running = False
        self._notify()

    def record_failure(self) -> None:
        self._failures += 1
        self._trial_running = False
        if self._opened_at is not None or self._failures >= self.failure_threshold:
            # A failed trial re-opens for a full reset period.
            self._opened_at = self._clock()
        self._notify()

    def release_trial(self) -> None:
        self._trial_running = False

    def _notify(self) -> None:
        state = self.state
        if state is self._last_reported:
            return
        self._last_reported = state
        CIRCUIT_OPEN.labels(self.name).set(1 if state is BreakerState.OPEN else 0)
        level = logging.WARNING if state is BreakerState.OPEN else logging.INFO
        log.log(level, "channel %s circuit %s", self.name, state.value)
        for listener in self._listeners:
            listener(self.name, state)


class BreakerRegistry:
    """The breakers of one process, one per channel name."""

    def __init__(self) -> None:
        self._breakers: dict[str, CircuitBreaker] = {}
        self._listeners: list[StateListener] = []

    def get(self, name: str, settings: ChannelSettings) -> CircuitBreaker:
        if name not in self._breakers:
            breaker = CircuitBreaker(name, settings.breaker_failure_threshold, settings.breaker_reset_s)
            for listener in self._listeners:
                breaker.add_listener(listener)
            self._breakers[name] = breaker
        return self._breakers[name]

    def add_listener(self, listener: StateListener) -> None:
        """Hears every breaker's changes, present and future (e.g. to set a gRPC health
        status "fte.channels.<name>" that the edge's /health reads)."""
        self._listeners.append(listener)
        for breaker in self._breakers.values():
            breaker.add_listener(listener)

    def health(self) -> dict[str, str]:
        """{"email": "ok" | "degraded", ...}: degraded while the circuit is not closed."""
        return {
            name: "ok" if b.state is BreakerState.CLOSED else "degraded"
            for name, b in sorted(self._breakers.items())
        }


BREAKERS = BreakerRegistry()


def channel_health(registry: BreakerRegistry = BREAKERS) -> dict[str, str]:
    """Per-channel health of this process, for a /health endpoint or a gRPC health servicer."""
    return registry.health()


class ChannelGuard:
    """Retries then breaker around every provider call of one channel."""

    def __init__(
        self,
        channel: str,
        is_transient: Callable[[BaseException], bool],
        settings: ChannelSettings,
        registry: BreakerRegistry = BREAKERS,
    ) -> None:
        self.channel = channel
        self.is_transient = is_transient
        self.settings = settings
        self.breaker = registry.get(channel, settings)

    async def call(self, operation: str, fn: Callable[[], Awaitable[T]]) -> T:
        """Runs `fn` (a fresh coroutine per attempt). Non-transient errors propagate as they are
        (they prove the provider is up); transient ones become ChannelUnavailable."""
        if not self.breaker.allow():
            raise ChannelUnavailable(
                self.channel, f"circuit open, {operation} not attempted", attempted=False
            )
        retry = RetryPolicy(
            attempts=self.settings.channel_retry_attempts,
            initial_s=self.settings.channel_retry_initial_s,
            max_s=self.settings.channel_retry_max_s,
            retry_on=self.is_transient,
        )
        try:
            result = await retry.call(fn)
        except Exception as exc:
            if not self.is_transient(exc):
                self.breaker.record_success()
                raise
            self.breaker.record_failure()
            log.warning("%s %s failed after retries: %s", self.channel, operation, _describe(exc))
            raise ChannelUnavailable(self.channel, f"{operation}: {_describe(exc)}") from exc
        except BaseException:
            # Cancelled mid-call: no verdict on the provider, but free a half-open trial slot.
            self.breaker.release_trial()
            raise
        self.breaker.record_success()
        return result


def _describe(exc: BaseException) -> str:
    status = getattr(exc, "status", None) or getattr(getattr(exc, "resp", None), "status", None)
    return f"{type(exc).__name__}" + (f" {status}" if status else "")


class SendProgress:
    """Which parts of a multi-part reply already went out, by reply id (bounded, in memory).

    When part 2 of 3 fails, the dispatcher retries the whole reply; this lets the retry go on
    from part 2 instead of sending part 1 to the customer again. Lost on restart: across a
    crash delivery is at-least-once, like everything else."""

    def __init__(self, max_replies: int = 10_000) -> None:
        self._sent: OrderedDict[str, list[str]] = OrderedDict()
        self._max = max_replies

    def sent(self, reply_id: str) -> list[str]:
        """External ids of the parts already sent, in order (a live list: append to it)."""
        if reply_id in self._sent:
            self._sent.move_to_end(reply_id)
        else:
            self._sent[reply_id] = []
            while len(self._sent) > self._max:
                self._sent.popitem(last=False)
        return self._sent[reply_id]

    def forget(self, reply_id: str) -> None:
        self._sent.pop(reply_id, None)
