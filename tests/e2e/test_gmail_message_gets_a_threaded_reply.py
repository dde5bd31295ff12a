"""Gmail, the full loop on the running pipeline: a customer's mail lands in the (fake) support
mailbox, Pub/Sub pushes the change with an OIDC token → edge → Kafka → the dispatcher's ingest
reads history.list and messages.get with google-api-python-client → InboundMessage → worker →
agent → a reply in the customer's thread through users.messages.send. Pushes whose token is
expired or for another audience are refused."""

from __future__ import annotations

from fte.common.v1 import channel_pb2

from tests.e2e.channel_loop import (
    customer_email,
    email_answer,
    email_customer,
    history,
    inbound,
    new_email_address,
    push_gmail,
)
from tests.e2e.conftest import SUPPORT_ADDRESS

SUBJECT = "Password reset link never arrives"
QUESTION = "Hello,\n\nHow do I reset my password? The link never seems to come.\n\nThanks, Grace"


async def test_customer_email_gets_a_reply_in_its_gmail_thread(channel_fakes, http, identity, conversation):
    customer = new_email_address("grace")
    earlier = "<CAF+earlier-1@mail.example.com>"
    mime = customer_email(customer, SUBJECT, QUESTION, references=(earlier,))

    gmail_id = await email_customer(channel_fakes, http, mime)
    reply = await email_answer(channel_fakes, customer)

    # Threaded: the same Gmail thread, and the headers every mail client threads by.
    assert reply.request_thread_id == gmail_id  # the thread Gmail gave the customer's mail
    assert reply.thread_id == gmail_id
    sent = reply.mime
    assert sent["In-Reply-To"] == mime["Message-ID"]
    assert sent["References"].split() == [earlier, mime["Message-ID"]]
    assert sent["Subject"] == f"Re: {SUBJECT}"
    assert customer in sent["To"] and SUPPORT_ADDRESS in sent["From"]
    assert sent["Message-ID"] and sent["Message-ID"] != mime["Message-ID"]
    assert sent["Auto-Submitted"] == "auto-replied"
    # multipart/alternative: the text and the same answer as HTML.
    assert sent.get_content_type() == "multipart/alternative"
    parts = {p.get_content_type(): p.get_content() for p in sent.iter_parts()}
    assert set(parts) == {"text/plain", "text/html"}
    assert "Forgot password" in parts["text/plain"]
    assert "Forgot password" in parts["text/html"] and "<p>" in parts["text/html"]

    # One ticket on the email channel, the customer's mail and our answer on it.
    messages = await history(identity, conversation, email=customer)
    [question] = inbound(messages)
    assert question.channel == channel_pb2.CHANNEL_EMAIL
    assert question.subject == SUBJECT
    assert "reset my password" in question.content
    assert question.idempotency_key == gmail_id
    assert len(channel_fakes.gmail.received("GET", rf"/messages/{gmail_id}$")) >= 1


async def test_push_with_expired_or_foreign_token_is_refused(channel_fakes, http):
    google = channel_fakes.google
    expired = google.mint(channel_fakes.pubsub_audience, issued_ago_s=7200, lifetime_s=3600)
    other_audience = google.mint("https://another-service.example/push")

    for token in (expired, other_audience):
        refused = await push_gmail(channel_fakes, http, token=token)
        assert refused.status_code == 403, refused.text

    no_token = await http.post("/webhooks/gmail", content=b"{}", headers={"Content-Type": "application/json"})
    assert no_token.status_code == 403
