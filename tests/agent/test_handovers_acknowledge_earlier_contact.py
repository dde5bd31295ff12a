"""A handover acknowledges the customer's earlier contact on another channel in the same
sentence answers use ("I see you emailed us on 12 Nov 2024 about ..."): after two empty
searches and after a guardrail trip alike. Earlier contact on the same channel is not
announced, and a sender who only claimed the address hears nothing of the owner's."""

from __future__ import annotations


from fte.common.v1.sender_assurance_pb2 import SENDER_ASSURANCE_CLAIMED
from fte.conversation.v1 import conversation_service_pb2 as conv_pb

from services.agent import handover
from tests.agent.helpers import EMAIL, WEB_FORM, WHATSAPP, ask, customer_who_emailed

ACK = 'I see you emailed us on 12 Nov 2024 about "401 errors".'


async def test_a_failed_search_handover_acknowledges_the_earlier_email(conversation, agent):
    customer = await customer_who_emailed(conversation, agent)

    ex = await ask(conversation, agent, "What's the weather in Lisbon tomorrow?", WHATSAPP,
                   customer_id=customer)
    r = ex.response

    assert r.escalated and r.escalation_reason == conv_pb.ESCALATION_REASON_SEARCH_FAILED
    assert ex.text.startswith(f"Hi Ada! {ACK} I couldn't find the answer")
    assert all(len(p) <= 300 for p in r.reply.parts)


async def test_a_guardrail_handover_acknowledges_the_earlier_email(conversation, agent):
    customer = await customer_who_emailed(conversation, agent)

    ex = await ask(conversation, agent, "can I talk to a human?", WEB_FORM, customer_id=customer)
    r = ex.response

    assert r.escalated and r.escalation_reason == conv_pb.ESCALATION_REASON_HUMAN_REQUEST
    assert f"{ACK}\n\nOf course. I've passed your conversation to a person" in ex.text


async def test_earlier_contact_on_the_same_channel_is_not_announced(conversation, agent):
    customer = await customer_who_emailed(conversation, agent)

    ex = await ask(conversation, agent, "can I talk to a human?", EMAIL, customer_id=customer)

    assert ex.response.escalated and "I see you" not in ex.text


async def test_a_claimed_sender_hears_nothing_of_the_owners_contact(conversation, agent):
    customer = await customer_who_emailed(conversation, agent)

    ex = await ask(conversation, agent, "can I talk to a human?", WEB_FORM, customer_id=customer,
                   assurance=SENDER_ASSURANCE_CLAIMED)

    assert ex.response.escalated
    assert "I see you" not in ex.text and "401" not in ex.text


def test_the_acknowledgement_names_the_subject_or_the_first_sentence():
    earlier = [{"channel": "web_form", "date": "3 Dec", "subject": "",
                "text": "Hello team,\nMy push notifications stopped arriving. Any idea?"}]
    assert handover.acknowledgement(earlier) == (
        'I see you wrote to us through our web form on 3 Dec about '
        '"push notifications stopped arriving".')
    assert handover.acknowledgement([{"channel": "email", "date": "1 Dec",
                                      "subject": "Re: 401 errors", "text": "x"}]) == (
        'I see you emailed us on 1 Dec about "401 errors".')
    assert handover.acknowledgement([]) == ""


def test_a_translated_handover_keeps_the_acknowledgement_before_the_english_text():
    text = handover.message(conv_pb.ESCALATION_REASON_OTHER,
                            "Hola, necesito ayuda con mi cuenta por favor", ack=ACK)
    assert text.index(ACK) > 0 and text.index(ACK) < text.index("Thanks for your message")
