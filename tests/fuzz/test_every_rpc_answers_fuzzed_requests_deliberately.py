"""Every RPC of every service in proto/ — found in the generated descriptors, so a new RPC is
fuzzed without editing this file — gets hypothesis-made requests over real gRPC (TCP) from the
in-process services: well-typed messages with hostile values (tests/fuzz/proto_strategies.py),
and malformed ones (random or broken bytes, sent raw through a generic unary call). Each call
carries a credential that may call the method (its weakest human role's key or a service key
its rule names); some carry none.

Whatever comes in, the answer is deliberate: never UNKNOWN, INTERNAL or DATA_LOSS, never
UNIMPLEMENTED for a method the contract declares; an anonymous call is UNAUTHENTICATED; the
credential is never what refuses an allowed caller; and every server still answers its health
check afterwards. FUZZ_EXAMPLES sets the examples per RPC and kind (default 30) for longer runs
by hand: `FUZZ_EXAMPLES=2000 pytest tests/fuzz`."""

from __future__ import annotations

import asyncio
import importlib
import os
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import fte
import grpc
import pytest
from fte.knowledge.v1 import knowledge_service_pb2 as kb_pb
from google.protobuf import message_factory, text_format
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import DecodeError
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common import auth
from tests.fuzz.proto_strategies import malformed, messages
from tests.fuzz.report import FuzzTally

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))
CALL_TIMEOUT_S = 60

# Never a deliberate answer: a bug, or a method the server does not serve.
NEVER = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DATA_LOSS,
         grpc.StatusCode.UNIMPLEMENTED}


def declared_methods() -> list[MethodDescriptor]:
    """Every method of every service in the generated code of proto/."""
    root = Path(fte.__path__[0]).parent
    modules = [importlib.import_module(".".join(p.relative_to(root).with_suffix("").parts))
               for p in sorted(root.glob("fte/**/*_pb2.py"))]
    return [m for module in modules for s in module.DESCRIPTOR.services_by_name.values() for m in s.methods]


METHODS = declared_methods()


def path(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


@dataclass
class Targets:
    """Where each service is served, and the credentials that may call each method."""

    channels: dict[str, grpc.aio.Channel]  # service full name -> channel to its server
    credentials: dict[str, list[str]]  # method path -> keys allowed to call it

    async def call(self, method: MethodDescriptor, request: bytes, credential: str | None
                   ) -> tuple[grpc.StatusCode, str, bytes | None]:
        call = self.channels[method.containing_service.full_name].unary_unary(
            path(method), request_serializer=None, response_deserializer=None)
        metadata = (("authorization", f"Bearer {credential}"),) if credential else None
        try:
            return grpc.StatusCode.OK, "", await call(request, metadata=metadata, timeout=CALL_TIMEOUT_S)
        except grpc.aio.AioRpcError as err:
            return err.code(), err.details() or "", None


async def _served_services(channel: grpc.aio.Channel) -> list[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    listing = [reflection_pb2.ServerReflectionRequest(list_services="")]
    async for reply in stub.ServerReflectionInfo(iter(listing)):
        return [s.name for s in reply.list_services_response.service]
    return []


@pytest.fixture(scope="module")
async def targets(access_address, identity_address, conversation_address, agent_address,
                  role_keys, service_keys) -> AsyncIterator[Targets]:
    addresses = [access_address, identity_address, conversation_address, agent_address]
    opened = [grpc.aio.insecure_channel(a) for a in addresses]
    channels = {name: channel for channel in opened for name in await _served_services(channel)}
    declared = {m.containing_service.full_name for m in METHODS}
    assert declared <= set(channels), f"not served by any server started here: {declared - set(channels)}"
    rules = auth.policies(declared)
    credentials = {p: [role_keys[rule.min_role], *(service_keys[s] for s in sorted(rule.services))]
                   for p, rule in rules.items()}
    yield Targets(channels, credentials)
    # Fuzzing must leave every server healthy.
    for address, channel in zip(addresses, opened):
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=20)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, address
        await channel.close()


@pytest.fixture(scope="module", autouse=True)
async def knowledge_base_restored(knowledge) -> AsyncIterator[None]:
    """The articles a fuzzed UpsertArticle managed to create are deleted again: this worker's
    other tests answer from the seeded knowledge base."""
    before = await _article_ids(knowledge)
    yield
    for article_id in await _article_ids(knowledge) - before:
        await knowledge.DeleteArticle(kb_pb.DeleteArticleRequest(article_id=article_id))


async def _article_ids(knowledge) -> set[str]:
    ids, token = set(), ""
    while True:
        page = await knowledge.ListArticles(kb_pb.ListArticlesRequest(page_size=100, page_token=token))
        ids |= {a.article_id for a in page.articles}
        if not (token := page.next_page_token):
            return ids


def _shown(method: MethodDescriptor, request: bytes) -> str:
    """The request as text (or its bytes when they do not decode), cut short."""
    try:
        text = text_format.MessageToString(
            message_factory.GetMessageClass(method.input_type).FromString(request), as_one_line=True)
    except DecodeError:
        text = repr(request)
    return text if len(text) < 600 else f"{text[:600]}... ({len(text)} characters)"


def _verdict(method: MethodDescriptor, request: bytes, credential: str | None, code: grpc.StatusCode,
             details: str, response: bytes | None) -> None:
    where = (f"{path(method)} answered {code.name}: {details[:300]!r}\n"
             f"  to {'an anonymous call' if credential is None else 'an allowed caller'} with {_shown(method, request)}")
    assert code not in NEVER, where
    if credential is None:
        assert code == grpc.StatusCode.UNAUTHENTICATED, where
        return
    # The credential may call the method: the gate never refuses it (Authenticate's own answer
    # about the credential it is asked about is another matter).
    refused_by_gate = code == grpc.StatusCode.PERMISSION_DENIED and "needs role" in details or (
        code == grpc.StatusCode.UNAUTHENTICATED and not path(method).endswith("/Authenticate"))
    assert not refused_by_gate, where
    if response is not None:
        message_factory.GetMessageClass(method.output_type).FromString(response)  # a valid answer of its type


def _past_the_gate(method: MethodDescriptor, tally: FuzzTally) -> None:
    """Not vacuous: some allowed calls reached the method itself (Authenticate's own answer
    about a fuzzed credential is UNAUTHENTICATED)."""
    refusals = {"PERMISSION_DENIED"} | (set() if path(method).endswith("/Authenticate") else {"UNAUTHENTICATED"})
    reached = {o for o in tally.outcomes if "anonymous" not in o} - refusals
    assert reached, tally.line()


async def _fuzz(targets: Targets, method: MethodDescriptor, requests: st.SearchStrategy[bytes],
                tally: FuzzTally) -> None:
    """Runs hypothesis in a worker thread; each call runs on this event loop, where the
    in-process servers answer."""
    loop = asyncio.get_running_loop()
    allowed = targets.credentials[path(method)]
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.large_base_example])
    @given(request=requests, choice=st.integers(0, len(allowed) - 1))
    def one_call(request: bytes, choice: int) -> None:
        # One call in ten carries no credential, picked by the request's checksum: hypothesis
        # favours its simplest values too much for a drawn coin to come out one in ten.
        credential = None if zlib.crc32(request, 1) % 10 == 0 else allowed[choice]
        code, details, response = asyncio.run_coroutine_threadsafe(
            targets.call(method, request, credential), loop).result()
        tally.add(code.name if credential else f"{code.name} (anonymous)")
        _verdict(method, request, credential, code, details, response)

    await asyncio.to_thread(one_call)


@pytest.mark.parametrize("method", METHODS, ids=path)
async def test_well_typed_requests_get_deliberate_answers(targets, method, record_property):
    tally = FuzzTally(f"grpc typed {path(method)}", group="grpc well-typed requests")
    await _fuzz(targets, method, messages(method.input_type).map(lambda m: m.SerializeToString()), tally)
    tally.report(record_property)
    _past_the_gate(method, tally)


@pytest.mark.parametrize("method", METHODS, ids=path)
async def test_malformed_requests_get_deliberate_answers(targets, method, record_property):
    tally = FuzzTally(f"grpc malformed {path(method)}", group="grpc malformed requests")
    await _fuzz(targets, method, malformed(method.input_type), tally)
    tally.report(record_property)
    _past_the_gate(method, tally)


async def test_open_services_refuse_undecodable_requests_too(targets):
    """Health and reflection (no credential needed) in each kind of call: unary, a response
    stream (Watch) and streams both ways (reflection)."""
    undecodable = b"\xff\xff\xff"
    for channel in {id(c): c for c in targets.channels.values()}.values():
        calls = [
            channel.unary_unary("/grpc.health.v1.Health/Check")(undecodable, timeout=20),
            _first(channel.unary_stream("/grpc.health.v1.Health/Watch")(undecodable, timeout=20)),
            _first(channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")(
                iter([undecodable]), timeout=20)),
        ]
        for call in calls:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()


async def _first(stream):
    async for reply in stream:
        return reply
