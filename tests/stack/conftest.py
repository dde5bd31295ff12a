"""Fixtures for the devstack tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from devstack.stack import Endpoints


@pytest.fixture
async def fresh_db(stack: Endpoints) -> AsyncIterator[str]:
    """Admin DSN of a new, empty database on the test server, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(stack.admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(stack.admin_dsn)._replace(path=f"/{name}"))
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()
