"""A client channel (services.common.grpc_client) whose address names several servers sends
calls to all of them in turn (round_robin), not only to the first that answered: a second
agent replica takes its share of Respond calls."""

from __future__ import annotations

import contextlib
from collections import Counter

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from services.common.grpc_client import open_channel
from tests.ports import free_port


class _Count(grpc.aio.ServerInterceptor):
    def __init__(self, name: str, counts: Counter) -> None:
        self.name, self.counts = name, counts

    async def intercept_service(self, continuation, details):
        self.counts[self.name] += 1
        return await continuation(details)


@contextlib.asynccontextmanager
async def _server(name: str, counts: Counter):
    server = grpc.aio.server(interceptors=[_Count(name, counts)])
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = free_port()
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    try:
        yield port
    finally:
        await server.stop(None)


async def test_calls_go_to_every_server_the_address_names():
    counts: Counter = Counter()
    async with _server("a", counts) as a, _server("b", counts) as b:
        async with open_channel(f"ipv4:127.0.0.1:{a},127.0.0.1:{b}", timeout_s=5) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            for _ in range(20):
                await stub.Check(health_pb2.HealthCheckRequest())

    assert counts["a"] >= 5 and counts["b"] >= 5, counts
    assert counts["a"] + counts["b"] == 20
