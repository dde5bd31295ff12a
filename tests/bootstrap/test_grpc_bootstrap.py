"""The shared bootstrap over real gRPC: typed errors become the right status codes, health
and reflection are mounted, client calls always carry a deadline."""

from __future__ import annotations

import grpc
import pytest
from fte.identity.v1 import identity_service_pb2 as pb
from fte.identity.v1 import identity_service_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from services.common.config import Settings
from services.common.grpc_client import open_channel
from services.common.grpc_server import running
from tests.bootstrap.fixture_servicer import build


@pytest.fixture(scope="module")
async def channel(service_auth, admin_key):
    async with running("scripted", Settings(grpc_port=0, **service_auth("identity")), build) as service:
        async with open_channel(f"127.0.0.1:{service.port}", timeout_s=1.0, credential=admin_key) as ch:
            yield ch


async def _get(channel, customer_id, timeout=None):
    stub = pb_grpc.IdentityServiceStub(channel)
    return await stub.GetCustomer(pb.GetCustomerRequest(customer_id=customer_id), timeout=timeout)


@pytest.mark.parametrize(
    "customer_id, code, detail",
    [
        ("notfound:42", grpc.StatusCode.NOT_FOUND, "customer 42 does not exist"),
        ("precondition:", grpc.StatusCode.FAILED_PRECONDITION, "belongs to another customer"),
        ("invalid:abc", grpc.StatusCode.INVALID_ARGUMENT, "age"),
    ],
)
async def test_typed_errors_answer_their_status_code(channel, customer_id, code, detail):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _get(channel, customer_id)
    assert err.value.code() == code
    assert detail in err.value.details()


async def test_unexpected_error_is_internal_without_leaking_details(channel):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _get(channel, "crash:")
    assert err.value.code() == grpc.StatusCode.INTERNAL
    assert "secret internal detail" not in err.value.details()
    assert "trace" in err.value.details()


async def test_unimplemented_rpc_answers_unimplemented(channel):
    stub = pb_grpc.IdentityServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.LookupCustomer(pb.LookupCustomerRequest(email="a@b.example"))
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_client_default_deadline_cuts_a_slow_call(channel):
    # The channel's default deadline is 1 s; the server would sleep 5 s.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _get(channel, "sleep:5")
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_explicit_deadline_wins_over_default(channel):
    reply = await _get(channel, "sleep:1.3", timeout=5)
    assert reply.customer.customer_id == "sleep:1.3"


async def test_health_check_and_watch_report_serving(channel):
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", "fte.identity.v1.IdentityService"):
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    # Watch is server-streaming: it must pass through the interceptor un-awaited.
    watch = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=5)
    first = await watch.read()
    assert first.status == health_pb2.HealthCheckResponse.SERVING
    watch.cancel()


async def test_reflection_lists_service_health_and_reflection(channel):
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)

    async def requests():
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    names = []
    async for reply in stub.ServerReflectionInfo(requests(), timeout=5):
        names = [s.name for s in reply.list_services_response.service]
    assert set(names) >= {
        "fte.identity.v1.IdentityService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }


async def test_a_port_in_use_fails_start_and_closes_what_build_opened(channel, service_auth):
    from services.common.grpc_server import GrpcService

    closed = []

    async def build_with_a_resource(resources):
        async def close():
            closed.append(True)

        resources.push_async_callback(close)
        return await build(resources)

    async with running("first", Settings(grpc_port=0, **service_auth("identity")), build) as first:
        second = GrpcService("second", Settings(grpc_port=first.port, **service_auth("identity")))
        with pytest.raises(RuntimeError):
            await second.start(build_with_a_resource)
        assert closed == [True]
        assert second.server is None
