"""One bad outbound record never stalls a channel: the real dispatcher, on real Kafka and the
real ConversationService, parks a record it can never send in fte.dlq as a DeadLetter (the
original record and the error), escalates its ticket when it names one, commits it, and goes
on — the next record on the same channel and the other channels' replies are delivered."""

from __future__ import annotations

import uuid

import asyncpg
from fte.common.v1 import channel_pb2
from fte.conversation.v1 import conversation_service_pb2 as conv_pb


WHATSAPP = channel_pb2.CHANNEL_WHATSAPP
WEB = channel_pb2.CHANNEL_WEB_FORM
EMAIL = channel_pb2.CHANNEL_EMAIL


async def test_poisoned_records_go_to_the_dlq_and_every_channel_keeps_flowing(dispatcher, gmail, twilio):
    async with dispatcher() as run:
        first = await run.open_ticket(WHATSAPP)
        second = await run.open_ticket(WHATSAPP)
        web = await run.open_ticket(WEB)
        mail = await run.open_ticket(EMAIL)

        # Poison 1: a reply id already used on another ticket (FAILED_PRECONDITION).
        taken = await run.reply(first, "The first answer.", phone="+351912000001")
        await run.publish(WHATSAPP, taken)
        stolen = taken.__deepcopy__()
        stolen.ticket_id = second.ticket_id
        stolen.parts[:] = ["Not for this ticket."]
        await run.publish(WHATSAPP, stolen)
        # Poison 2: a ticket that does not exist (NOT_FOUND).
        ghost = stolen.__deepcopy__()
        ghost.ticket_id = str(uuid.uuid4())
        ghost.reply_id = f"ghost-{uuid.uuid4().hex}"
        await run.publish(WHATSAPP, ghost)
        # The next reply on the same channel.
        after = await run.reply(second, "Here is how to restore your board.", phone="+351912000002")
        await run.publish(WHATSAPP, after)
        # Poison 3: not an OutboundMessage at all, on the web channel; then a web reply.
        await run.publish(WEB, b"\xff\xfe this is not a protobuf \x00")
        web_reply = await run.reply(web, "Your export is ready.", email="")
        await run.publish(WEB, web_reply)
        # And the email channel, untouched by all this.
        mail_reply = await run.reply(mail, "Here is your invoice.", email="ana@example.com")
        await run.publish(EMAIL, mail_reply)

        await run.delivered(second, after.reply_id, conv_pb.DELIVERY_STATUS_SENT)
        await run.delivered(web, web_reply.reply_id, conv_pb.DELIVERY_STATUS_DELIVERED)
        await run.delivered(mail, mail_reply.reply_id, conv_pb.DELIVERY_STATUS_SENT)
        letters = await run.dead_letters(3)

        assert [m["Body"] for m in twilio.messages] == ["The first answer.", "Here is how to restore your board."]
        assert [str(s.mime["Subject"]) for s in gmail.sent] == ["Re: Board question"]

        by_key = {letter.idempotency_key: letter for letter in letters}
        assert len(letters) == 3
        precondition = by_key[stolen.reply_id]
        assert precondition.original_topic == run.names.outbound(WHATSAPP)
        assert precondition.offset == 1 and precondition.stage == "send"
        assert precondition.error.startswith("FAILED_PRECONDITION")
        assert precondition.payload == stolen.SerializeToString()
        assert by_key[ghost.reply_id].error.startswith("NOT_FOUND")
        assert by_key[ghost.reply_id].offset == 2
        malformed = by_key[""]
        assert malformed.original_topic == run.names.outbound(WEB)
        assert malformed.stage == "decode" and malformed.offset == 0
        assert malformed.payload == b"\xff\xfe this is not a protobuf \x00"

        # The ticket the poisoned reply named is handed to a person; the reply it collided
        # with is untouched.
        [escalation] = await run.escalations(second)
        assert escalation.reason == conv_pb.ESCALATION_REASON_PROCESSING_ERROR
        assert stolen.reply_id in escalation.note and "FAILED_PRECONDITION" in escalation.note
        assert await run.delivery(first, taken.reply_id) == conv_pb.DELIVERY_STATUS_SENT
        assert await run.escalations(first) == []


async def test_a_reply_conversation_service_keeps_timing_out_on_is_parked_after_bounded_attempts(
    stack, dispatcher, twilio
):
    """Transient failures other than an outage are retried max_attempts times, not forever."""
    async with dispatcher() as ready:
        ticket = await ready.open_ticket(WHATSAPP)
        message = await ready.reply(ticket, "Slow answer.", phone="+351912000003")
    # ConversationService cannot answer while something (a migration, say) holds its messages
    # table locked: every attempt ends DEADLINE_EXCEEDED. (A deadline of a microsecond is not
    # enough: a call answered from one quick read can come back before the client's timer.)
    locker = await asyncpg.connect(stack.admin_dsn)
    try:
        async with locker.transaction():
            await locker.execute("LOCK TABLE conversation.messages IN ACCESS EXCLUSIVE MODE")
            async with dispatcher(rpc_timeout_s=0.5, max_attempts=3) as run:
                await run.publish(WHATSAPP, message)
                [letter] = await run.dead_letters(1)
    finally:
        await locker.close()

    assert letter.idempotency_key == message.reply_id
    assert letter.attempts == 3
    assert letter.error.startswith("DEADLINE_EXCEEDED")
    assert twilio.messages == []
