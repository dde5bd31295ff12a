"""An overload run: the Locust users of tests/load/locustfile.py, N of them for T seconds, against
an edge; the answer sorted into what the edge accepted, what it refused on purpose and what failed.

    python -m tests.load.overload --host http://127.0.0.1:8080 --users 1000 --duration 60

prints one JSON object (`run_overload` returns the same dict, for the soak and the bench):

- `submit` / `poll`: per kind of request, `accepted` (202 / 200), `refused` (503 or 429 with a
  `Retry-After`: the edge said "not now, come back", nothing was taken), `failed` (no HTTP answer
  at all — reset, refused or closed connection, status 0 in Locust — or a 5xx that is not such
  a refusal), `other` (any other status, e.g. a 4xx), `statuses`, and latency percentiles of the
  accepted ones and of the refusals (a refusal should cost next to nothing).
- `errors`: the connection-level failures by exception, which is how the cause of "HTTP 0" shows;
  `answers`: the first body of each status that was not accepted.
- `replies_seen`: the pollers' "submit → reply seen" (only when a pipeline answers).
- `ticket_ids` (with `--ticket-ids`): every accepted submission's ticket id, so a caller can check
  in the database that each one was answered once.
- `client_cpu_s`, `load_average`: what the run cost this process, and how busy the box was.

Locust runs in a process of its own (the CLI above): it monkey-patches the standard library with
gevent on import, which must not happen inside pytest's or the bench's asyncio process.
`run_overload` starts that process and reads its JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from devstack import REPO_ROOT

# Status codes a deliberate refusal uses; with a Retry-After header they are "come back later".
REFUSAL_STATUSES = (429, 503)


def _env() -> dict[str, str]:
    paths = [str(REPO_ROOT), str(REPO_ROOT / "gen" / "python")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYTHONUNBUFFERED": "1"}


async def run_overload(host: str, users: int, duration_s: float, *, spawn_rate: float | None = None,
                       ticket_ids: bool = False, stop_timeout_s: float = 30) -> dict:
    """Runs the CLI below in a process of its own and returns its JSON result."""
    # Imported here: asyncio brings ssl in, which the CLI's process must leave for gevent to
    # patch first (Locust warns, and requests over TLS can recurse, when ssl came before it).
    import asyncio

    args = [str(REPO_ROOT / ".venv" / "bin" / "python"), "-m", "tests.load.overload", "--host", host,
            "--users", str(users), "--duration", str(duration_s), "--stop-timeout", str(stop_timeout_s)]
    if spawn_rate:
        args += ["--spawn-rate", str(spawn_rate)]
    if ticket_ids:
        args.append("--ticket-ids")
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=REPO_ROOT, env=_env(), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"overload run failed ({proc.returncode}): {err.decode()[-3000:]}")
    return json.loads(out.decode().strip().splitlines()[-1])


def classify(status: int, headers) -> str:
    """accepted | refused | failed | other, for one answer (status 0: no answer at all)."""
    if 200 <= status < 300:
        return "accepted"
    if status in REFUSAL_STATUSES and headers is not None and headers.get("Retry-After"):
        return "refused"
    if status == 0 or status >= 500:
        return "failed"
    return "other"


def _locust_main(args: argparse.Namespace) -> dict:  # pragma: no cover - runs under gevent
    import resource
    from collections import Counter, defaultdict

    import gevent
    from locust import events
    from locust.env import Environment

    from tests.bench.stats import percentile
    from tests.load import locustfile

    kinds = {"POST /support/submit": "submit", "GET /support/ticket/[id]": "poll"}
    outcomes: dict[str, Counter] = defaultdict(Counter)
    statuses: dict[str, Counter] = defaultdict(Counter)
    latencies: dict[tuple[str, str], list[float]] = defaultdict(list)
    errors: Counter[str] = Counter()
    answers: dict[tuple[str, int], str] = {}  # the first body of each status not accepted
    replies: list[float] = []

    def on_request(request_type, name, response_time, response_length, response=None,
                   exception=None, **_):
        if request_type == "REPLY":
            replies.append(response_time / 1000)
            return
        kind = kinds.get(name, name)
        status = getattr(response, "status_code", 0) or 0
        outcome = classify(status, getattr(response, "headers", None))
        outcomes[kind][outcome] += 1
        statuses[kind][str(status)] += 1
        latencies[(kind, outcome)].append(response_time / 1000)
        if status == 0:
            errors[repr(getattr(response, "error", None) or exception)[:200]] += 1
        elif outcome != "accepted" and (kind, status) not in answers:
            answers[(kind, status)] = (getattr(response, "text", "") or "")[:200]

    events.request.add_listener(on_request)
    env = Environment(user_classes=[locustfile.WebFormSubmitter, locustfile.TicketPoller],
                      host=args.host, events=events, stop_timeout=args.stop_timeout)
    runner = env.create_local_runner()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    runner.start(args.users, spawn_rate=args.spawn_rate or max(1.0, args.users / 10))
    gevent.sleep(args.duration)
    # Users finish the request they are in (up to --stop-timeout), so every answer is counted.
    runner.stop()
    runner.quit()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)

    def summary(kind: str) -> dict:
        out = {o: outcomes[kind][o] for o in ("accepted", "refused", "failed", "other")}
        out["statuses"] = dict(sorted(statuses[kind].items()))
        for outcome in ("accepted", "refused"):
            values = latencies[(kind, outcome)]
            if values:
                out[f"{outcome}_p50_s"] = round(percentile(values, 50), 4)
                out[f"{outcome}_p95_s"] = round(percentile(values, 95), 4)
                out[f"{outcome}_max_s"] = round(max(values), 4)
        return out

    result = {
        "host": args.host, "users": args.users, "duration_s": args.duration,
        "submit": summary("submit"), "poll": summary("poll"),
        "errors": dict(errors.most_common(20)),
        "answers": {f"{kind} {status}": text for (kind, status), text in sorted(answers.items())},
        "replies_seen": {"count": len(replies),
                         **({"p95_s": round(percentile(replies, 95), 3)} if replies else {})},
        "client_cpu_s": round((cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime), 2),
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }
    if args.ticket_ids:
        result["ticket_ids"] = list(locustfile.ACCEPTED)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.load.overload", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", required=True, help="the edge, e.g. http://127.0.0.1:8080")
    parser.add_argument("-u", "--users", type=int, default=1000)
    parser.add_argument("-t", "--duration", type=float, default=60, help="seconds of load")
    parser.add_argument("-r", "--spawn-rate", type=float, default=0,
                        help="users started per second (default: all within 10 s)")
    parser.add_argument("--stop-timeout", type=float, default=30,
                        help="seconds users get to finish their request at the end")
    parser.add_argument("--ticket-ids", action="store_true", help="list accepted ticket ids")
    args = parser.parse_args(argv)
    json.dump(_locust_main(args), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
