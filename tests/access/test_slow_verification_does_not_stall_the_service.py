"""argon2 verification is slow on purpose (~0.1-0.2 s of CPU per check); it runs off the event
loop, so the service keeps answering other calls quickly while a burst of key checks is being
verified."""

from __future__ import annotations

import asyncio

import grpc
from fte.access.v1 import access_service_pb2 as pb


async def test_other_calls_are_answered_while_keys_are_being_verified(access) -> None:
    created = await access.CreateApiKey(pb.CreateApiKeyRequest(name="burst", role=pb.ROLE_VIEWER))
    # Each check carries its own wrong secret: one credential asked for many times at once is
    # verified once and its answer shared (CredentialCache.get_or_load), so a burst of one wrong
    # key was ~2 argon2 checks, over before the other calls whenever the box was quick.
    stem, last = created.secret[:-2], created.secret[-2:]
    wrongs = [w for w in (stem + a + b for a in "ABCDEFGHI" for b in "abc") if w[-2:] != last][:24]

    async def check(wrong: str) -> grpc.StatusCode:
        try:
            await access.Authenticate(pb.AuthenticateRequest(credential=wrong))
        except grpc.aio.AioRpcError as err:
            return err.code()
        return grpc.StatusCode.OK

    # 24 argon2 checks, 4 at a time: about a second of verifying on two cores.
    burst = [asyncio.create_task(check(wrong)) for wrong in wrongs]
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
