"""The worker on a conversation a person holds (an escalation claimed through HandoffService):
the message is recorded but the agent is not asked, and the customer gets the short notice at
most once an hour, published like a reply. Real identity, conversation, Kafka; the agent's
address is a port nobody listens on, so asking it would dead-letter the message."""

from __future__ import annotations

import uuid

from aiokafka.structs import ConsumerRecord
from fte.agent.v1 import agent_service_pb2_grpc as agent_grpc
from fte.common.v1.channel_pb2 import CHANNEL_WHATSAPP
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.conversation.v1 import conversation_service_pb2_grpc as conv_grpc
from fte.events.v1 import events_pb2
from fte.handoff.v1 import handoff_service_pb2 as handoff_pb
from fte.handoff.v1 import handoff_service_pb2_grpc as handoff_grpc
from fte.identity.v1 import identity_service_pb2_grpc as id_grpc

from services.common import topics
from services.common.grpc_client import open_channel
from services.common.kafka import new_producer
from services.inbound.worker import InboundWorker, WorkerSettings, reply_id_for
from tests.handoff.helpers import escalated, published
from tests.running_services import free_port


def _record(event: events_pb2.InboundMessage) -> ConsumerRecord:
    return ConsumerRecord(topics.INCOMING, 0, 0, 0, 0, event.sender.whatsapp.encode(),
                          event.SerializeToString(), None, 0, 0, [])


async def test_held_messages_skip_the_agent_and_the_customer_hears_once(
        stack, identity, conversation, role_keys, identity_address, conversation_address,
        service_keys):
    escalation, recorded, number = await escalated(identity, conversation)
    async with open_channel(conversation_address, 10, credential=role_keys["agent"]) as channel:
        await handoff_grpc.HandoffServiceStub(channel).ClaimEscalation(
            handoff_pb.ClaimEscalationRequest(escalation_id=escalation.escalation_id))

    settings = WorkerSettings(kafka_bootstrap_servers=stack.bootstrap_servers, max_attempts=1)
    key = service_keys["inbound"]
    producer = new_producer(stack.bootstrap_servers, "test-held-worker")
    await producer.start()
    async with (
        open_channel(identity_address, 10, credential=key) as id_channel,
        open_channel(conversation_address, 10, credential=key) as conv_channel,
        open_channel(f"127.0.0.1:{free_port()}", 2, credential=key) as nobody,
    ):
        worker = InboundWorker(settings, producer, id_grpc.IdentityServiceStub(id_channel),
                               conv_grpc.ConversationServiceStub(conv_channel),
                               agent_grpc.AgentServiceStub(nobody))
        outcomes, keys = [], []
        for text in ("Any news on the quote?", "Hello?"):
            keys.append(f"SM{uuid.uuid4().hex}")
            outcomes.append(await worker.handle(_record(events_pb2.InboundMessage(
                idempotency_key=keys[-1], channel=CHANNEL_WHATSAPP, content=text,
                sender=events_pb2.Sender(whatsapp=f"whatsapp:{number}", display_name="Ada")))))
    await producer.stop()

    assert outcomes == ["held", "held"]
    [notice] = await published(stack.bootstrap_servers, CHANNEL_WHATSAPP,
                               reply_id_for(keys[0], ":hold-notice"))
    assert notice.parts[0].startswith("Hi Ada! Thanks, your message was added")
    assert "tests (agent) will reply" in notice.parts[0]
    assert notice.recipient.phone == f"whatsapp:{number}"  # as the worker addresses every reply
    history = (await conversation.GetHistory(conv_pb.GetHistoryRequest(
        customer_id=recorded.customer_id))).messages
    assert [m.content for m in history if m.role == conv_pb.MESSAGE_ROLE_CUSTOMER][-2:] == [
        "Any news on the quote?", "Hello?"]
    assert not [m for m in history if m.role == conv_pb.MESSAGE_ROLE_AGENT]
    assert len([m for m in history if m.role == conv_pb.MESSAGE_ROLE_SYSTEM]) == 1
    # Their tickets wait for the person, open: the worker's RecordInbound moves a ticket to
    # processing only when the agent answers next.
    held = {m.ticket_id for m in history if m.content in ("Any news on the quote?", "Hello?")}
    for ticket_id in held:
        ticket = await conversation.GetTicket(conv_pb.GetTicketRequest(ticket_id=ticket_id))
        assert ticket.ticket.status == conv_pb.TICKET_STATUS_OPEN
