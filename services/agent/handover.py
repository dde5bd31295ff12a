"""The short, kind messages sent when a conversation goes to people, and the other fixed
replies (empty message, rate limit). Every statement in them is a company fact: which team
handles what, its address, and the first-reply time for escalations, all read from
services/common/company.toml; outside business hours, the due time computed from the published
hours and first-reply time (services/common/teams.toml)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from fte.conversation.v1 import conversation_service_pb2 as conv_pb

from services.agent import language
from services.common import business_hours
from services.common.company import COMPANY
from services.common.text import GREETING, split_sentences, visible_text

FIRST_REPLY = f"A person will reply within {COMPANY.escalation_first_reply}."

_BY_REASON = {
    conv_pb.ESCALATION_REASON_PRICING: (
        "Thanks for your interest! Our sales team handles every question about prices, quotes "
        f"and discounts, so I've passed your message to them ({COMPANY.sales_email}). "
        + FIRST_REPLY
    ),
    conv_pb.ESCALATION_REASON_REFUND: (
        "Thanks for letting us know. Refunds, credits and invoice disputes are handled by our "
        f"billing team, so I've passed your message to them ({COMPANY.billing_email}). "
        + FIRST_REPLY
    ),
    conv_pb.ESCALATION_REASON_LEGAL: (
        "Thanks for your message. Contracts, DPAs and legal questions are handled by our legal "
        f"team, so I've passed it to them ({COMPANY.legal_email}). " + FIRST_REPLY
    ),
    conv_pb.ESCALATION_REASON_ANGER: (
        "I'm really sorry about the trouble this has caused you. I've passed your conversation "
        "to a person on our support team. " + FIRST_REPLY
    ),
    conv_pb.ESCALATION_REASON_HUMAN_REQUEST: (
        "Of course. I've passed your conversation to a person on our support team. " + FIRST_REPLY
    ),
    conv_pb.ESCALATION_REASON_SEARCH_FAILED: (
        "I couldn't find the answer to this in our help articles, so I've passed your question "
        "to a person on our support team. " + FIRST_REPLY
    ),
    conv_pb.ESCALATION_REASON_PROCESSING_ERROR: (
        "Sorry, something went wrong while I was preparing your answer. I've passed your "
        "conversation to a person on our support team. " + FIRST_REPLY
    ),
    conv_pb.ESCALATION_REASON_OTHER: (
        "Thanks for your message. I've passed it to a person on our support team, who will "
        "take it from here. " + FIRST_REPLY
    ),
}

# For customers writing in a language the model cannot answer in. Each states the first-reply
# time in its own language, so it cannot be filled in from company.toml: change it with it.
_TRANSLATED = {
    "es": "Gracias por tu mensaje. Lo he pasado a una persona de nuestro equipo de soporte, "
          "que te responderá en un plazo de 1 hora laborable.",
    "pt": "Obrigado pela sua mensagem. Passei-a a uma pessoa da nossa equipa de suporte, que "
          "lhe responderá dentro de 1 hora útil.",
    "fr": "Merci pour votre message. Je l'ai transmis à une personne de notre équipe "
          "d'assistance, qui vous répondra dans un délai d'1 heure ouvrée.",
    "de": "Danke für Ihre Nachricht. Ich habe sie an eine Person aus unserem Support-Team "
          "weitergegeben, die Ihnen innerhalb von 1 Geschäftsstunde antwortet.",
    "it": "Grazie per il tuo messaggio. L'ho passato a una persona del nostro team di "
          "assistenza, che ti risponderà entro 1 ora lavorativa.",
    "nl": "Bedankt voor je bericht. Ik heb het doorgegeven aan iemand van ons supportteam, die "
          "binnen 1 werkuur reageert.",
}

EMPTY_MESSAGE_REPLY = "How can I help you today?"
# No promise of when: the messages absorbed by the limit get no answer of their own.
RATE_LIMIT_NOTICE = (
    "I'm working on your messages. To help me answer well, please send your question in one "
    "message."
)


def due_of(escalation: conv_pb.Escalation) -> dict[str, datetime]:
    """The raise and due times ConversationService.Escalate answered, for `message`."""
    if not escalation.HasField("reply_due_time"):
        return {}
    return {"raised": escalation.create_time.ToDatetime(tzinfo=UTC),
            "due": escalation.reply_due_time.ToDatetime(tzinfo=UTC)}


def message(reason: int, customer_message: str = "", raised: datetime | None = None,
            due: datetime | None = None, ack: str = "") -> str:
    """The handover for `reason`, in the customer's language when it is not English. Raised
    outside business hours (or too close to closing time for the published "within 1 business
    hour" to read right), it states the due time instead: "A person will reply by Monday 08:30
    UTC." — derived from the published hours (services/common/business_hours.py).
    `ack` (`acknowledgement()` of earlier contact on another channel) goes before the English
    text."""
    lang = language.detect(customer_message) if customer_message.strip() else language.ENGLISH
    ack = ack.strip()
    if not lang.is_english and lang.code in _TRANSLATED:
        english = _BY_REASON[conv_pb.ESCALATION_REASON_OTHER]
        text = "\n\n".join(x for x in (_TRANSLATED[lang.code], ack, english) if x)
    else:
        text = "\n\n".join(x for x in (ack, _BY_REASON.get(
            reason, _BY_REASON[conv_pb.ESCALATION_REASON_OTHER])) if x)
    return text.replace(FIRST_REPLY, first_reply(raised, due))


def first_reply(raised: datetime | None = None, due: datetime | None = None) -> str:
    """The facts' "A person will reply within 1 business hour.", or the due time when the
    escalation was raised outside business hours (or too close to closing time)."""
    if raised is not None and due is not None and not business_hours.promise_is_plain(raised, due):
        return f"A person will reply by {business_hours.describe(due)}."
    return FIRST_REPLY


_CHANNEL_VERB = {
    "email": "emailed us",
    "whatsapp": "messaged us on WhatsApp",
    "web_form": "wrote to us through our web form",
}


def topic_of(earlier: dict[str, Any], max_words: int = 9) -> str:
    """What an earlier customer message was about: its subject (without "Re:"), else its
    first sentence after any greeting, at most `max_words` words ("My push notifications
    stopped arriving." -> "push notifications stopped arriving")."""
    topic = re.sub(r"^(?:re|fw|fwd):\s*", "", " ".join((earlier.get("subject") or "").split()),
                   flags=re.I)
    if not topic:
        text = GREETING.sub("", visible_text(earlier.get("text") or "").strip(), count=1)
        first = split_sentences(text)[0] if text.strip() else ""
        first = re.sub(r"^(?:my|our)\s+", "", first.rstrip(".!?"), flags=re.I)
        ws = first.split()
        topic = " ".join(ws[:max_words]) + ("…" if len(ws) > max_words else "")
    return topic


def acknowledgement(earlier_contact: list[dict[str, Any]]) -> str:
    """'I see you emailed us on 12 Nov about "401 errors from the API".' for the latest of the
    customer's messages on another channel (`earlier_contact_on_other_channels` of
    `get_customer_history`: date, channel, subject, text), or ''."""
    if not earlier_contact:
        return ""
    last = earlier_contact[-1]
    topic = topic_of(last)
    verb = _CHANNEL_VERB.get(last.get("channel", ""), "contacted us")
    about = f' about "{topic}"' if topic else ""
    return f"I see you {verb} on {last.get('date')}{about}."
