"""argon2 verification is slow on purpose (~0.1-0.2 s of CPU per check); it runs off the event
loop, so the service keeps answering other calls quickly while a burst of key checks is being
verified."""

from __future__ import annotations

import asyncio

import grpc
from fte.access.v1 import access_service_pb2 as pb


async def test_other_calls_are_answered_while_keys_are_being_verified(access) -> None:
    created = await access.CreateApiKey(pb.CreateApiKeyRequest(name="burst", role=pb.ROLE_VIEWER))
    wrong = created.secret[:-1] + ("A" if created.secret[-1] != "A" else "B")  # never cached

    async def check() -> grpc.StatusCode:
        try:
            await access.Authenticate(pb.AuthenticateRequest(credential=wrong))
        except grpc.aio.AioRpcError as err:
            return err.code()
        return grpc.StatusCode.OK

    # Enough checks that verifying them outlasts five ordinary calls on a loaded CI box too
    # (16 were all verified first once, with the other test worker busy beside it).
    burst = [asyncio.create_task(check()) for _ in range(48)]
    await asyncio.sleep(0.1)  # the burst is being verified
    for _ in range(5):
        await access.ListAuditEvents(pb.ListAuditEventsRequest(page_size=1))
    # On the event loop, the checks that arrived first would each hold the loop in turn, and
    # the other calls would be answered only after the last of them: an order, not a time, so
    # a loaded machine cannot make it pass or fail.
    still_verifying = sum(1 for task in burst if not task.done())
    codes = await asyncio.gather(*burst)

    assert set(codes) == {grpc.StatusCode.UNAUTHENTICATED}
    assert still_verifying, "every check was done before the other five calls were answered"
