"""The shared bootstrap times every RPC it answers, on a real gRPC server scraped over HTTP:
`fte_rpc_server_duration_seconds{service, method, code}` counts unary calls with the status the
caller got (OK, NOT_FOUND), a server stream the client cancels (health Watch) and a reflection
stream, whose handlers are iterated, never awaited. METRICS_PORT serves /metrics while the
server runs and is closed when it stops."""

from __future__ import annotations

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from services.common.config import Settings
from services.common.grpc_client import open_channel
from services.common.grpc_server import running
from tests import polling
from tests.observability.scrape import parse
from tests.ports import free_port

DURATION = "fte_rpc_server_duration_seconds_count"
HEALTH = "grpc.health.v1.Health"
REFLECTION = "grpc.reflection.v1alpha.ServerReflection"


async def _health_only(resources) -> list:
    return []


async def _scrape(port: int):
    async with httpx.AsyncClient(timeout=5) as client:
        return parse((await client.get(f"http://127.0.0.1:{port}/metrics")).text)


async def test_unary_and_streaming_calls_are_timed_with_the_status_code_they_ended_with():
    port = free_port()
    async with running("timed", Settings(grpc_port=0, metrics_port=port), _health_only) as service:
        before = await _scrape(port)
        async with open_channel(f"127.0.0.1:{service.port}", timeout_s=5.0) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            assert (await health.Check(health_pb2.HealthCheckRequest())).status == \
                health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await health.Check(health_pb2.HealthCheckRequest(service="no.such.v1.Service"))
            assert err.value.code() == grpc.StatusCode.NOT_FOUND

            watch = health.Watch(health_pb2.HealthCheckRequest(), timeout=None)
            assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
            watch.cancel()

            reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
            listed = [r async for r in reflection.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]))]
            assert HEALTH in {s.name for s in listed[0].list_services_response.service}

        async def counted():
            after = await _scrape(port)
            grew = {
                code: after.value(DURATION, service=service_name, method=method, code=code)
                - before.value(DURATION, service=service_name, method=method, code=code)
                for service_name, method, code in (
                    (HEALTH, "Check", "OK"), (HEALTH, "Check", "NOT_FOUND"),
                    (HEALTH, "Watch", "CANCELLED"), (REFLECTION, "ServerReflectionInfo", "OK"))
            }
            return after if all(v == 1 for v in grew.values()) else None

        after = await polling.until(counted, "each call timed once, with its code", 10, every=0.1)
        [check] = after.samples("fte_rpc_server_duration_seconds_sum", service=HEALTH, method="Check", code="OK")
        assert 0 < check.value < 5

    with pytest.raises(httpx.ConnectError):
        await _scrape(port)  # stopped with the server


async def test_a_metrics_port_in_use_fails_the_second_start_not_the_first_server():
    port = free_port()
    async with running("first", Settings(grpc_port=0, metrics_port=port), _health_only):
        with pytest.raises(OSError):
            async with running("second", Settings(grpc_port=0, metrics_port=port), _health_only):
                pass
        assert (await _scrape(port)).families  # the first one still serves
