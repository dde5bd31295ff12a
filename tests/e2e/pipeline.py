"""The whole pipeline as real processes — identity, conversation, agent, worker, dispatcher,
edge, access — on free ports against the test PostgreSQL and Kafka, each with its own service
name, service key and (optionally) OTLP export. Processes can be killed and restarted one by one."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from devstack import REPO_ROOT, service_keys
from devstack.processes import PROCESSES, AppProcess
from devstack.runner import child_env
from devstack.stack import Endpoints
from tests.ports import free_port

LOG_DIR = REPO_ROOT / "artifacts" / "e2e-logs"


def pipeline_processes() -> list[AppProcess]:
    """Exactly the processes `make run` starts, each moved to a free port (a metrics port set in
    its env too), so several pipelines can run at once."""
    return [
        replace(p, port=free_port() if p.port is not None else None, env={**p.env, **moved_metrics_port(p)})
        for p in PROCESSES
    ]


def moved_metrics_port(p: AppProcess) -> dict[str, str]:
    """A free METRICS_PORT for another replica of `p` (none when `p` serves no metrics port)."""
    return {"METRICS_PORT": str(free_port())} if "METRICS_PORT" in p.env else {}


def metrics_address(p: AppProcess) -> str:
    """Where a process serves /metrics: its METRICS_PORT, or its own port when that is the one
    it serves it on (the notifier's, the edge's)."""
    port = p.env.get("METRICS_PORT") or p.port
    return f"127.0.0.1:{port}"


@dataclass
class Pipeline:
    endpoints: Endpoints
    processes: list[AppProcess]
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)

    @property
    def edge_url(self) -> str:
        edge = next(p for p in self.processes if p.name == "edge")
        return f"http://127.0.0.1:{edge.port}"

    def address(self, name: str) -> str:
        spec = next(p for p in self.processes if p.name == name)
        return f"127.0.0.1:{spec.port}"

    async def start(self, name: str, env: dict[str, str] | None = None, copy_of: str | None = None) -> None:
        """Starts one process; `env` adds to (or overrides) its environment for this run.
        `copy_of` starts another instance of that (port-less) process under the new name."""
        if copy_of and not any(p.name == name for p in self.processes):
            base = next(p for p in self.processes if p.name == copy_of)
            assert base.port is None, "a copy would need a port of its own"
            # A metrics port of its own too: two processes cannot serve /metrics on one.
            self.processes.append(replace(base, name=name, env={**base.env, **moved_metrics_port(base)}))
        spec = next(p for p in self.processes if p.name == name)
        spec = replace(spec, env={"OTEL_SERVICE_NAME": name, **self.extra_env, **spec.env, **(env or {})})
        env = child_env(spec, self.processes, self.endpoints, base=os.environ)
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = open(LOG_DIR / f"{name}.log", "ab")
        self.procs[name] = await asyncio.create_subprocess_exec(
            str(REPO_ROOT / ".venv/bin/python"), *spec.args, env=env, cwd=REPO_ROOT,
            stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        if spec.port is not None:
            await self._wait_port(name, spec.port)

    async def _wait_port(self, name: str, port: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs[name].returncode is not None:
                raise RuntimeError(f"{name} exited: {self.log_tail(name)}")
            with contextlib.suppress(OSError):
                _, w = await asyncio.open_connection("127.0.0.1", port)
                w.close()
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{name} did not listen on {port}: {self.log_tail(name)}")

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = LOG_DIR / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    async def start_all(self) -> None:
        """Every process, each with a fresh service key (as `make run` gives them)."""
        self.processes = await service_keys.issue(self.processes, self.endpoints)
        for spec in self.processes:
            await self.start(spec.name)

    async def kill(self, name: str, sig: int = signal.SIGKILL, timeout: float = 30) -> int:
        """Signals the process group; SIGKILL if it has not exited after `timeout`."""
        proc = self.procs[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            code = await asyncio.wait_for(proc.wait(), timeout)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            code = await proc.wait()
        del self.procs[name]
        return code

    def signal(self, name: str, sig: int) -> None:
        """Sends a signal without waiting (e.g. SIGSTOP / SIGCONT to freeze a service)."""
        os.killpg(self.procs[name].pid, sig)

    @contextlib.contextmanager
    def frozen(self, name: str) -> Iterator[None]:
        """The process stopped (SIGSTOP) for the block, e.g. to build up a backlog; then resumed."""
        self.signal(name, signal.SIGSTOP)
        try:
            yield
        finally:
            self.signal(name, signal.SIGCONT)

    async def stop_all(self) -> None:
        for name in reversed([p.name for p in self.processes]):
            if name in self.procs:
                await self.kill(name, signal.SIGTERM)
