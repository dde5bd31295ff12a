"""The edge served for real (uvicorn on a free port) against the test Kafka and the in-process
identity and conversation services."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from services.edge.app import create_app
from services.edge.settings import EdgeSettings


@contextlib.asynccontextmanager
async def serve_edge(settings: EdgeSettings, app: FastAPI | None = None) -> AsyncIterator[str]:
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
    values = dict(
        kafka_bootstrap_servers=stack.bootstrap_servers,
        identity_addr=identity_address,
        conversation_addr=conversation_address,
        rate_limit_per_ip="1000/minute",
        rate_limit_per_sender="1000/minute",
        cors_origins=["http://host.example"],
    )
    values.update(overrides)
    return EdgeSettings(**values)


@pytest.fixture(scope="session")
async def edge_url(stack, identity_address, conversation_address) -> AsyncIterator[str]:
    async with serve_edge(edge_settings(stack, identity_address, conversation_address)) as url:
        yield url


@pytest.fixture
async def http(edge_url) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=edge_url, timeout=20) as client:
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
