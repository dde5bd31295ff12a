"""The edge served for real (uvicorn on a free port) against the test Kafka and the in-process
identity, conversation and access services. Operators' routes need a key: `operator` is a client
sending a viewer key made with the access service."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp
from fte.access.v1 import access_service_pb2 as access_pb

from devstack import REPO_ROOT
from services.edge.app import create_app
from services.edge.settings import EdgeSettings


def edge_process_env(port: int, bootstrap_servers: str, identity_address: str,
                     conversation_address: str, **settings: str) -> dict[str, str]:
    """The environment for `python -m services.edge` as a process of its own on `port`: the test
    Kafka and services, no access or dispatcher behind it, limits out of the way, no exporter;
    `settings` (EDGE_WORKERS=..., ...) on top."""
    env = {
        **os.environ,
        "PYTHONPATH": f"{REPO_ROOT}:{REPO_ROOT / 'gen' / 'python'}",
        "HTTP_PORT": str(port), "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "IDENTITY_ADDR": identity_address, "CONVERSATION_ADDR": conversation_address,
        "ACCESS_ADDR": "127.0.0.1:9", "DISPATCHER_ADDR": "127.0.0.1:9",
        "RATE_LIMIT_PER_IP": "1000/minute", "RATE_LIMIT_PER_SENDER": "1000/minute",
        "RATE_LIMIT_STORAGE_URI": "", "OTEL_EXPORTER_OTLP_ENDPOINT": "",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.pop("HTTP_ACCESS_LOG", None)
    env.update(settings)
    return env


@contextlib.asynccontextmanager
async def serve_edge(settings: EdgeSettings, app: ASGIApp | None = None) -> AsyncIterator[str]:
    """Runs the edge app (`app`, or one built from `settings`) under uvicorn on
    127.0.0.1:<free port>; yields its base URL."""
    app = app or create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def edge_settings(stack, identity_address: str, conversation_address: str, **overrides) -> EdgeSettings:
    """`access_addr` defaults to one where nothing listens: pass `**service_auth("edge")` (the
    access service's address and the edge's own key) to reach the operators' routes and the
    ticket page."""
    values = dict(
        access_addr="127.0.0.1:9",
        kafka_bootstrap_servers=stack.bootstrap_servers,
        identity_addr=identity_address,
        conversation_addr=conversation_address,
        # The session's edge serves every test of a pytest worker from 127.0.0.1, the fuzz test's
        # thousands of requests among them: a per-IP budget of 1000 a minute, spent by the fuzz
        # test, answered the next module's forms 429. The per-IP limit is tested on edges of its
        # own (test_rate_limits.py).
        rate_limit_per_ip="100000/minute",
        rate_limit_per_sender="1000/minute",
        cors_origins=["http://host.example"],
    )
    values.update(overrides)
    return EdgeSettings(**values)


@pytest.fixture(scope="session")
async def edge_url(stack, identity_address, conversation_address, service_auth) -> AsyncIterator[str]:
    settings = edge_settings(stack, identity_address, conversation_address, **service_auth("edge"))
    async with serve_edge(settings) as url:
        yield url


@pytest.fixture
async def http(edge_url) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=edge_url, timeout=20) as client:
        yield client


async def new_key(access, role: int, name: str = "edge tests") -> str:
    """A fresh API key (the whole `fte_…` credential) with `role` (access_pb.ROLE_…)."""
    return (await access.CreateApiKey(access_pb.CreateApiKeyRequest(name=name, role=role))).secret


@pytest.fixture(scope="session")
async def viewer_key(access) -> str:
    return await new_key(access, access_pb.ROLE_VIEWER, "edge tests viewer")


@pytest.fixture
async def operator(edge_url, viewer_key) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the edge sending a viewer key, as support staff and their tools do."""
    headers = {"Authorization": f"Bearer {viewer_key}"}
    async with httpx.AsyncClient(base_url=edge_url, timeout=20, headers=headers) as client:
        yield client


def valid_form(**overrides) -> dict:
    form = {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "subject": "Cannot reset my password",
        "category": "technical",
        "message": "The reset email never arrives, what should I do?",
    }
    form.update(overrides)
    return form
