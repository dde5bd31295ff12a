"""gRPC servicer for fte.conversation.v1.ConversationService."""

from __future__ import annotations

import contextlib

from fte.conversation.v1 import conversation_service_pb2_grpc as pb_grpc

from services.common.config import Settings
from services.common.grpc_server import Servicer


class ConversationSettings(Settings):
    grpc_port: int = 50052


class ConversationServicer(pb_grpc.ConversationServiceServicer):
    """RPCs not implemented yet answer UNIMPLEMENTED (the generated base class)."""


async def build(resources: contextlib.AsyncExitStack) -> list[Servicer]:
    return [
        Servicer(
            pb_grpc.add_ConversationServiceServicer_to_server,
            ConversationServicer(),
            "fte.conversation.v1.ConversationService",
        )
    ]
