"""Conversation's view of IdentityService: the addresses a ticket's customer writes from, for
the escalation context. Conversation never reads schema `identity` and keeps no copy of the
addresses; it asks the owner over gRPC, on a channel it opens in `build`."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import grpc
from fte.common.v1 import channel_pb2
from fte.identity.v1 import identity_service_pb2 as id_pb
from fte.identity.v1 import identity_service_pb2_grpc as id_grpc

log = logging.getLogger(__name__)

# A merged-away customer points at its target; chains are short (each merge is a person's
# decision), the bound only guards against a cycle in bad data.
_MAX_MERGE_HOPS = 5


class IdentityClient:
    def __init__(self, channel: grpc.aio.Channel, timeout_s: float) -> None:
        self._stub = id_grpc.IdentityServiceStub(channel)
        self._timeout_s = timeout_s

    async def describe(self, customer_id: uuid.UUID) -> dict[str, Any]:
        """The customer's display name, emails, phone and WhatsApp numbers, with `lookup`
        saying how the answer was obtained: `ok`, `not_found` (identity never saw this id) or
        `failed` (identity could not be asked; the escalation goes ahead without addresses,
        because a hand-over must not wait for another service)."""
        asked = str(customer_id)
        current = asked
        for _ in range(_MAX_MERGE_HOPS):
            try:
                reply = await self._stub.GetCustomer(
                    # This service owns the conversations: identity need not ask for them.
                    id_pb.GetCustomerRequest(customer_id=current, view=id_pb.CUSTOMER_VIEW_BASIC),
                    timeout=self._timeout_s,
                )
            except grpc.aio.AioRpcError as ex:
                if ex.code() == grpc.StatusCode.NOT_FOUND:
                    return {"customer_id": asked, "lookup": "not_found"}
                log.warning("IdentityService/GetCustomer %s failed: %s", current, ex.code().name)
                return {
                    "customer_id": asked,
                    "lookup": "failed",
                    "lookup_error": f"IdentityService/GetCustomer answered {ex.code().name}",
                }
            customer = reply.customer
            if not customer.merged_into_customer_id:
                return _summary(asked, customer)
            # The ticket still names a customer merged away (the merge moved identity before
            # conversation caught up): the live record holds the addresses.
            current = customer.merged_into_customer_id
        return {"customer_id": asked, "lookup": "failed", "lookup_error": "merge chain too long"}


def _summary(asked: str, customer: id_pb.Customer) -> dict[str, Any]:
    emails = [i.value for i in customer.identifiers if i.type == id_pb.IDENTIFIER_TYPE_EMAIL]
    phones = [i for i in customer.identifiers if i.type == id_pb.IDENTIFIER_TYPE_PHONE]
    summary: dict[str, Any] = {
        "customer_id": asked,
        "lookup": "ok",
        "display_name": customer.display_name,
        "email": emails,
        # Identity keeps one kind of number: `phone` lists every number, `whatsapp` those the
        # customer first wrote from on WhatsApp.
        "phone": [i.value for i in phones],
        "whatsapp": [
            i.value for i in phones if i.first_seen_channel == channel_pb2.CHANNEL_WHATSAPP
        ],
    }
    if customer.customer_id != asked:
        summary["merged_into_customer_id"] = customer.customer_id
    return summary
