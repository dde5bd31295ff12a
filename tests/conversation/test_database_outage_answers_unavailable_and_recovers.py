"""Database trouble is not INTERNAL. With PostgreSQL out of reach every service answers
UNAVAILABLE with a clear message and the reason DATABASE_UNAVAILABLE in its status details,
and works again once it is back; a deadlock or serialization failure re-runs the RPC and
answers ABORTED only if the conflict persists.

The outage is made by cutting a TCP relay between the services and the test stack's real
PostgreSQL, so the shared server stays up for every other test."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from urllib.parse import urlsplit

import asyncpg
import grpc
import pytest
from fte.common.v1.channel_pb2 import CHANNEL_EMAIL
from fte.conversation.v1 import conversation_service_pb2 as pb
from fte.conversation.v1 import conversation_service_pb2_grpc as pb_grpc
from fte.identity.v1 import identity_service_pb2 as id_pb
from fte.identity.v1 import identity_service_pb2_grpc as id_grpc

from devstack import migrate
from services.common.config import Settings
from services.common.errors import DATABASE_UNAVAILABLE, error_reason
from services.common.grpc_server import Servicer, running
from services.conversation import server as conversation_server
from services.identity import server as identity_server
from tests.conversation.helpers import inbound
from tests.relay import Relay
from tests.running_services import free_port, new_id, plain_channel, rpc_error, unique_email


@pytest.fixture
async def relayed(stack, clock, service_auth, admin_key):
    """Conversation and identity whose database connections go through a Relay."""
    admin = urlsplit(stack.admin_dsn)
    relay = Relay(admin.hostname, admin.port)
    await relay.start()
    identity_port = free_port()
    conv_settings = conversation_server.ConversationSettings(
        grpc_port=0, database_url=relay.dsn(migrate.service_dsn(stack.admin_dsn, "conversation")),
        identity_addr=f"127.0.0.1:{identity_port}", **service_auth("conversation"),
    )
    async with running("conversation-relayed", conv_settings,
                       functools.partial(conversation_server.build, settings=conv_settings, clock=clock)) as conv:
        id_settings = identity_server.IdentitySettings(
            grpc_port=identity_port,
            database_url=relay.dsn(migrate.service_dsn(stack.admin_dsn, "identity")),
            conversation_addr=f"127.0.0.1:{conv.port}", **service_auth("identity"),
        )
        async with running("identity-relayed", id_settings,
                           functools.partial(identity_server.build, settings=id_settings)):
            # A plain channel (no client retries), so each call shows the server's own answer.
            async with plain_channel(f"127.0.0.1:{conv.port}", admin_key) as c1, \
                    plain_channel(f"127.0.0.1:{identity_port}", admin_key) as c2:
                yield relay, pb_grpc.ConversationServiceStub(c1), id_grpc.IdentityServiceStub(c2)
    with contextlib.suppress(Exception):
        await relay.cut()


async def test_postgres_out_of_reach_answers_unavailable_and_service_recovers(relayed):
    relay, conversation, identity = relayed
    customer = new_id()
    before = await conversation.RecordInbound(inbound(customer, content="before the outage"), timeout=15)

    await relay.cut()
    calls = {
        "GetHistory": conversation.GetHistory(pb.GetHistoryRequest(customer_id=customer), timeout=15),
        "RecordInbound": conversation.RecordInbound(inbound(customer, content="lost?"), timeout=15),
        "GetTicket": conversation.GetTicket(pb.GetTicketRequest(ticket_id=before.ticket_id), timeout=15),
        "ResolveCustomer": identity.ResolveCustomer(id_pb.ResolveCustomerRequest(
            channel=CHANNEL_EMAIL, email=unique_email("outage")), timeout=15),
    }
    for name, call in calls.items():
        err = await rpc_error(call)
        assert err.code() == grpc.StatusCode.UNAVAILABLE, (name, err.code(), err.details())
        assert err.details().startswith("database unavailable (") and "retry later" in err.details(), name
        # The reason travels as a google.rpc.ErrorInfo, for callers that wait an outage out.
        assert error_reason(err) == DATABASE_UNAVAILABLE, name

    await relay.start()  # PostgreSQL is back on the same address
    after = await conversation.RecordInbound(inbound(customer, content="after the outage"), timeout=15)
    history = await conversation.GetHistory(pb.GetHistoryRequest(customer_id=customer), timeout=15)
    assert [m.content for m in history.messages] == ["before the outage", "after the outage"]
    assert after.conversation_id == before.conversation_id
    resolved = await identity.ResolveCustomer(id_pb.ResolveCustomerRequest(
        channel=CHANNEL_EMAIL, email=unique_email("back")), timeout=15)
    assert resolved.created


# --- conflicts: a real deadlock and a real serialization failure from PostgreSQL ------------


async def _deadlock(dsn: str) -> None:
    """Two transactions take two advisory locks in opposite order: PostgreSQL detects the
    deadlock and aborts one of them with DeadlockDetectedError, which is raised here."""
    a, b = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    keys = (uuid.uuid4().int % 2**31, uuid.uuid4().int % 2**31)
    try:
        for conn in (a, b):
            await conn.execute("SET deadlock_timeout = '100ms'")
            await conn.execute("BEGIN")
        await a.execute("SELECT pg_advisory_xact_lock($1)", keys[0])
        await b.execute("SELECT pg_advisory_xact_lock($1)", keys[1])
        results = await asyncio.gather(
            a.execute("SELECT pg_advisory_xact_lock($1)", keys[1]),
            b.execute("SELECT pg_advisory_xact_lock($1)", keys[0]),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        assert len(errors) == 1, results
        raise errors[0]
    finally:
        await a.close()
        await b.close()


async def _serialization_failure(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "DO $$ BEGIN RAISE EXCEPTION 'could not serialize access' USING ERRCODE = 'serialization_failure'; END $$"
        )
    finally:
        await conn.close()


class Conflicted(pb_grpc.ConversationServiceServicer):
    """Hits a database conflict on its first `failing` attempts, then answers."""

    def __init__(self, dsn: str, conflict, failing: int) -> None:
        self.dsn, self.conflict, self.failing, self.attempts = dsn, conflict, failing, 0

    async def GetChannelMetrics(self, request, context):
        self.attempts += 1
        if self.attempts <= self.failing:
            await self.conflict(self.dsn)
        return pb.GetChannelMetricsResponse()


@pytest.mark.parametrize("conflict", [_deadlock, _serialization_failure], ids=["deadlock", "serialization"])
@pytest.mark.parametrize("failing, code", [(2, grpc.StatusCode.OK), (99, grpc.StatusCode.ABORTED)],
                         ids=["passes-on-retry", "persists"])
async def test_a_conflict_is_retried_then_aborted(stack, conflict, failing, code, service_auth, admin_key):
    servicer = Conflicted(stack.admin_dsn, conflict, failing)

    async def build(resources):
        return [Servicer(pb_grpc.add_ConversationServiceServicer_to_server, servicer,
                         "fte.conversation.v1.ConversationService")]

    async with running("conflicted", Settings(grpc_port=0, **service_auth("conversation")), build) as svc:
        async with plain_channel(f"127.0.0.1:{svc.port}", admin_key) as channel:
            call = pb_grpc.ConversationServiceStub(channel).GetChannelMetrics(
                pb.GetChannelMetricsRequest(), timeout=30)
            if code == grpc.StatusCode.OK:
                await call
                assert servicer.attempts == 3  # two conflicts, then the answer
                return
            err = await rpc_error(call)
    assert err.code() == grpc.StatusCode.ABORTED
    expected = "DeadlockDetectedError" if conflict is _deadlock else "SerializationError"
    assert err.details() == f"database conflict ({expected}) persisted after 3 attempts; retry"
    assert servicer.attempts == 3
