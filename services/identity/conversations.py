"""Identity's view of ConversationService: a customer's conversations, moving them on a
merge, and erasing their content on an erasure. Identity never reads schema `conversation`; it asks over gRPC, on a channel it owns."""

from __future__ import annotations

import uuid

import grpc
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.conversation.v1 import conversation_service_pb2_grpc as conv_grpc

from services.common.errors import DatabaseUnavailable, Internal, Unavailable, is_database_outage

_TRANSIENT = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}


class ConversationsClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = conv_grpc.ConversationServiceStub(channel)

    async def list(self, customer_id: uuid.UUID) -> list[conv_pb.Conversation]:
        try:
            reply = await self._stub.ListConversations(
                conv_pb.ListConversationsRequest(customer_id=str(customer_id))
            )
        except grpc.aio.AioRpcError as ex:
            raise _translate(ex, "listing conversations") from None
        return list(reply.conversations)

    async def reassign(self, source: uuid.UUID, target: uuid.UUID) -> tuple[int, int]:
        try:
            reply = await self._stub.ReassignCustomer(
                conv_pb.ReassignCustomerRequest(
                    source_customer_id=str(source), target_customer_id=str(target)
                )
            )
        except grpc.aio.AioRpcError as ex:
            raise _translate(ex, "moving conversations") from None
        return reply.conversations_moved, reply.messages_moved

    async def erase(self, customer_id: uuid.UUID) -> conv_pb.EraseCustomerContentResponse:
        try:
            return await self._stub.EraseCustomerContent(
                conv_pb.EraseCustomerContentRequest(customer_id=str(customer_id))
            )
        except grpc.aio.AioRpcError as ex:
            raise _translate(ex, "erasing conversation content") from None


def _translate(ex: grpc.aio.AioRpcError, doing: str) -> Exception:
    # The caller of identity should learn whether retrying can help, not our peer's internals.
    if is_database_outage(ex):
        return DatabaseUnavailable(f"conversation service's database unavailable while {doing}; retry")
    if ex.code() in _TRANSIENT:
        return Unavailable(f"conversation service unavailable while {doing} ({ex.code().name}); retry")
    return Internal(f"conversation service failed while {doing} ({ex.code().name})")
