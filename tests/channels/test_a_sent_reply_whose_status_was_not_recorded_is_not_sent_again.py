"""A reply the provider took, whose delivery status ConversationService could not record just
then, is not sent again when the dispatcher tries the record again: the next attempt records
the status only. (A database that goes away between the send and the status update, as in the
chaos suite's "PostgreSQL stopped" case, would otherwise have the customer get it twice.)

Real dispatcher, real Kafka, real ConversationService and PostgreSQL, the fake Twilio. The
messages table is held in SHARE mode (as a migration's index build might): reads go on, so
the dispatcher finds the reply pending and sends it, but the status update waits and times
out until the lock goes."""

from __future__ import annotations

import asyncio

import asyncpg
from fte.common.v1 import channel_pb2
from fte.conversation.v1 import conversation_service_pb2 as conv_pb

from tests.polling import until

WHATSAPP = channel_pb2.CHANNEL_WHATSAPP


async def test_the_next_attempt_records_the_status_without_sending_the_reply_again(stack, dispatcher, twilio):
    async with dispatcher() as ready:
        ticket = await ready.open_ticket(WHATSAPP)
        message = await ready.reply(ticket, "Sent once.", phone="+351912000005")
    locker = await asyncpg.connect(stack.admin_dsn)
    try:
        held = locker.transaction()
        await held.start()
        await locker.execute("LOCK TABLE conversation.messages IN SHARE MODE")
        async with dispatcher(rpc_timeout_s=0.5, max_attempts=20) as run:
            await run.publish(WHATSAPP, message)
            await until(lambda: len(twilio.messages) >= 1, "the reply to reach Twilio", 30)
            # At least one status update times out while the lock is held.
            await asyncio.sleep(1.5)
            assert await run.delivery(ticket, message.reply_id) == conv_pb.DELIVERY_STATUS_PENDING
            await held.rollback()
            await run.delivered(ticket, message.reply_id, conv_pb.DELIVERY_STATUS_SENT)
    finally:
        await locker.close()

    assert [m["Body"] for m in twilio.messages] == ["Sent once."]
