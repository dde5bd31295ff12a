"""The whole pipeline as real processes on the test stack, with a local OTLP receiver."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator

import httpx
import pytest

from devstack import REPO_ROOT
from devstack.migrate import service_dsn
from tests.e2e.otlp_receiver import otlp_receiver
from tests.e2e.pipeline import Pipeline, free_port, pipeline_processes

# The browser test's host page (another origin, embedding the form) must pass CORS.
HOST_PAGE_PORT = free_port()

E2E_ENV = {
    "CORS_ORIGINS": json.dumps([f"http://127.0.0.1:{HOST_PAGE_PORT}"]),
    # Load tests below send from one address: the limits are tested on their own elsewhere.
    "RATE_LIMIT_PER_IP": "100000/minute",
    "RATE_LIMIT_PER_SENDER": "1000/minute",
    "HF_HUB_OFFLINE": "1",
    "LOG_LEVEL": "INFO",
}


async def seed_knowledge(admin_dsn: str) -> None:
    env = {**os.environ, **E2E_ENV, "DATABASE_URL": service_dsn(admin_dsn, "knowledge"),
           "PYTHONPATH": f"{REPO_ROOT}:{REPO_ROOT}/gen/python"}
    proc = await asyncio.create_subprocess_exec(
        str(REPO_ROOT / ".venv/bin/python"), "-m", "services.agent.seed", cwd=REPO_ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()


@pytest.fixture(scope="session")
async def otlp(stack) -> AsyncIterator[tuple[str, list]]:
    async with otlp_receiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
async def pipeline(stack, otlp) -> AsyncIterator[Pipeline]:
    endpoint, _ = otlp
    await seed_knowledge(stack.admin_dsn)
    pipe = Pipeline(stack, pipeline_processes(), extra_env={**E2E_ENV, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint})
    try:
        await pipe.start_all()
        yield pipe
    finally:
        await pipe.stop_all()


@pytest.fixture
async def http(pipeline) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=pipeline.edge_url, timeout=30) as client:
        yield client


async def wait_for_reply(http: httpx.AsyncClient, ticket_id: str, timeout: float = 90) -> dict:
    """Polls the ticket page like the web form does, until a non-customer message shows."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        view = (await http.get(f"/support/ticket/{ticket_id}")).json()
        if any(m["role"] != "customer" for m in view["messages"]):
            return view
        if loop.time() > deadline:
            raise TimeoutError(f"no reply on ticket {ticket_id}: {view}")
        await asyncio.sleep(0.3)
