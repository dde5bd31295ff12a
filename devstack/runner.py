"""Supervises the application processes of `python -m devstack run`.

Each process gets its own environment (its database role, every peer's address), its output
is prefixed with its name, and it counts as up once its port accepts TCP connections.

Once all are up, a process that exits (any code, any signal) is started again, with the same
environment, after a delay that grows with each crash in a row, as the kubelet's
CrashLoopBackOff does; the others keep running. Who runs with which pid, and how often each
was restarted, is kept in a JSON state file for tools (devstack/README.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from devstack import REPO_ROOT, _proc
from devstack.migrate import service_dsn
from devstack.processes import AppProcess
from devstack.stack import Endpoints, data_root
from services.common.retry import RetryPolicy

HOST = "127.0.0.1"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0  # longer than the services' 10 s grace period for in-flight RPCs
_PR_SET_PDEATHSIG = 1


class StartupError(RuntimeError):
    pass


@dataclass(frozen=True)
class RestartPolicy:
    """When a crashed process is started again: the kubelet's CrashLoopBackOff (10 s doubling
    to 5 min, forgotten after 10 min up) scaled down for a laptop, on the project's one backoff
    schedule (RetryPolicy: doubling, with jitter, capped)."""

    backoff: RetryPolicy = field(default_factory=lambda: RetryPolicy(initial_s=1.0, max_s=30.0))
    # A process that stayed up this long had recovered: its next crash starts the schedule over.
    reset_after_s: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> RestartPolicy:
        """FTE_DEVSTACK_BACKOFF_INITIAL_S, _MAX_S and _RESET_S replace the defaults (the tests
        crash processes in a loop and cannot wait 30 s per restart)."""
        default = cls()
        return cls(
            RetryPolicy(initial_s=float(env.get("FTE_DEVSTACK_BACKOFF_INITIAL_S") or default.backoff.initial_s),
                        max_s=float(env.get("FTE_DEVSTACK_BACKOFF_MAX_S") or default.backoff.max_s)),
            float(env.get("FTE_DEVSTACK_BACKOFF_RESET_S") or default.reset_after_s),
        )


def state_path(env: Mapping[str, str] = os.environ) -> Path:
    """FTE_DEVSTACK_STATE, or devstack/processes.json in the stack's data directory."""
    return Path(env.get("FTE_DEVSTACK_STATE") or data_root() / "devstack" / "processes.json")


@dataclass
class _Child:
    spec: AppProcess
    proc: asyncio.subprocess.Process
    output: asyncio.Task[None]


def redact(dsn: str) -> str:
    """A DSN fit for printing: the password replaced by ***."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    userinfo, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{userinfo.partition(':')[0]}:***@{host}"))


def print_table(rows: Sequence[tuple[str, ...]], out=None) -> None:
    out = out or sys.stdout
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n")
    out.flush()


def child_env(spec: AppProcess, processes: Sequence[AppProcess], endpoints: Endpoints,
              base: Mapping[str, str] = os.environ) -> dict[str, str]:
    env = dict(base)
    # An inherited DATABASE_URL is the admin URL: a process gets only its own role's, or none.
    env.pop("DATABASE_URL", None)
    if spec.schema:
        env["DATABASE_URL"] = service_dsn(endpoints.admin_dsn, spec.schema)
    env["KAFKA_BOOTSTRAP_SERVERS"] = endpoints.bootstrap_servers
    env["RATE_LIMIT_STORAGE_URI"] = endpoints.rate_limit_storage_uri
    if endpoints.otlp_endpoint:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoints.otlp_endpoint
    for peer in processes:
        for name in peer.advertise_as:
            env[name] = f"{HOST}:{peer.port}"
    if spec.port is not None:
        env[spec.port_env] = str(spec.port)
    paths = [str(REPO_ROOT), str(REPO_ROOT / "gen" / "python")]
    env["PYTHONPATH"] = os.pathsep.join(paths + [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                                                 if p and p not in paths])
    env["PYTHONUNBUFFERED"] = "1"  # output shows up as it happens, not at exit
    env.update(spec.env)
    return env


def _die_with_parent() -> None:
    """Runs in the child before exec: if the runner itself is killed (SIGKILL, OOM) and cannot
    stop its children, the kernel sends them SIGTERM instead of leaving orphans."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _python() -> str:
    venv_python = REPO_ROOT / ".venv" / "bin" / "python"
    return str(venv_python) if venv_python.exists() else sys.executable


async def _copy_output(name: str, width: int, stream: asyncio.StreamReader, out) -> None:
    prefix = f"{name:<{width}} | "
    async for line in stream:
        out.write(prefix + line.decode(errors="replace").rstrip("\n") + "\n")
        out.flush()


async def _spawn(spec: AppProcess, env: dict[str, str], width: int, out,
                 capture_stdout: bool = False) -> _Child:
    """`capture_stdout`: stdout is left for the caller to read (`proc.stdout`) and only stderr
    is copied, prefixed."""
    if spec.port is not None and _proc.port_open(HOST, spec.port):
        raise StartupError(f"{spec.name}: port {spec.port} is already in use by another process")
    proc = await asyncio.create_subprocess_exec(
        _python(), *spec.args, env=env, cwd=REPO_ROOT,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE if capture_stdout else asyncio.subprocess.STDOUT,
        limit=1 << 20,
        # A group of its own: Ctrl-C reaches only the runner, which stops processes in order;
        # signalling the group also reaches anything the process spawned.
        start_new_session=True, preexec_fn=_die_with_parent,
    )
    shown = proc.stderr if capture_stdout else proc.stdout
    output = asyncio.create_task(_copy_output(spec.name, width, shown, out))
    return _Child(spec, proc, output)


async def _wait_listening(child: _Child, deadline: float) -> None:
    while True:
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection(HOST, child.spec.port)
            writer.close()
            return
        if time.monotonic() > deadline:
            raise StartupError(f"{child.spec.name} did not listen on {HOST}:{child.spec.port} "
                               f"within {READY_TIMEOUT:.0f}s")
        await asyncio.sleep(0.1)


async def _all_listening(children: Sequence[_Child], deadline: float) -> None:
    await asyncio.gather(*(_wait_listening(c, deadline) for c in children if c.spec.port is not None))


async def _stop(child: _Child, out) -> None:
    pid = child.proc.pid
    if child.proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(child.proc.wait(), STOP_TIMEOUT)
        except asyncio.TimeoutError:
            out.write(f"{child.spec.name} ignored SIGTERM for {STOP_TIMEOUT:.0f}s; killing it\n")
    # Also reaps anything the process started and left behind in its group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    await child.proc.wait()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(child.output, 2)  # the last lines it printed


async def run_setup(steps: Sequence[AppProcess], processes: Sequence[AppProcess],
                    endpoints: Endpoints, out=None) -> list[tuple[str, str]]:
    """Runs each one-shot step to completion, its output prefixed; a failure stops `run`.
    Returns (name, value) for each step with `prints_as`: its stdout, kept out of the log."""
    out = out or sys.stdout
    width = max([len(p.name) for p in (*steps, *processes)] + [len("devstack")])
    printed: list[tuple[str, str]] = []
    for step in steps:
        capture = step.prints_as is not None
        child = await _spawn(step, child_env(step, processes, endpoints), width, out, capture)
        value = (await child.proc.stdout.read()).decode(errors="replace").strip() if capture else ""
        code = await child.proc.wait()
        await child.output
        if code != 0:
            raise StartupError(f"{step.name} failed with exit code {code}")
        if capture:
            if not value or "\n" in value:
                raise StartupError(f"{step.name} printed no single value for {step.prints_as}")
            printed.append((step.prints_as, value))
    return printed


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


@dataclass
class _Slot:
    """One supervised process, across its restarts."""

    spec: AppProcess
    # Computed once: a restarted process gets the same ports, role and service key.
    env: dict[str, str]
    child: _Child | None = None
    state: str = "stopped"  # running | backoff | stopped
    restarts: int = 0
    # Negative: killed by that signal (asyncio's returncode).
    last_exit: int | None = None
    started_at: float = 0.0  # wall clock, for the tools that read the state file
    up_since: float = 0.0  # monotonic, for the backoff reset

    async def start(self, width: int, out) -> None:
        self.child = await _spawn(self.spec, self.env, width, out)
        self.state, self.started_at, self.up_since = "running", time.time(), time.monotonic()

    def as_json(self) -> dict:
        return {"pid": self.child.proc.pid if self.child else None, "port": self.spec.port,
                "restarts": self.restarts, "state": self.state, "last_exit": self.last_exit,
                "started_at": self.started_at}


class _StateFile:
    """The processes' state as JSON at `path`, replaced whole on every change so that a reader
    never sees half a file."""

    def __init__(self, path: Path | None, slots: Sequence[_Slot]) -> None:
        self.path, self.slots = path, slots

    def write(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"runner_pid": os.getpid(),
                                   "processes": {s.spec.name: s.as_json() for s in self.slots}},
                                  indent=2) + "\n")
        os.replace(tmp, self.path)


async def _stopped_within(halt: asyncio.Event, seconds: float) -> bool:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(halt.wait(), seconds)
    return halt.is_set()


async def _keep_running(slot: _Slot, halt: asyncio.Event, policy: RestartPolicy, state: _StateFile,
                        width: int, out) -> None:
    """Restarts `slot`'s process each time it exits, until `halt` is set."""
    failures = 0  # crashes in a row, each within `reset_after_s` of its start
    why = ""
    while True:
        if slot.child is not None:
            exited = asyncio.ensure_future(slot.child.proc.wait())
            halting = asyncio.ensure_future(halt.wait())
            await asyncio.wait({exited, halting}, return_when=asyncio.FIRST_COMPLETED)
            halting.cancel()
            if not exited.done():
                exited.cancel()
                return
            uptime = time.monotonic() - slot.up_since
            # Reaps what it left in its group (which might hold its port) and its last lines.
            await _stop(slot.child, out)
            slot.child, slot.last_exit = None, exited.result()
            why = f"{describe_exit(slot.last_exit)} after {uptime:.1f}s up"
            if uptime >= policy.reset_after_s:
                failures = 0
            if halt.is_set():  # it exited as `run` was stopping: no restart to announce
                return
        failures += 1
        delay = policy.backoff.delay(failures)
        slot.state = "backoff"
        state.write()
        out.write(f"{slot.spec.name} {why}; restarting it in {delay:.1f}s (restart {slot.restarts + 1})\n")
        out.flush()
        if await _stopped_within(halt, delay):
            return
        slot.restarts += 1
        try:
            await slot.start(width, out)
        except StartupError as e:  # e.g. its port taken meanwhile: a failed attempt like a crash
            why = f"could not be restarted: {e}"
            continue
        state.write()
        out.write(f"{slot.spec.name} restarted (restart {slot.restarts}), pid {slot.child.proc.pid}\n")
        out.flush()


def _print_addresses(slots: Sequence[_Slot], endpoints: Endpoints, printed: Sequence[tuple[str, str]],
                     out) -> None:
    print_table(
        [("process", "address", "pid")]
        + [(s.spec.name, f"{HOST}:{s.spec.port}" if s.spec.port else "-", str(s.child.proc.pid))
           for s in slots]
        + [("postgres", redact(endpoints.admin_dsn), ""),
           ("kafka", endpoints.bootstrap_servers, "")]
        + ([("redis", redact(endpoints.rate_limit_storage_uri), "")]
           if endpoints.rate_limit_storage_uri else [])
        + ([("jaeger", f"{endpoints.jaeger_url} (OTLP {endpoints.otlp_endpoint})", "")]
           if endpoints.jaeger_url else
           [("traces", f"OTLP {endpoints.otlp_endpoint}", "")] if endpoints.otlp_endpoint else []),
        out,
    )
    for s in slots:
        for path in s.spec.urls:
            out.write(f"  http://{HOST}:{s.spec.port}{path}\n")
    for name, value in printed:
        out.write(f"  {name}={value}\n")
    out.write("all processes up; Ctrl-C stops them\n")
    out.flush()


async def supervise(processes: Sequence[AppProcess], endpoints: Endpoints, stop: asyncio.Event,
                    out=None, printed: Sequence[tuple[str, str]] = (), *,
                    restart: RestartPolicy | None = None, state_file: Path | None = None) -> int:
    """Start `processes`, print their addresses (and `printed`, the setup steps' values, as
    NAME=value) once all listen, and run until `stop` is set (exit code 0), restarting those
    that exit as `restart` says. One that exits before all are up fails the start (1). Every
    process is stopped before returning; `state_file` follows all of it."""
    out = out or sys.stdout
    restart = restart or RestartPolicy()
    width = max([len(p.name) for p in processes] + [len("devstack")])
    slots = [_Slot(spec, child_env(spec, processes, endpoints)) for spec in processes]
    state = _StateFile(state_file, slots)
    halt = asyncio.Event()
    pending: set[asyncio.Future] = set()
    keepers: list[asyncio.Task[None]] = []
    try:
        for slot in slots:
            await slot.start(width, out)
            state.write()
        # Until all are up, an exit is not restarted: a process that cannot start even once has
        # a broken configuration or code, which restarting would hide behind a loop of
        # restarts; failing `make run` with its output on screen tells the user what to fix.
        exits = {asyncio.create_task(s.child.proc.wait()): s for s in slots}
        ready = asyncio.create_task(_all_listening([s.child for s in slots], time.monotonic() + READY_TIMEOUT))
        stopping = asyncio.create_task(stop.wait())
        pending = {ready, stopping, *exits}
        while not ready.done():
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if stopping in done:
                return 0
            for task in done & exits.keys():
                slot = exits[task]
                slot.last_exit = task.result()
                out.write(f"{slot.spec.name} {describe_exit(slot.last_exit)} before all processes were up; "
                          "stopping everything\n")
                return 1
        ready.result()
        for task in exits:
            task.cancel()  # the keepers below watch the exits from now on
        _print_addresses(slots, endpoints, printed, out)

        keepers = [asyncio.create_task(_keep_running(s, halt, restart, state, width, out)) for s in slots]
        done, pending = await asyncio.wait({stopping, *keepers}, return_when=asyncio.FIRST_COMPLETED)
        for task in done & set(keepers):
            task.result()  # a supervisor bug: its traceback, then everything stopped
        return 0
    finally:
        halt.set()
        await asyncio.gather(*keepers, return_exceptions=True)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.gather(*(_stop(s.child, out) for s in slots if s.child))
        for slot in slots:
            slot.child, slot.state = None, "stopped"
        state.write()
        if any(s.restarts for s in slots):
            out.write("restarts while running:\n")
            print_table([("process", "restarts", "last exit")]
                        + [(s.spec.name, str(s.restarts), describe_exit(s.last_exit) if s.last_exit is not None
                            else "-") for s in slots], out)
