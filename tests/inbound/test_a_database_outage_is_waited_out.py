"""A database outage is waited out, not dead-lettered: while a live service answers that its
PostgreSQL is away (UNAVAILABLE with the reason DATABASE_UNAVAILABLE), the worker keeps the
message and tries again past its attempt budget, and answers it once the database is back. A
service that does not answer at all still costs the message its budget: dead letter, apology.

Real identity (its database behind a TCP relay that is cut), conversation, agent and Kafka; the
worker's budget is made tiny, so waiting past it shows."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from urllib.parse import urlsplit

import pytest
from aiokafka.structs import ConsumerRecord
from fte.agent.v1 import agent_service_pb2_grpc as agent_grpc
from fte.common.v1.channel_pb2 import CHANNEL_WHATSAPP
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.conversation.v1 import conversation_service_pb2_grpc as conv_grpc
from fte.events.v1 import events_pb2
from fte.identity.v1 import identity_service_pb2_grpc as id_grpc

from devstack import migrate
from services.common import topics
from services.common.grpc_client import open_channel
from services.common.grpc_server import running
from services.common.kafka import new_producer
from services.identity import server as identity_server
from services.inbound.worker import InboundWorker, WorkerSettings
from tests.relay import Relay
from tests.running_services import free_port

# Two attempts 0.05-0.1 s apart: without the outage rule the message would be dead-lettered
# within a second of the cut.
TINY_BUDGET = dict(max_attempts=2, retry_initial_s=0.05, retry_max_s=0.1)


def _record(event: events_pb2.InboundMessage) -> ConsumerRecord:
    return ConsumerRecord(topics.INCOMING, 0, 0, 0, 0, event.sender.whatsapp.encode(),
                          event.SerializeToString(), None, 0, 0, [])


def _message(text: str) -> events_pb2.InboundMessage:
    number = f"+1555{uuid.uuid4().int % 10**7:07d}"
    return events_pb2.InboundMessage(
        idempotency_key=f"SM{uuid.uuid4().hex}", channel=CHANNEL_WHATSAPP, content=text,
        sender=events_pb2.Sender(whatsapp=f"whatsapp:{number}", display_name="Ada"))


@pytest.fixture
async def identity_behind_relay(stack, conversation_address, service_auth):
    admin = urlsplit(stack.admin_dsn)
    relay = Relay(admin.hostname, admin.port)
    await relay.start()
    settings = identity_server.IdentitySettings(
        grpc_port=0, database_url=relay.dsn(migrate.service_dsn(stack.admin_dsn, "identity")),
        conversation_addr=conversation_address, **service_auth("identity"))
    async with running("identity-relayed", settings,
                       functools.partial(identity_server.build, settings=settings)) as identity:
        yield relay, f"127.0.0.1:{identity.port}"
    with contextlib.suppress(Exception):
        await relay.cut()


@contextlib.asynccontextmanager
async def _worker(stack, identity_address, conversation_address, agent_address, key):
    producer = new_producer(stack.bootstrap_servers, "test-outage-worker")
    await producer.start()
    try:
        async with (
            open_channel(identity_address, 5, credential=key) as id_channel,
            open_channel(conversation_address, 10, credential=key) as conv_channel,
            open_channel(agent_address, 60, credential=key) as agent_channel,
        ):
            yield InboundWorker(
                WorkerSettings(kafka_bootstrap_servers=stack.bootstrap_servers, **TINY_BUDGET),
                producer, id_grpc.IdentityServiceStub(id_channel),
                conv_grpc.ConversationServiceStub(conv_channel),
                agent_grpc.AgentServiceStub(agent_channel))
    finally:
        await producer.stop()


async def test_the_worker_waits_out_a_database_outage_and_answers_after_it(
        stack, identity_behind_relay, conversation_address, agent_address, service_keys, conversation):
    relay, identity_address = identity_behind_relay
    async with _worker(stack, identity_address, conversation_address, agent_address,
                       service_keys["inbound"]) as worker:
        await relay.cut()
        event = _message("How do I export a board to CSV?")
        handling = asyncio.create_task(worker.handle(_record(event)))
        await asyncio.sleep(3)  # many times the attempt budget
        assert not handling.done(), handling.result()

        await relay.start()  # PostgreSQL reachable again
        outcome = await asyncio.wait_for(handling, 60)

    assert outcome in ("replied", "escalated")
    recorded = await conversation.RecordInbound(conv_pb.RecordInboundRequest(
        customer_id=str(uuid.uuid4()), channel=CHANNEL_WHATSAPP, idempotency_key=event.idempotency_key,
        content=event.content))
    assert recorded.duplicate  # the message was recorded, once, after the outage


async def test_a_service_that_does_not_answer_still_dead_letters_within_the_budget(
        stack, conversation_address, agent_address, service_keys):
    nobody = f"127.0.0.1:{free_port()}"
    async with _worker(stack, nobody, conversation_address, agent_address,
                       service_keys["inbound"]) as worker:
        outcome = await asyncio.wait_for(worker.handle(_record(_message("Hello?"))), 30)
    assert outcome == "dead_letter"
