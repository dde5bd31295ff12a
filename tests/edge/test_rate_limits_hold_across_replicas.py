"""Two edge replicas sharing one real Redis count a sender's submissions together; without a
shared store each replica allows the full rate; with the store down they keep limiting, each on
its own, and never answer 500."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

import coredis
import httpx
import pytest

from devstack import redis
from services.edge import rate_limits
from tests.edge.conftest import edge_settings, serve_edge, valid_form
from tests.ports import free_port


@contextlib.asynccontextmanager
async def two_edges(settings) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    async with serve_edge(settings) as url_a, serve_edge(settings) as url_b, \
            httpx.AsyncClient(base_url=url_a, timeout=20) as a, httpx.AsyncClient(base_url=url_b, timeout=20) as b:
        yield a, b


async def _submit(http: httpx.AsyncClient, email: str) -> httpx.Response:
    return await http.post("/support/submit", json=valid_form(email=email))


def _email() -> str:
    return f"replicas-{uuid.uuid4().hex[:8]}@example.com"


async def test_sender_limit_counts_submissions_on_every_replica(stack, identity_address, conversation_address):
    assert stack.rate_limit_storage_uri.startswith("redis://")
    settings = edge_settings(stack, identity_address, conversation_address, rate_limit_per_sender="3/minute",
                             rate_limit_storage_uri=stack.rate_limit_storage_uri)
    email = _email()
    async with two_edges(settings) as (a, b):
        replies = [await _submit(a, email), await _submit(a, email), await _submit(b, email), await _submit(b, email)]
        assert [r.status_code for r in replies] == [202, 202, 202, 429]
        assert replies[-1].headers["retry-after"] == "60"
        assert (await _submit(a, email)).status_code == 429

    # The store holds hashed keys: the sender's address is not in Redis in clear.
    client = coredis.Redis.from_url(stack.rate_limit_storage_uri)
    keys = await client.keys("*")
    assert keys and not [k for k in keys if email.encode() in (k if isinstance(k, bytes) else k.encode())]


async def test_without_a_shared_store_each_replica_allows_the_full_rate(stack, identity_address, conversation_address):
    settings = edge_settings(stack, identity_address, conversation_address, rate_limit_per_sender="3/minute",
                             rate_limit_storage_uri="")
    email = _email()
    async with two_edges(settings) as (a, b):
        codes = [(await _submit(http, email)).status_code for http in (a, a, a, b, b, b)]
        assert codes == [202] * 6  # twice the limit got through
        assert (await _submit(a, email)).status_code == 429


@pytest.fixture
async def own_redis(tmp_path) -> AsyncIterator[redis.RedisConfig]:
    """A Redis of this test's own, which it may stop."""
    cfg = redis.RedisConfig(data_dir=tmp_path / "redis", port=free_port())
    await redis.start(cfg)
    yield cfg
    redis.stop(cfg)


async def test_with_the_store_down_each_replica_limits_on_its_own_and_warns(
    stack, identity_address, conversation_address, own_redis, caplog, monkeypatch
):
    monkeypatch.setattr(rate_limits, "RETRY_SHARED_AFTER_S", 0.0)  # try the store on every request
    settings = edge_settings(stack, identity_address, conversation_address, rate_limit_per_sender="3/minute",
                             rate_limit_storage_uri=own_redis.url)
    email = _email()
    async with two_edges(settings) as (a, b):
        assert (await _submit(a, email)).status_code == 202  # counted in Redis
        redis.stop(own_redis)
        assert not redis.ping(own_redis.host, own_redis.port)

        with caplog.at_level(logging.WARNING, logger=rate_limits.__name__):
            codes = [(await _submit(http, email)).status_code for http in (a, a, a, a, b)]
        # Each replica falls back to its own counts: still limited, never a 500.
        assert codes == [202, 202, 202, 429, 202]
        warnings = [r for r in caplog.records if r.name == rate_limits.__name__ and r.levelno == logging.WARNING]
        assert len(warnings) == 2  # once per replica, not once per request
        assert "unreachable" in warnings[0].getMessage()

        # Back: the replicas share the count again (B's one and A's next three make four).
        await redis.start(own_redis)
        codes = [(await _submit(http, email)).status_code for http in (b, a, a, a)]
        assert codes == [202, 202, 202, 429]
