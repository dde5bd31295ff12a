"""The bench's own PostgreSQL + Kafka (under `.data/bench-stack`, on free ports) and the whole
pipeline as real processes on it, so a bench can run next to `make run` and `make test`."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

from devstack import DEFAULT_DATA_ROOT, REPO_ROOT, kafka, postgres
from devstack import stack as devstack
from tests.e2e import pipeline as e2e_pipeline
from tests.e2e.conftest import E2E_ENV, seed_knowledge
from tests.e2e.pipeline import Pipeline, moved_metrics_port, free_port, pipeline_processes

BENCH_DATA_ROOT = DEFAULT_DATA_ROOT / "bench-stack"
BENCH_LOG_DIR = REPO_ROOT / "artifacts" / "bench-logs"

# The bench measures the offline, embedded configuration: settings that would switch the
# services to an online model, external servers or a trace exporter are dropped.
_IGNORED_ENV = (
    "DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "OPENAI_API_KEY", "OPENAI_BASE_URL",
    "EMBEDDING_PROVIDER", "OTEL_EXPORTER_OTLP_ENDPOINT",
)

# The e2e environment (rate limits raised: every bench request comes from 127.0.0.1), with
# the log level `make run` uses.
BENCH_ENV = {**E2E_ENV, "LOG_LEVEL": "INFO"}


def bench_stack_config() -> devstack.StackConfig:
    pg_port, kafka_port, controller_port = free_port(), free_port(), free_port()
    return devstack.StackConfig(
        postgres=postgres.PostgresConfig(data_dir=BENCH_DATA_ROOT / "postgres", port=pg_port),
        kafka=kafka.KafkaConfig(data_dir=BENCH_DATA_ROOT / "kafka", port=kafka_port,
                                controller_port=controller_port),
    )


@contextlib.contextmanager
def bench_lock() -> Iterator[None]:
    """One bench at a time per checkout (they share `.data/bench-stack`)."""
    DEFAULT_DATA_ROOT.mkdir(exist_ok=True)
    with open(DEFAULT_DATA_ROOT / "bench-stack.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit("another `python -m tests.bench` is running in this checkout") from None
        yield


@contextlib.asynccontextmanager
async def bench_stack() -> AsyncIterator[devstack.Endpoints]:
    """Wiped at start (a crashed earlier bench's servers are stopped by their data dirs),
    stopped at the end."""
    for name in _IGNORED_ENV:
        os.environ.pop(name, None)
    cfg = bench_stack_config()
    devstack.down(cfg)  # stops by pid file in the data dir, whatever port it was on
    shutil.rmtree(BENCH_DATA_ROOT, ignore_errors=True)
    try:
        yield await devstack.up(cfg)
    finally:
        devstack.down(cfg)


@contextlib.asynccontextmanager
async def bench_pipeline(endpoints: devstack.Endpoints) -> AsyncIterator[Pipeline]:
    """The real knowledge base seeded, then identity, conversation, agent, worker, dispatcher
    and edge as processes. Their logs go to artifacts/bench-logs, not the e2e tests' folder."""
    shutil.rmtree(BENCH_LOG_DIR, ignore_errors=True)
    # Pipeline reads this module global on every start; the e2e tests keep their own folder.
    e2e_pipeline.LOG_DIR = BENCH_LOG_DIR
    await seed_knowledge(endpoints.admin_dsn)
    pipe = Pipeline(endpoints, pipeline_processes(), extra_env=dict(BENCH_ENV))
    try:
        await pipe.start_all()
        yield pipe
    finally:
        await pipe.stop_all()


async def scale_out(pipe: Pipeline) -> None:
    """A second agent (which serves knowledge too, its own searches included) and a second
    worker; both workers spread their Respond calls over both agents (the channels' round_robin
    over an address naming both), as a Kubernetes Service would spread them over the pods."""
    agent = next(p for p in pipe.processes if p.name == "agent")
    second = replace(agent, name="agent-2", port=free_port(), advertise_as=(),
                     env={**agent.env, **moved_metrics_port(agent)})
    pipe.processes.append(second)
    await pipe.start("agent-2", env={"KNOWLEDGE_ADDR": f"127.0.0.1:{second.port}"})
    both = {"AGENT_ADDR": f"ipv4:127.0.0.1:{agent.port},127.0.0.1:{second.port}"}
    await pipe.kill("worker", signal.SIGTERM)
    await pipe.start("worker", env=both)
    await pipe.start("worker-2", env=both, copy_of="worker")


async def scale_in(pipe: Pipeline) -> None:
    """Back to one worker and one agent as `bench_pipeline` started them: the second worker
    and agent stop (SIGTERM: in-flight work finishes, the second worker's partitions go back to
    the first), and the first worker restarts with the first agent's address alone."""
    await pipe.kill("worker-2", signal.SIGTERM)
    await pipe.kill("agent-2", signal.SIGTERM)
    pipe.processes = [p for p in pipe.processes if p.name not in ("worker-2", "agent-2")]
    await pipe.kill("worker", signal.SIGTERM)
    await pipe.start("worker")
