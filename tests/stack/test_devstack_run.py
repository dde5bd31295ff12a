"""`python -m devstack run` end to end, with stand-in application processes.

It runs its own embedded stack (data dir and ports of its own) because `run` stops the
servers it started, which must not be the ones the rest of the session uses.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator

import pytest

from devstack import DEFAULT_DATA_ROOT, REPO_ROOT, _proc, jaeger, kafka, postgres, redis
from devstack.stack import StackConfig, down
from tests.conftest import PORT_OFFSET
from tests.stack.dummy_processes import PROCESSES

RUN_DATA_ROOT = DEFAULT_DATA_ROOT / "test-run"
RUN_STACK = StackConfig(
    postgres=postgres.PostgresConfig(data_dir=RUN_DATA_ROOT / "postgres", port=15462 + PORT_OFFSET),
    kafka=kafka.KafkaConfig(data_dir=RUN_DATA_ROOT / "kafka", port=19122 + PORT_OFFSET,
                            controller_port=19123 + PORT_OFFSET),
    redis=redis.RedisConfig(data_dir=RUN_DATA_ROOT / "redis", port=16399 + PORT_OFFSET),
    jaeger=jaeger.JaegerConfig(data_dir=RUN_DATA_ROOT / "jaeger", otlp_port=16417 + PORT_OFFSET,
                               http_port=16418 + PORT_OFFSET, grpc_port=16419 + PORT_OFFSET),
)
ALPHA, BETA = PROCESSES
STARTUP_TIMEOUT = 120


class Run:
    """A `python -m devstack run` child process and the output it printed so far."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []

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
async def run(stack_lock: None) -> AsyncIterator[Run]:
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
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devstack", "run", cwd=REPO_ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    yield Run(proc)
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


async def test_run_stops_everything_and_fails_when_a_process_dies(run: Run) -> None:
    await run.read_until("all processes up")
    alpha, beta = await _report(ALPHA.port), await _report(BETA.port)
    pids = [alpha["pid"], *_stack_pids()]

    os.kill(beta["pid"], signal.SIGKILL)
    code = await run.exit_code()

    assert code == 1, run.output
    assert "beta exited unexpectedly" in run.output
    assert not [pid for pid in pids if _proc.pid_alive(pid)], "processes outlived run"

