"""When ConversationService cannot be reached, identity answers UNAVAILABLE (retry-able), never
INTERNAL; resolving does not depend on it; a merge interrupted after identity committed is
finished by retrying it."""

from __future__ import annotations

import functools
import socket
import uuid

import grpc
import pytest
from fte.common.v1.channel_pb2 import CHANNEL_EMAIL
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.identity.v1 import identity_service_pb2 as pb
from fte.identity.v1 import identity_service_pb2_grpc as pb_grpc

from devstack import migrate
from services.common.grpc_client import open_channel
from services.common.grpc_server import running
from services.identity import server as identity_server
from tests.running_services import rpc_error, unique_email


@pytest.fixture
async def identity_without_conversation(stack, service_auth, admin_key):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    settings = identity_server.IdentitySettings(
        grpc_port=0, database_url=migrate.service_dsn(stack.admin_dsn, "identity"),
        conversation_addr=dead, rpc_timeout_s=2, **service_auth("identity"),
    )
    async with running("identity-degraded", settings, functools.partial(identity_server.build, settings=settings)) as svc:
        async with open_channel(f"127.0.0.1:{svc.port}", timeout_s=15, credential=admin_key) as channel:
            yield pb_grpc.IdentityServiceStub(channel)


async def test_resolve_works_and_reads_needing_conversations_are_unavailable(identity_without_conversation):
    created = await identity_without_conversation.ResolveCustomer(
        pb.ResolveCustomerRequest(channel=CHANNEL_EMAIL, email=unique_email("outage")))
    err = await rpc_error(identity_without_conversation.GetCustomer(
        pb.GetCustomerRequest(customer_id=created.customer.customer_id)))
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    assert "conversation service" in err.details()


async def test_an_interrupted_merge_is_finished_by_retrying_it(identity_without_conversation, identity, conversation):
    ids = []
    for tag in ("target", "source"):
        customer = (await identity.ResolveCustomer(
            pb.ResolveCustomerRequest(channel=CHANNEL_EMAIL, email=unique_email(tag)))).customer
        await conversation.RecordInbound(conv_pb.RecordInboundRequest(
            customer_id=customer.customer_id, channel=CHANNEL_EMAIL,
            idempotency_key=uuid.uuid4().hex, content=f"from {tag}"))
        ids.append(customer.customer_id)
    target, source = ids
    request = pb.MergeCustomersRequest(source_customer_id=source, target_customer_id=target, requested_by="ops")

    err = await rpc_error(identity_without_conversation.MergeCustomers(request))
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    # Identity already committed: the source's address resolves to the target...
    kept = await identity.GetCustomer(pb.GetCustomerRequest(customer_id=source))
    assert kept.customer.merged_into_customer_id == target
    # ...and the retry moves the conversation that was left behind.
    done = await identity.MergeCustomers(request)
    assert done.conversations_moved == 1
    history = await conversation.GetHistory(conv_pb.GetHistoryRequest(customer_id=target))
    assert [m.content for m in history.messages] == ["from target", "from source"]
