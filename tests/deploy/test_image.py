"""The image `make images` builds (localhost/flowboard-fte:dev) runs every process as it runs on
Kubernetes: as uid 10001 with a read-only root filesystem and a tmpfs /tmp, configured only by its
environment (what `make run` gives each process, devstack/runner.py), here against the test
stack's PostgreSQL, Kafka and Redis over the host network. The migration and seed Jobs complete,
each gRPC server answers its health check SERVING, the edge serves /health and the web form,
the notifier its /metrics, and the Kafka worker stays up.

Slow (a minute or two: eight Python processes booting on two cores), never skipped: a missing
image or podman fails it (`make test` builds the image first, `make images` alone does too).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import uuid
from collections.abc import Iterator

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack import REPO_ROOT
from devstack.migrate import service_dsn
from devstack.processes import PROCESSES, SETUP, AppProcess
from devstack.runner import child_env
from devstack.stack import Endpoints
from tests.ports import free_port

IMAGE = os.environ.get("FTE_IMAGE", "localhost/flowboard-fte:dev")
# `make` exports it; a pytest run by hand gets the same podman settings.
PODMAN_ENV = {**os.environ, "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF")
              or str(REPO_ROOT / "deploy" / "containers.conf")}
# What a pod's securityContext gives: the image's own non-root user, nothing writable but /tmp.
RESTRICTED = ("--network", "host", "--read-only", "--tmpfs", "/tmp:rw,size=64m", "--cap-drop", "ALL",
              "--security-opt", "no-new-privileges")
STARTUP_S = 240
# Processes without a gRPC server: what answers instead.
HTTP_CHECKS = {"edge": ("/health", "/webform/", "/inbox/"), "notifier": ("/metrics",)}
NO_PORT = {"worker"}  # a Kafka consumer only: it must start and stay up

pytestmark = pytest.mark.timeout(600)


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["podman", *args], capture_output=True, text=True, env=PODMAN_ENV,
                              timeout=timeout)
    except FileNotFoundError:
        pytest.fail("podman is not installed: run `make images` (it installs podman and builds the image)")


@pytest.fixture(scope="module")
def image(stack: Endpoints) -> str:
    """The image, once the test stack is up: every test here is `stack`-marked (tests/conftest.py),
    so `make test` runs them, after `make images`, and `make test-fast` (no image) does not."""
    if podman("image", "exists", IMAGE).returncode != 0:
        pytest.fail(f"{IMAGE} does not exist: run `make images`")
    return IMAGE


IN_THE_IMAGE = """
import os, importlib.util
from googleapiclient.discovery import build
# The Gmail client builds offline from the one discovery document the image keeps.
build("gmail", "v1", developerKey="unused", static_discovery=True).close()
print(os.getuid(), os.getgid(), importlib.util.find_spec("torch") is None)
"""


def test_image_runs_as_uid_10001_without_torch(image: str) -> None:
    assert podman("image", "inspect", "--format", "{{.Config.User}}", image).stdout.strip() == "10001:10001"
    # Built on the base `make images` imports: its label is what lets the next new base prune
    # this image's leftovers (Makefile, BASE_LABEL) instead of piling them up run after run.
    label = podman("image", "inspect", "--format", '{{index .Labels "io.flowboard.fte.base"}}', image)
    assert label.stdout.strip() == "bookworm", label.stdout + label.stderr
    run = podman("run", "--rm", *RESTRICTED, image, "python", "-c", IN_THE_IMAGE)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["10001", "10001", "True"]


def _with_ports(processes: tuple[AppProcess, ...], service_keys: dict[str, str]) -> list[AppProcess]:
    """The processes with free ports (the host network is shared with whatever else runs) and
    their service keys, as `make run` hands them out."""
    out = []
    for p in processes:
        env = dict(p.env)
        if "METRICS_PORT" in env:
            env["METRICS_PORT"] = str(free_port())
        if p.service_identity:
            env["SERVICE_KEY"] = service_keys[p.service_identity]
        out.append(dataclasses.replace(p, port=free_port() if p.port else None, env=env))
    return out


def _env_args(spec: AppProcess, processes: list[AppProcess], stack: Endpoints) -> list[str]:
    env = child_env(spec, processes, stack, base={})
    env.pop("PYTHONPATH")  # the image's own
    return [arg for key, value in sorted(env.items()) for arg in ("-e", f"{key}={value}")]


def _module(spec: AppProcess) -> str:
    assert spec.args[0] == "-m", spec
    return spec.args[1]


async def test_jobs_complete_in_the_image(image: str, stack: Endpoints) -> None:
    """The migration Job (admin DSN) and the knowledge-seed Job (the knowledge role; it embeds
    with the ONNX model inside the image) run to completion."""
    migrate = podman("run", "--rm", *RESTRICTED, "-e", f"DATABASE_URL={stack.admin_dsn}", image,
                     "python", "-m", "devstack.migrate")
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    assert "schema up to date" in migrate.stdout or "applied" in migrate.stdout
    (seed,) = [s for s in SETUP if s.name == "seed-knowledge"]
    seed_run = podman("run", "--rm", *RESTRICTED, "-e", f"DATABASE_URL={service_dsn(stack.admin_dsn, 'knowledge')}",
                      image, "python", *seed.args, timeout=300)
    assert seed_run.returncode == 0, seed_run.stdout + seed_run.stderr


@pytest.fixture(scope="module")
def containers(image: str, stack: Endpoints, service_keys: dict[str, str]) -> Iterator[dict[str, tuple[AppProcess, str]]]:
    """Every process of PROCESSES in a container of its own, started together."""
    processes = _with_ports(PROCESSES, service_keys)
    tag = uuid.uuid4().hex[:8]
    started: dict[str, tuple[AppProcess, str]] = {}
    try:
        for spec in processes:
            name = f"fte-test-{spec.name}-{tag}"
            run = podman("run", "-d", "--name", name, *RESTRICTED, *_env_args(spec, processes, stack),
                         image, "python", "-m", _module(spec))
            assert run.returncode == 0, f"{spec.name}: podman run failed: {run.stderr}"
            started[spec.name] = (spec, name)
        yield started
    finally:
        for _, name in started.values():
            podman("stop", "-t", "10", name)
            podman("rm", "-f", name)


def _logs(name: str) -> str:
    logs = podman("logs", "--tail", "40", name)
    return (logs.stdout + logs.stderr)[-6000:]


def _running(name: str) -> bool:
    return podman("inspect", "--format", "{{.State.Running}}", name).stdout.strip() == "true"


async def _serving(port: int) -> bool:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=3)
        except grpc.aio.AioRpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


async def _http_ok(port: int, paths: tuple[str, ...]) -> bool:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=3) as client:
        try:
            for path in paths:
                if (await client.get(path)).status_code != 200:
                    return False
        except httpx.HTTPError:
            return False
    return True


async def _ready(spec: AppProcess) -> bool:
    if spec.name in HTTP_CHECKS:
        return await _http_ok(spec.port, HTTP_CHECKS[spec.name])
    return await _serving(spec.port)


async def test_every_process_starts_and_answers_its_health_check(
        containers: dict[str, tuple[AppProcess, str]]) -> None:
    assert set(containers) == {"access", "identity", "conversation", "agent", "worker", "dispatcher",
                               "notifier", "edge"}
    waiting = {n: c for n, c in containers.items() if n not in NO_PORT}
    deadline = asyncio.get_running_loop().time() + STARTUP_S
    while waiting and asyncio.get_running_loop().time() < deadline:
        for name, (spec, container) in list(waiting.items()):
            assert _running(container), f"{name} exited:\n{_logs(container)}"
            if await _ready(spec):
                del waiting[name]
        await asyncio.sleep(1)
    assert not waiting, f"not ready after {STARTUP_S} s: " + "\n\n".join(
        f"{name}:\n{_logs(container)}" for name, (_, container) in waiting.items())
    for name in NO_PORT:
        assert _running(containers[name][1]), f"{name} exited:\n{_logs(containers[name][1])}"


async def test_the_edge_in_the_image_serves_the_built_web_form(
        containers: dict[str, tuple[AppProcess, str]]) -> None:
    spec, _ = containers["edge"]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{spec.port}", timeout=10) as client:
        page = await client.get("/webform/")
        embed = await client.get("/webform/embed.js")
        inbox = await client.get("/inbox/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert embed.status_code == 200 and len(embed.content) > 10_000
    assert inbox.status_code == 200 and "<html" in inbox.text.lower()
