"""Figure 2: seconds from POST /support/submit to the agent's reply being recorded, and
sustained replies/s, with N closed-loop senders (each submits, waits for its reply, submits
again) for a fixed duration per level, on the offline model.

"Recorded" is the outbound message's `create_time` in `conversation.messages` — the moment
the reply shows on the customer's ticket page. The submit time is taken on the same host
clock just before the POST. Replies are found by one poller querying the database every
100 ms for all senders, instead of every sender polling GET /support/ticket (which would load
the edge and the conversation service with the measurement itself).

Messages are the labelled tickets of the agent eval (tests/agent/eval/tickets.jsonl: answerable
questions, escalations, unknown features, injections, other languages) in a fixed shuffled
order, restarting at every level so levels get the same mix, each
from a new customer address: the edge's and the agent's per-sender rate limits stay out of the
way, and every message pays the first-contact path (new customer, conversation, ticket).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

import asyncpg
import httpx

from devstack import REPO_ROOT
from tests.bench import profile
from tests.bench.stats import CpuMeter, cpu_seconds, percentile, progress

TICKETS = REPO_ROOT / "tests" / "agent" / "eval" / "tickets.jsonl"
POLL_INTERVAL_S = 0.1
_SERIAL = itertools.count(1)
SCALE_OUT_WARMUP_S = 15.0


def messages() -> list[dict]:
    """Form submissions made from the eval tickets (those the form would accept)."""
    forms = []
    for line in TICKETS.read_text().splitlines():
        t = json.loads(line)
        text = t["message"].strip()
        if len(text) < 10:
            continue
        subject = t["subject"].strip()
        forms.append({
            "name": t.get("customer_name") or "Bench Customer",
            "subject": subject if len(subject) >= 5 else "Question about Flowboard",
            "category": "general",
            "message": text[:4980],  # room for the serial added per send
        })
    # A fixed shuffle: the file is grouped by kind (answerable first, escalations later) and
    # any run of a few dozen messages should carry the whole mix.
    random.Random(7).shuffle(forms)
    return forms


@dataclass
class Sample:
    submitted: datetime
    replied: datetime | None = None

    @property
    def latency_s(self) -> float:
        return (self.replied - self.submitted).total_seconds()


@dataclass
class LevelResult:
    senders: int
    duration_s: float
    replicas: int = 1  # of the worker and of the agent
    again: bool = False  # the one-replica run after the scale-out (same level, same hour)
    samples: list[Sample] = field(default_factory=list)
    submit_errors: int = 0
    timeouts: int = 0
    agent_ms: list[float] = field(default_factory=list)  # AgentService.Respond, as recorded
    delivered_s: list[float] = field(default_factory=list)  # submit → dispatcher delivered
    cpu: dict[str, float] = field(default_factory=dict)  # CPU-seconds in the sending window
    rpcs: dict[str, float] = field(default_factory=dict)  # gRPC calls answered in it, by method

    @property
    def label(self) -> str:
        return f"x{self.replicas}" + (" again" if self.again else "")

    @property
    def latencies(self) -> list[float]:
        return [s.latency_s for s in self.samples if s.replied]

    def replies_in_window(self, started: datetime) -> int:
        return sum(1 for s in self.samples
                   if s.replied and (s.replied - started).total_seconds() <= self.duration_s)

    def throughput(self, started: datetime) -> float:
        """Replies recorded inside the submission window, per second of it."""
        return self.replies_in_window(started) / self.duration_s

    def cpu_ms_per_reply(self, started: datetime) -> dict[str, float]:
        """Each process's CPU in the sending window per reply recorded in it."""
        n = self.replies_in_window(started)
        return {k: v * 1000 / n for k, v in self.cpu.items() if k not in ("wall", "box")} if n else {}

    def rpcs_per_reply(self, started: datetime) -> dict[str, float]:
        """gRPC calls the services answered in the sending window per reply recorded in it."""
        n = self.replies_in_window(started)
        return {k: v / n for k, v in self.rpcs.items() if v} if n else {}

    def replies_per_cpu_second(self, started: datetime) -> float:
        """Replies recorded in the window per CPU-second the whole pipeline used in it."""
        pipeline = sum(v for k, v in self.cpu.items() if k not in ("wall", "box"))
        return self.replies_in_window(started) / pipeline if pipeline else float("nan")

    def busy_cores(self) -> tuple[float, float]:
        """(cores the pipeline kept busy, cores the whole box was busy — other work included)."""
        if not self.cpu:
            return float("nan"), float("nan")
        wall = self.cpu["wall"]
        pipeline = sum(v for k, v in self.cpu.items() if k not in ("wall", "box"))
        return pipeline / wall, self.cpu["box"] / wall


class ReplyWatcher:
    """One database poller for every waiting sender."""

    def __init__(self, admin_dsn: str) -> None:
        self._dsn = admin_dsn
        self._waiting: dict[uuid.UUID, asyncio.Future[datetime]] = {}
        self._task: asyncio.Task | None = None
        self._conn: asyncpg.Connection | None = None
        self.backend_pid: int | None = None  # its PostgreSQL backend: the bench's, not the pipeline's

    async def __aenter__(self) -> Self:
        self._conn = await asyncpg.connect(self._dsn)
        self.backend_pid = await self._conn.fetchval("SELECT pg_backend_pid()")
        self._task = asyncio.create_task(self._poll())
        return self

    async def __aexit__(self, *exc) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self._conn.close()

    def wait(self, ticket_id: str) -> asyncio.Future[datetime]:
        fut = asyncio.get_running_loop().create_future()
        self._waiting[uuid.UUID(ticket_id)] = fut
        return fut

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_INTERVAL_S)
            for tid in [t for t, f in self._waiting.items() if f.done()]:
                del self._waiting[tid]
            if not self._waiting:
                continue
            rows = await self._conn.fetch(
                """SELECT ticket_id, min(create_time) AS replied FROM conversation.messages
                    WHERE direction = 'outbound' AND ticket_id = ANY($1::uuid[])
                    GROUP BY ticket_id""",
                list(self._waiting),
            )
            for r in rows:
                fut = self._waiting.pop(r["ticket_id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(r["replied"])

    async def details(self, ticket_ids: list[str]) -> list[asyncpg.Record]:
        return await self._conn.fetch(
            """SELECT ticket_id, min(latency_ms) AS agent_ms,
                      min(delivery_update_time) FILTER (WHERE delivery_status IN ('sent', 'delivered'))
                          AS delivered
                 FROM conversation.messages
                WHERE direction = 'outbound' AND ticket_id = ANY($1::uuid[])
                GROUP BY ticket_id""",
            [uuid.UUID(t) for t in ticket_ids],
        )


async def _sender(http: httpx.AsyncClient, watcher: ReplyWatcher, forms, result: LevelResult,
                  tickets: list[tuple[str, Sample]], stop_at: float, reply_timeout: float,
                  budget: list[int] | None) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < stop_at:
        if budget is not None:
            if budget[0] <= 0:
                return
            budget[0] -= 1
        form = next(forms)
        # A text of its own each time, as customers write: the agent remembers the vectors of
        # texts it embedded recently, and a repeated message would measure that memory.
        form = {**form, "email": f"e2e-{uuid.uuid4().hex[:12]}@example.com",
                "message": f"{form['message']} (#{next(_SERIAL)})"}
        sample = Sample(datetime.now(UTC))
        try:
            r = await http.post("/support/submit", json=form)
        except httpx.HTTPError:
            r = None
        if r is None or r.status_code != 202:
            result.submit_errors += 1
            await asyncio.sleep(0.5)
            continue
        ticket_id = r.json()["ticket_id"]
        try:
            sample.replied = await asyncio.wait_for(watcher.wait(ticket_id), reply_timeout)
        except TimeoutError:
            result.timeouts += 1
        result.samples.append(sample)
        tickets.append((ticket_id, sample))


async def run_level(edge_url: str, watcher: ReplyWatcher, forms, senders: int,
                    duration_s: float, reply_timeout: float,
                    count: int | None = None,
                    meter: CpuMeter | None = None,
                    profile_dir: Path | None = None,
                    replicas: int = 1, again: bool = False) -> tuple[LevelResult, datetime]:
    """`senders` closed loops for `duration_s` (or until `count` messages were sent); with
    `profile_dir`, a flame graph of each Python process of the pipeline over the window."""
    budget = None if count is None else [count]
    result = LevelResult(senders, duration_s, replicas, again)
    tickets: list[tuple[str, Sample]] = []
    loop = asyncio.get_running_loop()
    started = datetime.now(UTC)
    stop_at = loop.time() + duration_s
    cpu_task = (asyncio.create_task(_cpu_in_window(meter, duration_s, result, watcher.backend_pid))
                if meter else None)
    flames = (profile.recording(meter.python_pids(), profile_dir) if meter and profile_dir
              else contextlib.nullcontext([]))
    limits = httpx.Limits(max_connections=senders, max_keepalive_connections=senders)
    async with flames as written, httpx.AsyncClient(
            base_url=edge_url, timeout=30, limits=limits,
            headers={"baggage": "synthetic_request=true"}) as http:
        tasks = [asyncio.create_task(
            _sender(http, watcher, forms, result, tickets, stop_at, reply_timeout, budget))
            for _ in range(senders)]
        label = f"c={senders}" + (f" {result.label}" if replicas > 1 or again else "")
        while not all(t.done() for t in tasks):
            await asyncio.wait(tasks, timeout=5)
            lat = result.latencies
            phase = "sending" if loop.time() < stop_at else "draining"
            progress("e2e", (
                f"{label:<5} {phase:<8} {(datetime.now(UTC) - started).total_seconds():5.1f}s  "
                f"replies {len(lat):4d}  p50 {percentile(lat, 50):5.2f}s  "
                f"p95 {percentile(lat, 95):5.2f}s  errors {result.submit_errors}  "
                f"timeouts {result.timeouts}"
            ))
        for t in tasks:
            t.result()  # surface a crashed sender
    if cpu_task:
        await cpu_task
    if profile_dir:
        progress("e2e", f"{label}: {len(written)} flame graphs in {profile_dir}")
    if tickets:
        by_id = {tid: s for tid, s in tickets}
        for row in await watcher.details(list(by_id)):
            sample = by_id[str(row["ticket_id"])]
            if row["agent_ms"] is not None:
                result.agent_ms.append(float(row["agent_ms"]))
            if row["delivered"] is not None:
                result.delivered_s.append((row["delivered"] - sample.submitted).total_seconds())
    return result, started


def rpcs_line(per_reply: dict[str, float]) -> str:
    """"10.0 (ConversationService/RecordOutbound 2.0, ...)", most called first."""
    calls = sorted(per_reply.items(), key=lambda kv: (-kv[1], kv[0]))
    return f"{sum(per_reply.values()):.1f} (" + ", ".join(f"{k} {v:.1f}" for k, v in calls) + ")"


async def _cpu_in_window(meter: CpuMeter, duration_s: float, result: LevelResult,
                         poller_backend: int | None) -> None:
    before, calls = meter.reading(), await meter.rpc_calls()
    poller0 = cpu_seconds(poller_backend) if poller_backend else 0.0
    await asyncio.sleep(duration_s)
    result.cpu = CpuMeter.delta(before, meter.reading())
    if poller_backend and "postgres" in result.cpu:
        # The reply poller's queries are the bench's work, not the pipeline's (~0.3 ms of
        # PostgreSQL's CPU per reply at 50 senders): left out of PostgreSQL's figure.
        poller = cpu_seconds(poller_backend) - poller0
        if not math.isnan(poller):
            result.cpu["postgres"] -= poller
    result.rpcs = CpuMeter.calls_delta(calls, await meter.rpc_calls())


@dataclass
class EndToEndResult:
    levels: list[tuple[LevelResult, datetime]]


async def warm_up(edge_url: str, watcher: ReplyWatcher, count: int, reply_timeout: float) -> None:
    """First messages pay lazy start-up costs (connections, model warm-up): not measured."""
    forms = itertools.cycle(messages()[::-1])
    level, _ = await run_level(edge_url, watcher, forms, 1, 10 * reply_timeout, reply_timeout,
                               count=count)
    progress("e2e", f"warm-up: {len(level.latencies)} replies, "
                    f"{', '.join(f'{x:.2f}s' for x in level.latencies)}")


async def run(edge_url: str, admin_dsn: str, levels: list[tuple[int, float]],
              reply_timeout: float = 120, warmup: int = 3,
              meter: CpuMeter | None = None, profile_dir: Path | None = None,
              scale_out=None, scale_in=None) -> EndToEndResult:
    """The levels in turn; then, with `scale_out` (an async callable that starts the extra
    replicas and returns the CpuMeter covering them), the last level again on 2 replicas, and
    with `scale_in` (which stops them again) once more on one: the box's speed drifts within
    minutes, so x2 is set against the one-replica runs on either side of it."""
    out = EndToEndResult([])
    async with ReplyWatcher(admin_dsn) as watcher:
        await warm_up(edge_url, watcher, warmup, reply_timeout)
        runs = [(senders, duration, 1, None) for senders, duration in levels]
        if scale_out is not None and levels:
            runs.append((*levels[-1], 2, scale_out))
            if scale_in is not None:
                runs.append((*levels[-1], 1, scale_in))
        for senders, duration, replicas, rescale in runs:
            again = rescale is not None and replicas == 1
            if rescale is not None:
                progress("e2e", "stopping the second worker and agent" if again
                         else "starting a second worker and a second agent")
                meter = await rescale()
                # The new processes' caches (sentence vectors, models) fill as the first ones'
                # did on the levels before: unmeasured traffic at the same load first.
                await run_level(edge_url, watcher, itertools.cycle(messages()[::-1]), senders,
                                SCALE_OUT_WARMUP_S, reply_timeout)
            progress("e2e", f"{senders} concurrent sender(s) for {duration:.0f}s"
                            + (f", worker and agent x{replicas}" if replicas > 1 else "")
                            + (", one of each again" if again else ""))
            level, started = await run_level(
                edge_url, watcher, itertools.cycle(messages()), senders, duration, reply_timeout,
                meter=meter, replicas=replicas, again=again,
                profile_dir=(profile_dir / f"e2e-c{senders}x{replicas}{'-again' if again else ''}"
                             if profile_dir else None))
            out.levels.append((level, started))
            per_reply = level.cpu_ms_per_reply(started)
            if per_reply:
                pipeline, box = level.busy_cores()
                progress("e2e", f"c={senders} {level.label} CPU per reply: " + ", ".join(
                    f"{k} {v:.0f} ms" for k, v in sorted(per_reply.items(), key=lambda kv: -kv[1]))
                    + f" | busy cores: pipeline {pipeline:.2f}, whole box {box:.2f}")
                progress("e2e", f"c={senders} {level.label} gRPC calls per reply: "
                         + rpcs_line(level.rpcs_per_reply(started)))
    return out
