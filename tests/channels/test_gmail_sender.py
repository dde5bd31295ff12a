"""GmailSender through google-api-python-client against the local Gmail: what users.messages.send
received — threadId and the raw RFC 822 reply (threading headers, one "Re:", text + HTML)."""

from __future__ import annotations

import pytest
from fte.events.v1 import events_pb2

from services.channels.gmail.sender import reply_subject
from services.channels.web import web_reply_notification
from tests.channels import mail_samples as mail
from tests.channels.conftest import SEND, SUPPORT, outbound


async def test_reply_goes_into_the_customer_thread_with_threading_headers(gmail, sender, thread):
    gmail_id = await sender.send(
        outbound(
            thread,
            "Your board is in the Trash.\n\nRestore it from Settings.",
            html="<p>Your board is in the <b>Trash</b>.</p>",
        )
    )

    [request] = gmail.received("POST", SEND)
    assert request.path == "/gmail/v1/users/me/messages/send"
    assert request.json()["threadId"] == "18c0thread01"
    [sent] = gmail.sent
    assert sent.id == gmail_id and sent.thread_id == "18c0thread01"
    mime = sent.mime
    assert mime["To"] == f"Ana Silva <{mail.CUSTOMER}>"
    assert mime["From"] == f"Flowboard Support <{SUPPORT}>"
    assert mime["Subject"] == "Re: Board disappeared"
    assert mime["In-Reply-To"] == "<CAF=abc123@mail.gmail.com>"
    assert (
        mime["References"]
        == "<first@flowboard.example> <second@flowboard.example> <CAF=abc123@mail.gmail.com>"
    )
    assert mime["Message-ID"] == "<reply-9.1@flowboard.example>"
    assert mime["Auto-Submitted"] == "auto-replied"
    assert mime.get_content_type() == "multipart/alternative"
    text, html = mime.get_payload()
    assert text.get_content_type() == "text/plain"
    assert text.get_content().strip() == "Your board is in the Trash.\n\nRestore it from Settings."
    assert html.get_content_type() == "text/html"
    assert html.get_content().strip() == "<p>Your board is in the <b>Trash</b>.</p>"


async def test_long_reply_goes_as_consecutive_messages_in_the_thread(gmail, sender, thread):
    first, second = " ".join(["word"] * 500), " ".join(["more"] * 120)

    gmail_id = await sender.send(outbound(thread, first, second))

    assert [s.request_thread_id for s in gmail.sent] == ["18c0thread01", "18c0thread01"]
    assert [s.mime.get_payload()[0].get_content().strip() for s in gmail.sent] == [first, second]
    assert [s.mime["Message-ID"] for s in gmail.sent] == [
        "<reply-9.1@flowboard.example>",
        "<reply-9.2@flowboard.example>",
    ]
    assert {s.mime["Subject"] for s in gmail.sent} == {"Re: Board disappeared"}
    assert {s.mime["In-Reply-To"] for s in gmail.sent} == {"<CAF=abc123@mail.gmail.com>"}
    # Without a HTML part of its own, each message gets its text as HTML.
    assert gmail.sent[1].mime.get_payload()[1].get_content().startswith("<p>more more")
    assert gmail_id == gmail.sent[-1].id


@pytest.mark.parametrize(
    "original, expected",
    [
        ("Board disappeared", "Re: Board disappeared"),
        ("Re: Board disappeared", "Re: Board disappeared"),
        ("RE: re: Re[2]: Board", "Re: Board"),
        ("AW: Rechnung", "Re: Rechnung"),
        ("Re: Fwd: Invoice", "Re: Fwd: Invoice"),
        ("", "Re: your message"),
    ],
)
def test_reply_subject_has_exactly_one_re(original, expected):
    assert reply_subject(original) == expected


async def test_new_email_without_a_thread_for_web_form_customers(gmail, sender):
    web_reply = events_pb2.OutboundMessage(
        reply_id="web-reply-1",
        ticket_id="t-9",
        recipient=events_pb2.Recipient(email="lee@example.com", display_name="Lee"),
        parts=["You can export a board as CSV from the board menu."],
        subject="Re: Export my board",
    )

    await sender.send(web_reply_notification(web_reply, "https://support.flowboard.example/ticket/t-9"))

    [request] = gmail.received("POST", SEND)
    assert "threadId" not in request.json()
    [sent] = gmail.sent
    assert sent.mime["To"] == "Lee <lee@example.com>"
    assert sent.mime["Subject"] == "We replied: Export my board"
    assert sent.mime["In-Reply-To"] is None
    assert sent.mime["Message-ID"] == "<web-reply-1-email-notice.1@flowboard.example>"
    body = sent.mime.get_payload()[0].get_content()
    assert "export a board as CSV" in body and "https://support.flowboard.example/ticket/t-9" in body
