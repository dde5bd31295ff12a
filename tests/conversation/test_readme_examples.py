"""The grpcurl examples in services/conversation/README.md and the root README.md (identity and
conversation part) work as pasted."""

from __future__ import annotations

from datetime import datetime

from devstack import REPO_ROOT
from tests.identity.test_readme_examples import _documents
from tests.running_services import run_readme_examples


def _time(rfc3339: str) -> datetime:
    return datetime.fromisoformat(rfc3339)


async def test_conversation_readme_examples_record_and_read_back(identity_address, conversation_address, admin_key):
    output = await run_readme_examples(
        REPO_ROOT / "services/conversation/README.md", identity_address, conversation_address, admin_key)
    duplicate, switched, reply, ticket, history, metrics, erased, erased_ticket = _documents(output)
    assert duplicate["duplicate"] is True
    assert switched["channel_switch"]["from_channel"] == "CHANNEL_EMAIL"
    assert switched["channel_switch"]["to_channel"] == "CHANNEL_WHATSAPP"
    assert reply["message_id"]
    assert ticket["ticket"]["status"] == "TICKET_STATUS_OPEN"
    assert [m["content"] for m in ticket["messages"]] == ["How do I export a board to CSV?", "Board → Export → CSV."]
    assert [m["channel"] for m in history["messages"]] == ["CHANNEL_EMAIL", "CHANNEL_WHATSAPP", "CHANNEL_EMAIL"]
    assert {c["channel"] for c in metrics["channels"]} == {"CHANNEL_EMAIL", "CHANNEL_WHATSAPP", "CHANNEL_WEB_FORM"}
    assert (erased["messages_erased"], erased["tickets_erased"]) == (3, 2)
    assert erased_ticket["ticket"]["status"] == "TICKET_STATUS_OPEN"
    assert [m["content"] for m in erased_ticket["messages"]] == ["[erased]", "[erased]"]


async def test_root_readme_walkthrough_records_a_message_and_reads_its_ticket(identity_address, conversation_address, admin_key):
    # The knowledge search block needs the agent service, which these tests do not start.
    output = await run_readme_examples(
        REPO_ROOT / "README.md", identity_address, conversation_address, admin_key, skip_blocks_with="127.0.0.1:50053")
    assert "fte.identity.v1.IdentityService" in output  # `list`
    assert "method_access" in output and "ROLE_ADMIN" in output  # `describe` shows who may call
    health, history, ticket, queue, escalation, claimed, reply, resolved, reopened = _documents(output)
    assert health == {"status": "SERVING"}
    assert [(m["channel"], m["content"]) for m in history["messages"]] == [
        ("CHANNEL_WHATSAPP", "How do I export a board to CSV?")]
    assert ticket["ticket"]["ticket_id"] == history["messages"][0]["ticket_id"]
    assert ticket["ticket"]["status"] == "TICKET_STATUS_OPEN"
    assert [m["content"] for m in ticket["messages"]] == ["How do I export a board to CSV?"]

    # "For the support team": the escalation goes to sales and through the queue's steps.
    escalation_id = escalation["escalation"]["escalation_id"]
    assert escalation["escalation"]["team"] == "sales" and "reply_due_time" in escalation["escalation"]
    listed = queue["escalations"]
    assert {e["team"] for e in listed} == {"sales"}
    # Oldest first, 20 to a page: on a fresh `make run` it is there; in this test session other
    # tests' sales escalations may fill the first page, all of them older than this one.
    assert escalation_id in [e["escalation_id"] for e in listed] or (
        len(listed) == 20
        and all(_time(e["create_time"]) <= _time(escalation["escalation"]["create_time"])
                for e in listed))
    assert claimed["escalation"]["state"] == "ESCALATION_STATE_CLAIMED"
    assert reply["message_id"] and reply["escalation"]["first_reply_time"]
    assert resolved["escalation"]["state"] == "ESCALATION_STATE_RESOLVED"
    assert reopened["escalation"]["state"] == "ESCALATION_STATE_OPEN"
