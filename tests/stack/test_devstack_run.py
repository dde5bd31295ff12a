"""`python -m devstack run` end to end, with stand-in application processes.

It runs its own embedded stack (data dir and ports of its own) because `run` stops the
servers it started, which must not be the ones the rest of the session uses.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devstack import DEFAULT_DATA_ROOT, REPO_ROOT, _proc, jaeger, kafka, postgres, redis
from devstack.stack import StackConfig, down
from tests.polling import until
from tests.ports import stack_port
from tests.stack.dummy_processes import PROCESSES

RUN_DATA_ROOT = DEFAULT_DATA_ROOT / "test-run"
RUN_STACK = StackConfig(
    postgres=postgres.PostgresConfig(data_dir=RUN_DATA_ROOT / "postgres", port=stack_port(15462)),
    kafka=kafka.KafkaConfig(data_dir=RUN_DATA_ROOT / "kafka", port=stack_port(19122),
                            controller_port=stack_port(19123)),
    redis=redis.RedisConfig(data_dir=RUN_DATA_ROOT / "redis", port=stack_port(16399)),
    jaeger=jaeger.JaegerConfig(data_dir=RUN_DATA_ROOT / "jaeger", otlp_port=stack_port(16417),
                               http_port=stack_port(16418), grpc_port=stack_port(16419)),
)
ALPHA, BETA = PROCESSES
STARTUP_TIMEOUT = 120
# Short enough to watch a crash loop reach the cap within seconds; every restart of a crash
# loop waits 0.5-1, 1-1.5, then 2 s.
BACKOFF_INITIAL_S, BACKOFF_MAX_S = 0.5, 2.0


class Run:
    """A `python -m devstack run` child process and the output it printed so far."""

    def __init__(self, proc: asyncio.subprocess.Process, state_file: Path, crash_dir: Path) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.state_file = state_file
        self.crash_dir = crash_dir

    def processes(self) -> dict[str, dict]:
        """The state file `run` keeps for tools."""
        return json.loads(self.state_file.read_text())["processes"]

    def crash_on_start(self, port: int) -> None:
        """The dummy listening on `port` exits with code 3 from its next start on."""
        (self.crash_dir / f"crash-{port}").touch()

    async def read_until(self, marker: str, timeout: float = STARTUP_TIMEOUT) -> None:
        async with asyncio.timeout(timeout):
            while not any(marker in line for line in self.lines):
                line = await self.proc.stdout.readline()
                if not line:
                    pytest.fail(f"run exited before printing {marker!r}:\n" + "".join(self.lines))
                self.lines.append(line.decode())

    async def exit_code(self, timeout: float = 60) -> int:
        async with asyncio.timeout(timeout):
            rest = await self.proc.stdout.read()
            self.lines += rest.decode().splitlines(keepends=True)
            return await self.proc.wait()

    @property
    def output(self) -> str:
        return "".join(self.lines)


@pytest.fixture
async def run(stack_lock: None, tmp_path: Path) -> AsyncIterator[Run]:
    down(RUN_STACK)  # whatever an aborted earlier run left behind
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "RATE_LIMIT_STORAGE_URI", "REDIS_URL",
                        "OTEL_EXPORTER_OTLP_ENDPOINT")}
    env.update(
        FTE_DATA_DIR=str(RUN_DATA_ROOT), FTE_PG_PORT=str(RUN_STACK.postgres.port),
        FTE_KAFKA_PORT=str(RUN_STACK.kafka.port),
        FTE_KAFKA_CONTROLLER_PORT=str(RUN_STACK.kafka.controller_port),
        FTE_REDIS_PORT=str(RUN_STACK.redis.port),
        FTE_JAEGER_OTLP_PORT=str(RUN_STACK.jaeger.otlp_port), FTE_JAEGER_PORT=str(RUN_STACK.jaeger.http_port),
        FTE_JAEGER_GRPC_PORT=str(RUN_STACK.jaeger.grpc_port),
        FTE_DEVSTACK_PROCESSES="tests.stack.dummy_processes:PROCESSES",
        FTE_DEVSTACK_STATE=str(tmp_path / "processes.json"),
        FTE_DEVSTACK_BACKOFF_INITIAL_S=str(BACKOFF_INITIAL_S), FTE_DEVSTACK_BACKOFF_MAX_S=str(BACKOFF_MAX_S),
        FTE_DUMMY_CRASH_DIR=str(tmp_path),
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devstack", "run", cwd=REPO_ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    yield Run(proc, tmp_path / "processes.json", tmp_path)
    if proc.returncode is None:
        proc.kill()
        await proc.wait()
    down(RUN_STACK)


async def _report(port: int) -> dict:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return json.loads(await reader.read())
    finally:
        writer.close()


def _stack_pids() -> list[int]:
    pids = [postgres.running_pid(RUN_STACK.postgres), kafka.running_pid(RUN_STACK.kafka),
            redis.running_pid(RUN_STACK.redis), jaeger.running_pid(RUN_STACK.jaeger)]
    assert None not in pids, "run did not start every embedded server"
    return pids


async def test_run_wires_processes_and_stops_everything_on_sigterm(run: Run) -> None:
    await run.read_until("all processes up")
    alpha, beta = await _report(ALPHA.port), await _report(BETA.port)
    pids = [alpha["pid"], beta["pid"], *_stack_pids()]
    assert redis.ping(RUN_STACK.redis.host, RUN_STACK.redis.port), "the embedded Redis does not answer PING"
    assert jaeger.answers(RUN_STACK.jaeger), "the embedded Jaeger does not answer"

    run.proc.send_signal(signal.SIGTERM)
    code = await run.exit_code()

    assert code == 0, run.output
    assert not [pid for pid in pids if _proc.pid_alive(pid)], "processes outlived run"
    assert not redis.ping(RUN_STACK.redis.host, RUN_STACK.redis.port)
    assert not jaeger.answers(RUN_STACK.jaeger)
    # Each process got its own role, the broker and every peer's address; no admin URL leaks.
    assert alpha["db_user"] == "fte_identity"
    assert "db_user" not in beta and beta["env"]["DATABASE_URL"] is None
    for report in (alpha, beta):
        assert report["env"]["KAFKA_BOOTSTRAP_SERVERS"] == RUN_STACK.kafka.bootstrap_servers
        assert report["env"]["RATE_LIMIT_STORAGE_URI"] == f"redis://127.0.0.1:{RUN_STACK.redis.port}"
        assert report["env"]["ALPHA_ADDR"] == f"127.0.0.1:{ALPHA.port}"
        assert report["env"]["BETA_ADDR"] == f"127.0.0.1:{BETA.port}"
        # Every process exports its spans to the embedded Jaeger.
        assert report["env"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == RUN_STACK.jaeger.otlp_endpoint
    # The address table, and each process's output prefixed with its name.
    assert f"127.0.0.1:{ALPHA.port}" in run.output and f"127.0.0.1:{BETA.port}" in run.output
    assert RUN_STACK.redis.url in run.output
    assert RUN_STACK.jaeger.url in run.output, "the table shows where to read the traces"
    lines = [line.split("|", 1) for line in run.lines if "|" in line]
    assert ["alpha", f" listening on {ALPHA.port}"] in [[a.strip(), b.rstrip()] for a, b in lines]
    assert ["beta", " stopped on SIGTERM"] in [[a.strip(), b.rstrip()] for a, b in lines]
    # A setup step's value is printed once, as NAME=value with the URLs; its stderr is prefixed.
    assert ["token", " made a dummy token"] in [[a.strip(), b.rstrip()] for a, b in lines]
    assert "  DUMMY_TOKEN=dummy-token-1234\n" in run.lines
    assert run.output.count("dummy-token-1234") == 1
    assert run.output.index("DUMMY_TOKEN=") < run.output.index("all processes up")


async def _report_once_listening(port: int) -> dict:
    async def attempt() -> dict | None:
        try:
            return await _report(port)
        except OSError:
            return None
    return await until(attempt, f"a process listening on {port}")


async def test_a_killed_process_is_restarted_with_the_same_env_and_the_others_keep_running(run: Run) -> None:
    await run.read_until("all processes up")
    alpha, beta = await _report(ALPHA.port), await _report(BETA.port)
    assert run.processes()["beta"] | {"started_at": 0} == {
        "pid": beta["pid"], "port": BETA.port, "restarts": 0, "state": "running", "last_exit": None,
        "started_at": 0}

    os.kill(beta["pid"], signal.SIGKILL)
    await run.read_until("beta restarted (restart 1)")

    new_beta = await _report_once_listening(BETA.port)
    assert new_beta["pid"] != beta["pid"]
    assert new_beta["env"] == beta["env"], "the restarted process got other ports or addresses"
    assert (await _report(ALPHA.port))["pid"] == alpha["pid"], "alpha was restarted too"
    assert re.search(r"^beta was killed by SIGKILL after [\d.]+s up; restarting it in [\d.]+s \(restart 1\)$",
                     run.output, re.MULTILINE), run.output
    state = run.processes()
    assert state["alpha"]["pid"] == alpha["pid"] and state["alpha"]["restarts"] == 0
    assert {k: state["beta"][k] for k in ("pid", "restarts", "state", "last_exit")} == {
        "pid": new_beta["pid"], "restarts": 1, "state": "running", "last_exit": -signal.SIGKILL}
    pids = [alpha["pid"], beta["pid"], new_beta["pid"], *_stack_pids()]

    run.proc.send_signal(signal.SIGTERM)
    code = await run.exit_code()

    assert code == 0, run.output
    assert not [pid for pid in pids if _proc.pid_alive(pid)], "processes outlived run"
    state = run.processes()
    assert [(p["state"], p["pid"], p["restarts"]) for p in state.values()] == [("stopped", None, 0),
                                                                               ("stopped", None, 1)]
    assert re.search(r"^  beta +1 +was killed by SIGKILL$", run.output, re.MULTILINE), "no restart summary"


async def test_a_crash_loop_waits_longer_each_time_up_to_the_cap_and_sigterm_ends_it(run: Run) -> None:
    await run.read_until("all processes up")
    alpha, beta = await _report(ALPHA.port), await _report(BETA.port)
    seen = {alpha["pid"], beta["pid"]}
    stack_pids = _stack_pids()

    run.crash_on_start(BETA.port)
    os.kill(beta["pid"], signal.SIGKILL)
    await run.read_until("(restart 5)\n")  # the 4th crash in a row: the cap reached a while ago
    state = run.processes()
    assert state["beta"]["state"] == "backoff" and state["beta"]["pid"] is None, state

    run.proc.send_signal(signal.SIGTERM)  # while beta waits out its 2 s
    code = await run.exit_code()

    assert code == 0, run.output
    delays = [float(d) for d in re.findall(r"^beta .*; restarting it in ([\d.]+)s \(restart \d+\)$",
                                           run.output, re.MULTILINE)]
    assert len(delays) == 5, run.output
    assert BACKOFF_INITIAL_S <= delays[0] < delays[2], delays
    assert delays == sorted(delays), f"the delays shrank: {delays}"
    assert delays[2:] == [BACKOFF_MAX_S] * 3, f"not capped at {BACKOFF_MAX_S}: {delays}"
    assert run.output.count("beta exited with code 3 after") == 4, run.output
    assert "beta restarted (restart 5)" not in run.output, "restarted after SIGTERM"
    # Nothing is left: no process of any start, no port held, nothing from the stack.
    seen |= {int(pid) for pid in re.findall(r"^beta restarted \(restart \d+\), pid (\d+)$", run.output,
                                            re.MULTILINE)}
    assert len(seen) == 6
    assert not [pid for pid in [*seen, *stack_pids] if _proc.pid_alive(pid)], "processes outlived run"
    assert not _proc.port_open("127.0.0.1", ALPHA.port) and not _proc.port_open("127.0.0.1", BETA.port)
    state = run.processes()
    assert state["alpha"] | {"started_at": 0} == {"pid": None, "port": ALPHA.port, "restarts": 0,
                                                  "state": "stopped", "last_exit": None, "started_at": 0}
    assert {k: state["beta"][k] for k in ("pid", "restarts", "state", "last_exit")} == {
        "pid": None, "restarts": 4, "state": "stopped", "last_exit": 3}


async def test_a_process_that_cannot_start_fails_run_with_its_error(run: Run) -> None:
    run.crash_on_start(BETA.port)

    code = await run.exit_code(timeout=STARTUP_TIMEOUT)

    assert code == 1, run.output
    assert "beta exited with code 3 before all processes were up; stopping everything" in run.output
    assert ["beta", " crashing as asked"] in [[a.strip(), b.rstrip()] for a, b in
                                              (line.split("|", 1) for line in run.lines if "|" in line)]
    assert "restarting it" not in run.output
    assert not _proc.port_open("127.0.0.1", ALPHA.port), "alpha outlived run"
    assert run.processes()["beta"]["last_exit"] == 3
    assert {p["state"] for p in run.processes().values()} == {"stopped"}
