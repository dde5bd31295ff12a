"""Supervises the application processes of `python -m devstack run`.

Each process gets its own environment (its database role, every peer's address), its output
is prefixed with its name, and it counts as up once its port accepts TCP connections. The
group lives and dies together: one unexpected exit stops all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from devstack import REPO_ROOT, _proc
from devstack.migrate import service_dsn
from devstack.processes import AppProcess
from devstack.stack import Endpoints

HOST = "127.0.0.1"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0  # longer than the services' 10 s grace period for in-flight RPCs
_PR_SET_PDEATHSIG = 1


class StartupError(RuntimeError):
    pass


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


async def supervise(processes: Sequence[AppProcess], endpoints: Endpoints, stop: asyncio.Event,
                    out=None, printed: Sequence[tuple[str, str]] = ()) -> int:
    """Start `processes`, print their addresses (and `printed`, the setup steps' values, as
    NAME=value) once all listen, and run until `stop` is set (exit code 0) or one of them
    exits (1). Every process is stopped before returning."""
    out = out or sys.stdout
    width = max([len(p.name) for p in processes] + [len("devstack")])
    children: list[_Child] = []
    pending: set[asyncio.Future] = set()
    try:
        for spec in processes:
            children.append(await _spawn(spec, child_env(spec, processes, endpoints), width, out))
        exits = {asyncio.create_task(c.proc.wait()): c for c in children}
        deadline = time.monotonic() + READY_TIMEOUT
        ready = asyncio.create_task(_all_listening(children, deadline))
        stopping = asyncio.create_task(stop.wait())
        pending = {ready, stopping, *exits}
        while True:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if stopping in done:
                return 0
            for task in done & exits.keys():
                child = exits[task]
                out.write(f"{child.spec.name} exited unexpectedly with code {task.result()}; "
                          "stopping everything\n")
                return 1
            if ready in done:
                ready.result()
                print_table(
                    [("process", "address", "pid")]
                    + [(c.spec.name, f"{HOST}:{c.spec.port}" if c.spec.port else "-", str(c.proc.pid))
                       for c in children]
                    + [("postgres", redact(endpoints.admin_dsn), ""),
                       ("kafka", endpoints.bootstrap_servers, "")]
                    + ([("redis", redact(endpoints.rate_limit_storage_uri), "")]
                       if endpoints.rate_limit_storage_uri else [])
                    + ([("jaeger", f"{endpoints.jaeger_url} (OTLP {endpoints.otlp_endpoint})", "")]
                       if endpoints.jaeger_url else
                       [("traces", f"OTLP {endpoints.otlp_endpoint}", "")] if endpoints.otlp_endpoint else []),
                    out,
                )
                for c in children:
                    for path in c.spec.urls:
                        out.write(f"  http://{HOST}:{c.spec.port}{path}\n")
                for name, value in printed:
                    out.write(f"  {name}={value}\n")
                out.write("all processes up; Ctrl-C stops them\n")
                out.flush()
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.gather(*(_stop(c, out) for c in children))
