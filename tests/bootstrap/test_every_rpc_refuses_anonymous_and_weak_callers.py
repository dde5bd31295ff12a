"""Every RPC the running services offer — found through reflection, as `grpcurl list` finds it,
not from a list kept by hand — refuses a call without a credential or with a bad one
(UNAUTHENTICATED) and one whose role is one step too weak, or a service key it does not name
(PERMISSION_DENIED); the weakest allowed role and every named service get past the check.
Health and reflection stay open. So a new RPC cannot be served unprotected: without a rule in
its contract its server does not even start (shown last)."""

from __future__ import annotations

import contextlib

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, empty_pb2

from services.common import auth
from services.common.config import Settings
from services.common.grpc_server import GrpcService, Servicer
from tests.access_services import SERVICE_IDENTITIES, create_key
from tests.bootstrap.conftest import GRPC_SERVICES
from tests.bootstrap.test_stack_boots_and_answers_grpcurl import ALWAYS, _grpcurl

ONE_STEP_WEAKER = {"agent": "viewer", "admin": "agent"}


async def _reflected_methods(services) -> list[tuple[str, str]]:
    """(process, full method name) for every method of every service each process lists."""
    found = []
    for name in GRPC_SERVICES:
        address = services.address(name)
        for service in (await _grpcurl(address, "list")).split():
            if service in ALWAYS:
                continue
            for method in (await _grpcurl(address, "list", service)).split():
                found.append((name, "/" + method.replace(f"{service}.", f"{service}/", 1)))
    return found


async def _code(address: str, method: str, credential: str | None) -> tuple[grpc.StatusCode, str]:
    """Calls `method` with an empty request; the status code and details."""
    metadata = (("authorization", f"Bearer {credential}"),) if credential is not None else None
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
        try:
            await call(b"", metadata=metadata, timeout=20)
        except grpc.aio.AioRpcError as err:
            return err.code(), err.details() or ""
    return grpc.StatusCode.OK, ""


@pytest.fixture(scope="module")
async def keys(access_dsn, role_keys, service_keys) -> dict[str, str]:
    """A key per human role, per service identity, and a service key no rule names."""
    return {**role_keys, **{f"service:{n}": k for n, k in service_keys.items()},
            "service:nobody": await create_key(access_dsn, "service", "nobody")}


async def test_every_reflected_rpc_refuses_anonymous_bad_and_too_weak_callers(services, keys):
    methods = await _reflected_methods(services)
    rules = auth.policies({m.split("/")[1] for _, m in methods})
    assert len(methods) >= 30 and {m for _, m in methods} == set(rules), \
        "a served method has no rule, or a rule's method is not served"

    refused_wrongly = []
    for process, method in methods:
        address, rule = services.address(process), rules[method]
        for credential in (None, "", "fte_0123456789abcdef_" + "x" * 43, "not.a.jwt"):
            code, _ = await _code(address, method, credential)
            if code != grpc.StatusCode.UNAUTHENTICATED:
                refused_wrongly.append((method, f"credential {credential!r}", code))
        weak = [keys[ONE_STEP_WEAKER[rule.min_role]]] if rule.min_role in ONE_STEP_WEAKER else []
        weak += [keys[f"service:{n}"] for n in (*SERVICE_IDENTITIES, "nobody") if n not in rule.services]
        for credential in weak:
            code, _ = await _code(address, method, credential)
            if code != grpc.StatusCode.PERMISSION_DENIED:
                refused_wrongly.append((method, "too weak", code))
        for credential in [keys[rule.min_role], *(keys[f"service:{n}"] for n in rule.services)]:
            code, details = await _code(address, method, credential)
            # Past the check, an empty request gets the method's own answer (mostly
            # INVALID_ARGUMENT); Authenticate's own answer to an empty credential is UNAUTHENTICATED.
            refused = code == grpc.StatusCode.PERMISSION_DENIED or (
                code == grpc.StatusCode.UNAUTHENTICATED and not method.endswith("/Authenticate"))
            if refused or code in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL):
                refused_wrongly.append((method, "allowed caller", code, details))
    assert refused_wrongly == []


async def test_health_and_reflection_need_no_credential(services):
    for name in GRPC_SERVICES:
        assert '"SERVING"' in await _grpcurl(services.address(name), "grpc.health.v1.Health/Check")
        assert "grpc.reflection.v1alpha.ServerReflection" in await _grpcurl(services.address(name), "list")


def _unruled_contract() -> str:
    """A contract (added to the process's descriptor pool) whose one RPC has no rule."""
    name = "fte.test.v1.UnruledService"
    with contextlib.suppress(KeyError):
        descriptor_pool.Default().FindServiceByName(name)
        return name
    file = descriptor_pb2.FileDescriptorProto(
        name="fte/test/v1/unruled.proto", package="fte.test.v1", syntax="proto3",
        dependency=[empty_pb2.DESCRIPTOR.name])
    file.service.add(name="UnruledService").method.add(
        name="Echo", input_type=".google.protobuf.Empty", output_type=".google.protobuf.Empty")
    descriptor_pool.Default().AddSerializedFile(file.SerializeToString())
    return name


async def test_a_server_with_a_method_without_a_rule_refuses_to_start(service_auth):
    name = _unruled_contract()
    mounted = []

    async def build(resources: contextlib.AsyncExitStack) -> list[Servicer]:
        return [Servicer(lambda impl, server: mounted.append(impl), object(), name)]

    service = GrpcService("unruled", Settings(grpc_port=0, **service_auth("identity")))
    with pytest.raises(auth.MissingPolicy, match="UnruledService/Echo has no"):
        await service.start(build)
    assert service.server is None and mounted == []
