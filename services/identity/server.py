"""gRPC servicer for fte.identity.v1.IdentityService."""

from __future__ import annotations

import contextlib

from fte.identity.v1 import identity_service_pb2_grpc as pb_grpc

from services.common.config import Settings
from services.common.grpc_server import Servicer


class IdentitySettings(Settings):
    grpc_port: int = 50051


class IdentityServicer(pb_grpc.IdentityServiceServicer):
    """RPCs not implemented yet answer UNIMPLEMENTED (the generated base class)."""


async def build(resources: contextlib.AsyncExitStack) -> list[Servicer]:
    return [
        Servicer(
            pb_grpc.add_IdentityServiceServicer_to_server,
            IdentityServicer(),
            "fte.identity.v1.IdentityService",
        )
    ]
