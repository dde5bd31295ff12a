"""Identity's audit trail: operator actions recorded through AccessService.RecordAuditEvent
(ACCESS_ADDR), on a channel identity owns. Until authentication is enforced, the subject is
who the request says asked (`requested_by`)."""

from __future__ import annotations

import grpc
from fte.access.v1 import access_service_pb2 as access_pb
from fte.access.v1 import access_service_pb2_grpc as access_grpc

from services.common.errors import Unavailable


class AuditClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = access_grpc.AccessServiceStub(channel)

    async def succeeded(self, subject: str, method: str, target_ids: list[str], detail: str) -> str:
        """Records the event; returns its id. Any failure is UNAVAILABLE: the action it records
        is done and idempotent, so the caller's retry repeats it harmlessly and writes the audit."""
        try:
            reply = await self._stub.RecordAuditEvent(
                access_pb.RecordAuditEventRequest(
                    subject=subject,
                    method=method,
                    target_ids=target_ids,
                    outcome=access_pb.AUDIT_OUTCOME_SUCCEEDED,
                    detail=detail,
                )
            )
        except grpc.aio.AioRpcError as ex:
            raise Unavailable(
                f"the action is done but its audit event could not be recorded"
                f" ({ex.code().name}); retry to record it"
            ) from None
        return reply.event.event_id
