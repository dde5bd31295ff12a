"""`python -m tests.bench` (`make bench`): performance figures of the whole pipeline, printed
side by side. Nothing is asserted; see tests/bench/README.md for what each figure means.

Own stack under .data/bench-stack on free ports (wiped at start, stopped at the end), the
pipeline as real processes, the offline model. Run order is chosen so phases do not disturb
each other; the table is printed in figure order:

  1. knowledge search on the real base            (pipeline idle)
  2. end to end at 1, 10, 50 closed-loop senders  (the whole pipeline)
  3. optional Locust run                          (the whole pipeline)
  4. edge vs no-op app (and no-op + span)         (worker and dispatcher stopped first, so the
                                                   thousands of submissions are not answered)
  5. knowledge base grown to 10,000, search again
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import os
import re
import signal
import sys
import time
from pathlib import Path

from devstack import REPO_ROOT
from devstack import kafka as devkafka
from devstack import postgres as devpostgres
from devstack.migrate import service_dsn
from tests.access_services import create_key
from tests.bench import edge as edge_bench
from tests.bench import end_to_end, knowledge
from tests.bench.stack import (
    BENCH_DATA_ROOT,
    BENCH_LOG_DIR,
    bench_lock,
    bench_pipeline,
    bench_stack,
    scale_in,
    scale_out,
)
from tests.bench.stats import CpuMeter, fmt, ms, percentile, progress, table
from tests.e2e.pipeline import metrics_address


def _levels(text: str) -> list[tuple[int, float]]:
    """"1:30,10:45,50:60" → [(1, 30.0), (10, 45.0), (50, 60.0)] (senders:seconds)."""
    out = []
    for part in text.split(","):
        senders, _, seconds = part.partition(":")
        out.append((int(senders), float(seconds)))
    return out


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default="edge,e2e,search",
                   help="comma-separated phases to run: edge, e2e, search (default: all)")
    p.add_argument("--edge-requests", type=int, default=2000)
    p.add_argument("--edge-concurrency", type=int, default=32)
    p.add_argument("--edge-warmup", type=int, default=200)
    p.add_argument("--edge-rounds", type=int, default=2,
                   help="alternating no-op / no-op with span / edge rounds; the table shows each one's best")
    p.add_argument("--e2e-levels", type=_levels, default=_levels("1:30,10:45,50:60"),
                   help="senders:seconds,... (default 1:30,10:45,50:60)")
    p.add_argument("--e2e-reply-timeout", type=float, default=120.0)
    p.add_argument("--no-scale-out", action="store_true",
                   help="skip the last level's second run with the worker and agent at 2 replicas")
    p.add_argument("--kb-small", type=int, default=100,
                   help="also search a base of this many real articles (0: skip; default 100)")
    p.add_argument("--kb-sizes", default="10000",
                   help="knowledge-base sizes to grow to after the real base (default 10000)")
    p.add_argument("--search-calls", type=int, default=200)
    p.add_argument("--no-embedding-cache", action="store_true",
                   help="embed the synthetic articles even if their vectors are cached")
    p.add_argument("--locust", default="", metavar="DURATION",
                   help="also run tests/load/locustfile.py headless for DURATION (e.g. 60s) "
                        "against the bench pipeline, 20 users spawned 5/s")
    p.add_argument("--profile", action="store_true",
                   help="py-spy flame graphs of every pipeline process during each e2e level "
                        "and the edge phase, under artifacts/bench/flame/<time>/")
    return p.parse_args(argv)


async def _stop_consumers(pipe) -> None:
    """The edge phase publishes thousands of submissions nobody should answer: the workers
    and the dispatcher (replicas of the scale-out step included) stop first, so their CPU
    stays out of the edge's figures and of the search figures after it too."""
    for name in list(pipe.procs):
        if name.startswith(("worker", "dispatcher")) and pipe.procs[name].returncode is None:
            await pipe.kill(name, signal.SIGTERM)


async def _locust(edge_url: str, duration: str) -> str:
    """Runs the Locust file headless; returns its final request-stats table."""
    locust = REPO_ROOT / ".venv" / "bin" / "locust"
    if not locust.exists():
        return "locust not installed (.venv/bin/pip install locust==2.47.0)"
    progress("locust", f"locust -u 20 -r 5 -t {duration} against {edge_url}")
    BENCH_LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = BENCH_LOG_DIR / "locust.txt"
    log = log_path.open("wb")
    try:
        proc = await asyncio.create_subprocess_exec(
            str(locust), "-f", str(REPO_ROOT / "tests" / "load" / "locustfile.py"), "--headless",
            "-u", "20", "-r", "5", "-t", duration, "--host", edge_url, "--only-summary",
            "--stop-timeout", "5", cwd=REPO_ROOT, stdin=asyncio.subprocess.DEVNULL,
            stdout=log, stderr=asyncio.subprocess.STDOUT,
        )
    finally:
        log.close()
    started = time.monotonic()
    while True:
        try:
            await asyncio.wait_for(proc.wait(), 10)
            break
        except TimeoutError:
            progress("locust", f"running, {time.monotonic() - started:.0f}s")
    text = log_path.read_text(errors="replace")
    # The last stats table Locust prints: from its "Type Name" header to "Aggregated".
    lines = text.splitlines()
    heads = [i for i, line in enumerate(lines) if re.match(r"\s*Type\s+Name\s+# reqs", line)]
    if not heads:
        return text[-2000:]
    end = next((i for i in range(heads[-1], len(lines)) if "Aggregated" in lines[i]), len(lines) - 1)
    return "\n".join("  " + line for line in lines[heads[-1] : end + 1])


# Before issue 18, on this machine (`make bench` at abeaff2, artifacts/bench/baseline-abeaff2.txt):
# the figures the targets are set against.
BEFORE = {"replies_per_s": 11.07, "cpu_ms_per_reply": 165.0, "edge_vs_noop": 0.15,
          "search_sql_p95_ms_10k": 58.7, "search_grpc_p95_ms_10k": 79.0}
TARGETS = {"cpu_ms_per_reply": 40.0, "p95_s_10": 0.5, "p95_s_50": 2.0,
           "replies_per_s": 3 * 10.8, "edge_vs_noop": 0.5,
           "search_sql_p95_ms_10k": 10.0, "search_grpc_p95_ms_10k": 25.0}


def _print_results(args, kb_real, kb_big, grown, e2e, edge, locust_summary) -> None:
    print()
    print("=" * 100)
    print(f"Flowboard Support FTE — bench results ({os.cpu_count()} cores; figures, not assertions)")
    print("box busy = cores the whole machine (other people's work included) was busy meanwhile")
    print("=" * 100)
    if edge:
        noop, traced, real = (edge.best(name) for name in
                              (edge_bench.NOOP, edge_bench.NOOP_TRACED, edge_bench.EDGE))
        print(f"\n1. Edge: POST /support/submit, {edge.requests} requests at concurrency "
              f"{edge.concurrency} (best of {args.edge_rounds} alternating rounds; separate "
              f"load-generator process)")
        rows = [("server", "req/s", "p50", "p99", "server CPU/req", "Kafka broker CPU/req",
                 "box busy", "non-2xx")]
        for name, r in (("no-op FastAPI", noop), ("no-op + server span", traced), ("edge", real)):
            bad = sum(v for k, v in r.statuses.items() if not k.startswith("2")) + sum(r.errors.values())
            rows.append((name, fmt(r.rps, "", 0), ms(r.p50_s), ms(r.p99_s),
                         fmt(r.server_cpu_ms_per_req, " ms", 2),
                         fmt(r.broker_cpu_ms_per_req, " ms", 2) if r is real else "",
                         f"{r.box_busy:.2f}", str(bad)))
        for name, r in (("no-op + span / no-op", traced), ("edge / no-op", real)):
            rows.append((name, f"{r.rps / noop.rps:.2f}x", f"{r.p50_s / noop.p50_s:.1f}x",
                         f"{r.p99_s / noop.p99_s:.1f}x",
                         f"{r.server_cpu_ms_per_req / noop.server_cpu_ms_per_req:.1f}x", "", "", ""))
        table(rows)
        # What 0.5x leaves the edge once its server span is paid: CPU per request is what
        # bounds a one-process server's req/s (each serves on one core).
        budget = 2 * noop.server_cpu_ms_per_req
        span_ms = traced.server_cpu_ms_per_req
        print(f"  {TARGETS['edge_vs_noop']}x the no-op is ~{fmt(budget, ' ms', 2)} of CPU per "
              f"request; the server span alone brings the no-op to {fmt(span_ms, ' ms', 2)}, "
              f"leaving {fmt(budget - span_ms, ' ms', 2)} for all the edge's own work (publish, "
              f"limits, metrics; {fmt(real.server_cpu_ms_per_req - span_ms, ' ms', 2)} as served)")
    if e2e:
        print("\n2. End to end (offline model): submit → reply recorded, closed-loop senders")
        rows = [("senders", "worker+agent", "window", "replies", "p50", "p95", "replies/s",
                 "replies/CPU-s", "agent Respond p50", "delivered p95", "CPU/reply", "busy cores",
                 "timeouts", "submit errors")]
        details, calls = [], []
        for level, started in e2e.levels:
            lat = level.latencies
            per_reply = level.cpu_ms_per_reply(started)
            pipeline, box = level.busy_cores()
            rows.append((str(level.senders), level.label, f"{level.duration_s:.0f}s",
                         str(len(lat)),
                         fmt(percentile(lat, 50), " s", 2), fmt(percentile(lat, 95), " s", 2),
                         fmt(level.throughput(started), "", 2),
                         fmt(level.replies_per_cpu_second(started), "", 2),
                         fmt(percentile(level.agent_ms, 50) / 1000, " s", 2),
                         fmt(percentile(level.delivered_s, 95), " s", 2),
                         fmt(sum(per_reply.values()), " ms", 0) if per_reply else "—",
                         f"{pipeline:.2f} / {box:.2f}",
                         str(level.timeouts), str(level.submit_errors)))
            if per_reply:
                details.append(f"  c={level.senders} {level.label}: " + ", ".join(
                    f"{k} {v:.0f}" for k, v in sorted(per_reply.items(), key=lambda kv: -kv[1])))
            if level.rpcs:
                calls.append(f"  c={level.senders} {level.label}: "
                             + end_to_end.rpcs_line(level.rpcs_per_reply(started)))
        table(rows)
        print("  CPU/reply: CPU-ms all pipeline processes (incl. Kafka and PostgreSQL, less the "
              "bench's reply poller's backend) used in the\n  window per reply recorded in it; "
              "replies/CPU-s: replies per CPU-second of all of them; busy cores: "
              "pipeline / whole box (other people's work included) out of "
              f"{os.cpu_count()}. CPU-ms per reply by process:")
        print("\n".join(details))
        if calls:
            print("  gRPC calls the services answered in the window per reply (health checks left out):")
            print("\n".join(calls))
    if kb_real:
        print("\n3. Knowledge search: KnowledgeService.Search over gRPC (k=3, min_score=0.42, "
              "sequential, queries = eval tickets); SQL = the store's queries alone, today's "
              "and before issue 18;\n   hit@3 = share of labelled questions (dev: the sets "
              "tuned on; blind: never tuned on) with an expected article in the top 3, "
              "today / before")
        rows = [("articles", "searches", "gRPC p50", "gRPC p95", "SQL p50", "SQL p95",
                 "SQL before p50", "SQL before p95", "hit@3 dev", "hit@3 blind",
                 "no hit ≥ 0.42", "box busy")]
        for r in [*kb_real, *kb_big]:
            rows.append((f"{r.articles:,}", str(r.calls), ms(r.p50), ms(r.p95),
                         ms(percentile(r.sql_s, 50)), ms(percentile(r.sql_s, 95)),
                         ms(percentile(r.before_s, 50)), ms(percentile(r.before_s, 95)),
                         *(f"{h.after:.3f} / {h.before:.3f} (n={h.questions})"
                           for h in (r.hit_at_3["dev"], r.hit_at_3["blind"])),
                         str(r.empty), f"{r.box_busy:.2f}"))
        table(rows)
        if grown:
            how = (f"{grown.embedded} embedded at {grown.embedded / grown.embed_seconds:.0f} texts/s"
                   if grown.embedded else "vectors from .cache/bench (real embeddings, cached)")
            print(f"  growing the base: {grown.added} synthetic articles, {how}, "
                  f"written in {grown.write_seconds:.0f}s")
    if locust_summary:
        print("\n4. Locust (tests/load/locustfile.py, 20 users) against the bench pipeline")
        print(locust_summary)
    print()


def _figures(kb_big, e2e, edge) -> list[tuple[str, float, str, bool]]:
    """(figure, value, target, met) — one line each in the summary."""
    out = []
    if edge:
        ratio = edge.best(edge_bench.EDGE).rps / edge.best(edge_bench.NOOP).rps
        out.append(("edge req/s vs the no-op endpoint", ratio,
                    f"≥ {TARGETS['edge_vs_noop']}x (before {BEFORE['edge_vs_noop']}x)",
                    ratio >= TARGETS["edge_vs_noop"]))
    if e2e:
        single = [(lvl, t) for lvl, t in e2e.levels if lvl.replicas == 1 and not lvl.again]
        for senders, key in ((10, "p95_s_10"), (50, "p95_s_50")):
            for lvl, _ in single:
                if lvl.senders == senders:
                    p95 = percentile(lvl.latencies, 95)
                    out.append((f"reply p95 at {senders} senders (s)", p95,
                                f"≤ {TARGETS[key]} s", p95 <= TARGETS[key]))
        if single:
            best = max(lvl.throughput(t) for lvl, t in single)
            out.append(("replies/s (best level, 1 replica)", best,
                        f"≥ {TARGETS['replies_per_s']:.1f} (3x 10.8; before {BEFORE['replies_per_s']})",
                        best >= TARGETS["replies_per_s"]))
            lvl, t = single[-1]
            cpu = sum(lvl.cpu_ms_per_reply(t).values())
            out.append((f"CPU-ms per reply, pipeline (c={lvl.senders})", cpu,
                        f"≤ {TARGETS['cpu_ms_per_reply']:.0f} ms (before {BEFORE['cpu_ms_per_reply']:.0f})",
                        cpu <= TARGETS["cpu_ms_per_reply"]))
        scaled = [(lvl, t) for lvl, t in e2e.levels if lvl.replicas > 1]
        if single and scaled:
            # x2 against the mean of the one-replica runs before and after it (when there is
            # one after): the box's drift over those minutes cancels out.
            ones = [single[-1], *[(lvl, t) for lvl, t in e2e.levels if lvl.again]]
            two, t2 = scaled[-1]
            each = [lvl.replies_per_cpu_second(t) for lvl, t in ones]
            a, b = sum(each) / len(each), two.replies_per_cpu_second(t2)
            x1 = " / ".join(f"{x:.2f}" for x in each)
            out.append(("replies per CPU-second, x2 vs x1 replicas", b / a,
                        f"≥ 1.0 (x1 {x1}{' before / after' if len(each) > 1 else ''}, x2 {b:.2f};"
                        f" replies/s x1 {' / '.join(f'{lvl.throughput(t):.1f}' for lvl, t in ones)},"
                        f" x2 {two.throughput(t2):.1f})", b / a >= 1.0))
    for r in kb_big:
        sql, grpc_p95 = percentile(r.sql_s, 95) * 1000, r.p95 * 1000
        out.append((f"search SQL p95 at {r.articles:,} articles (ms)", sql,
                    f"≤ {TARGETS['search_sql_p95_ms_10k']:.0f} ms (before, same run: "
                    f"{percentile(r.before_s, 95) * 1000:.1f})", sql <= TARGETS["search_sql_p95_ms_10k"]))
        out.append((f"search gRPC p95 at {r.articles:,} articles (ms)", grpc_p95,
                    f"≤ {TARGETS['search_grpc_p95_ms_10k']:.0f} ms (before {BEFORE['search_grpc_p95_ms_10k']})",
                    grpc_p95 <= TARGETS["search_grpc_p95_ms_10k"]))
        for kind, h in r.hit_at_3.items():
            out.append((f"hit@3 {kind} at {r.articles:,} articles", h.after,
                        f"≥ before, same run ({h.before:.3f})", h.after >= h.before))
    return out


def _summary(figures) -> None:
    print("Figures against the targets of issue 18:")
    for name, value, target, met in figures:
        print(f"  {'ok  ' if met else 'MISS'}  {name:<48} {value:>9.3f}   target {target}")
    print()


def _write_json(args, kb_real, kb_big, grown, e2e, edge, figures) -> Path:
    def plain(obj):
        if dataclasses.is_dataclass(obj):
            return {k: plain(v) for k, v in dataclasses.asdict(obj).items()}
        if isinstance(obj, dict):
            return {str(k): plain(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [plain(v) for v in obj]
        if isinstance(obj, float) and math.isnan(obj):
            return None
        if hasattr(obj, "isoformat"):
            return obj.isoformat()
        return obj

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = REPO_ROOT / "artifacts" / "bench" / f"bench-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    commit = os.popen(f"git -C {REPO_ROOT} rev-parse --short HEAD 2>/dev/null").read().strip()
    path.write_text(json.dumps(plain({
        "time": stamp, "commit": commit, "cores": os.cpu_count(), "args": vars(args),
        "before": BEFORE, "targets": TARGETS,
        "figures": [{"figure": n, "value": v, "target": t, "met": m} for n, v, t, m in figures],
        "edge": edge, "end_to_end": e2e, "search": [*(kb_real or []), *kb_big], "grown": grown,
    }), indent=1))
    return path


async def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    phases = {p.strip() for p in args.only.split(",") if p.strip()}
    unknown = phases - {"edge", "e2e", "search"}
    if unknown:
        raise SystemExit(f"unknown phase(s): {', '.join(sorted(unknown))}")
    sizes = [int(s) for s in args.kb_sizes.split(",") if s.strip()]
    started = time.monotonic()
    flame_dir = (REPO_ROOT / "artifacts" / "bench" / "flame" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
                 if args.profile else None)
    kb_real = edge = e2e = grown = None
    kb_big: list = []
    locust_summary = ""
    with bench_lock():
        progress("stack", "starting the bench stack (.data/bench-stack, free ports)")
        async with bench_stack() as endpoints:
            progress("stack", f"PostgreSQL + Kafka up; seeding the knowledge base, starting "
                              f"the pipeline (logs: {BENCH_LOG_DIR.relative_to(REPO_ROOT)})")
            async with bench_pipeline(endpoints) as pipe:
                progress("stack", f"pipeline up, edge at {pipe.edge_url}")
                viewer_key = await create_key(service_dsn(endpoints.admin_dsn, "access"), "viewer", "bench")
                if "search" in phases:
                    kb_real, _ = await knowledge.run(
                        endpoints.admin_dsn, pipe.address("agent"),
                        sizes=[args.kb_small, 0] if args.kb_small else [0],
                        calls=args.search_calls, use_cache=not args.no_embedding_cache,
                        api_key=viewer_key)
                if "e2e" in phases:
                    async def scaled() -> CpuMeter:
                        await scale_out(pipe)
                        return _meter(pipe)

                    async def unscaled() -> CpuMeter:
                        await scale_in(pipe)
                        return _meter(pipe)

                    e2e = await end_to_end.run(pipe.edge_url, endpoints.admin_dsn,
                                               args.e2e_levels, args.e2e_reply_timeout,
                                               meter=_meter(pipe), profile_dir=flame_dir,
                                               scale_out=None if args.no_scale_out else scaled,
                                               scale_in=None if args.no_scale_out else unscaled)
                if args.locust:
                    locust_summary = await _locust(pipe.edge_url, args.locust)
                if "edge" in phases:
                    await _stop_consumers(pipe)
                    broker_pid = _broker_pid()
                    edge = await edge_bench.run(
                        pipe.edge_url, pipe.procs["edge"].pid, broker_pid,
                        requests=args.edge_requests, concurrency=args.edge_concurrency,
                        warmup=args.edge_warmup, rounds=args.edge_rounds,
                        profile_dir=flame_dir / "edge" if flame_dir else None)
                if "search" in phases and sizes:
                    kb_big, grown = await knowledge.run(
                        endpoints.admin_dsn, pipe.address("agent"), sizes=sizes,
                        calls=args.search_calls, use_cache=not args.no_embedding_cache,
                        api_key=viewer_key)
            progress("stack", "pipeline stopped; stopping the bench stack")
    _print_results(args, kb_real, kb_big, grown, e2e, edge, locust_summary)
    figures = _figures(kb_big, e2e, edge)
    _summary(figures)
    progress("done", f"full result: {_write_json(args, kb_real, kb_big, grown, e2e, edge, figures).relative_to(REPO_ROOT)}")
    progress("done", f"bench took {(time.monotonic() - started) / 60:.1f} min")
    return 0


def _meter(pipe) -> CpuMeter:
    """CPU of every pipeline process (replicas as they are now), the broker and PostgreSQL."""
    running = {name: proc.pid for name, proc in pipe.procs.items() if proc.returncode is None}
    return CpuMeter(running | ({"kafka": _broker_pid()} if _broker_pid() else {}), _postmaster_pid(),
                    [metrics_address(p) for p in pipe.processes if p.name in running])


def _postmaster_pid() -> int | None:
    return devpostgres.running_pid(devpostgres.PostgresConfig(data_dir=BENCH_DATA_ROOT / "postgres"))


def _broker_pid() -> int | None:
    return devkafka.running_pid(devkafka.KafkaConfig(data_dir=BENCH_DATA_ROOT / "kafka"))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(main()))
    sys.exit(130)
