"""The offline model recognises a customer asking to link another address and a one-time code
sent back (issue 12), and drives the linking tools; the code never reaches the model's input."""

from __future__ import annotations

import json

import pytest

from services.agent.linking import REPLIES, link_request, masked_message
from services.agent.offline_model import OfflineModel
from services.common import link_codes

TOOLS = {"create_ticket", "get_customer_history", "search_knowledge_base", "escalate_to_human",
         "send_response", "request_account_link", "confirm_account_link"}


@pytest.mark.parametrize("message, address", [
    ("this is me, ada@example.com", "ada@example.com"),
    ("Hi! This is me: Ada.Lovelace@Example.com", "Ada.Lovelace@Example.com"),
    ("I also write from +44 7700 900123", "+44 7700 900123"),
    ("link my email x@y.com", "x@y.com"),
    ("my email is grace@navy.mil, please connect my accounts", "grace@navy.mil"),
    ("I usually email you from linus@kernel.org, it's the same person", "linus@kernel.org"),
    ("That is also me: +1 (415) 555-0142", "+1 (415) 555-0142"),
])
def test_link_requests_are_recognised_with_their_address(message, address):
    assert link_request(message) == address


@pytest.mark.parametrize("message", [
    "How do I export a board to CSV?",
    "Please send the invoice to billing@corp.com",
    "How do I connect my GitHub account?",
    "My phone number changed, how do I update it in my profile?",
])
def test_ordinary_messages_are_not_link_requests(message):
    assert link_request(message) is None


@pytest.mark.parametrize("message, code", [
    ("123456", "123456"), ("the code is 123456", "123456"), ("Code: 123-456.", "123456"),
    ("my verification code is 987 654 thanks", "987654"), ("12345678", "12345678"),
])
def test_code_replies_are_recognised_and_masked(message, code):
    assert link_codes.code_reply(message) == code
    masked = masked_message(message)
    assert code not in masked.replace(" ", "").replace("-", "") and link_codes.REDACTED in masked
    assert link_codes.is_code_reply(masked)


@pytest.mark.parametrize("message", ["Order 123456 never arrived", "How do I reset 2FA?", "12345"])
def test_other_numbers_are_not_code_replies(message):
    assert link_codes.code_reply(message) is None and masked_message(message) == message


def _output(name: str, result: dict) -> list[dict]:
    return [
        {"role": "user", "content": "(message)"},
        {"type": "function_call", "call_id": "c1", "name": name, "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": json.dumps(result)},
    ]


async def test_the_model_asks_identity_to_send_a_code_then_sends_the_tools_reply():
    model = OfflineModel(embedder=None)
    calls, _ = await model._decide(model_input("this is me, ada@example.com"), TOOLS)
    assert calls == [("create_ticket", {}), ("request_account_link", {"address": "ada@example.com"})]

    reply = REPLIES["code_sent"].format(where="by email", address="a•••@example.com", minutes=10)
    calls, _ = await model._decide(model_input("", _output("request_account_link", {
        "outcome": "code_sent", "reply": reply})), TOOLS)
    assert calls == [("send_response", {"message": reply, "article_ids": []})]


@pytest.mark.parametrize("message", ["123456", "the code is 123456", masked_message("the code is 123456")])
async def test_a_code_reply_is_checked_by_the_confirm_tool(message):
    model = OfflineModel(embedder=None)
    calls, _ = await model._decide(model_input(message), TOOLS)
    assert calls == [("create_ticket", {}), ("confirm_account_link", {})]


async def test_without_the_linking_tools_a_code_is_an_ordinary_question():
    model = OfflineModel(embedder=None)
    calls, _ = await model._decide(model_input("123456"), TOOLS - {"confirm_account_link"})
    assert [c[0] for c in calls] == ["create_ticket", "get_customer_history", "search_knowledge_base"]


def model_input(message: str, items: list[dict] | None = None):
    from services.agent.offline_model import _Transcript

    return _Transcript.read(items if items is not None else message)


class _NoIdentity:
    """Fails the test if the tool reaches IdentityService."""

    def __getattr__(self, name):
        raise AssertionError(f"IdentityService.{name} must not be called")


async def test_a_claimed_sender_is_refused_before_identity_is_asked():
    from services.agent import linking
    from services.agent.tools import RespondInput, TurnContext

    turn = TurnContext(
        request=RespondInput(ticket_id="t", customer_id="c", conversation_id="", channel=3,
                             message="this is me, victim@example.com", sender_verified=False),
        knowledge=None, conversation=None, min_score=0.4, multilingual=False,
        identity=_NoIdentity(), link_code="123456",
    )
    assert (await linking.start(turn, "victim@example.com"))["outcome"] == "refused_unverified"
    assert (await linking.confirm(turn))["outcome"] == "refused_unverified"
