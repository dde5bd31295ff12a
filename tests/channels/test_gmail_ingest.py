"""GmailIngest through google-api-python-client against the local Gmail: history from the
stored historyId, one InboundMessage per new customer email, real-shaped MIME parsed to the
text the customer wrote, automatic and own mail skipped, expired history resynced."""

from __future__ import annotations

import uuid

import pytest
from fte.common.v1 import channel_pb2
from fte.common.v1.sender_assurance_pb2 import SENDER_ASSURANCE_CLAIMED, SENDER_ASSURANCE_VERIFIED
from fte.events.v1 import events_pb2

from services.channels.gmail.ingest import GmailIngest, MailboxNotification
from services.channels.resilience import ChannelUnavailable
from tests.channels import mail_samples as mail
from tests.channels.conftest import SUPPORT, gmail_settings
from tests.fakes.gmail import BACKEND_ERROR


class Emitted:
    def __init__(self) -> None:
        self.events: list[tuple[str, events_pb2.InboundMessage]] = []

    async def __call__(self, key: str, event: events_pb2.InboundMessage) -> None:
        self.events.append((key, event))

    @property
    def keys(self) -> list[str]:
        return [e.idempotency_key for _, e in self.events]


@pytest.fixture
def emitted() -> Emitted:
    return Emitted()


@pytest.fixture
def ingest(gmail, gmail_api, emitted) -> GmailIngest:
    return GmailIngest(gmail_settings(gmail), gmail_api, emitted)


def note(gmail) -> MailboxNotification:
    return MailboxNotification(SUPPORT, gmail.history_id)


async def ingest_one(gmail, ingest, emitted, raw: bytes, **deliver) -> events_pb2.InboundMessage | None:
    start = gmail.history_id
    gmail.deliver(raw, **deliver)
    before = len(emitted.events)
    await ingest.handle(note(gmail), start)
    new = emitted.events[before:]
    return new[0][1] if new else None


async def test_new_customer_email_becomes_one_inbound_message(gmail, ingest, emitted):
    start = gmail.history_id
    gmail_id = gmail.deliver(mail.gmail_reply_alternative(), thread_id="18c0thread01")

    stored = await ingest.handle(note(gmail), start)

    [(key, event)] = emitted.events
    assert key == mail.CUSTOMER
    assert event.idempotency_key == gmail_id
    assert event.channel == channel_pb2.CHANNEL_EMAIL
    assert (event.sender.email, event.sender.display_name) == (mail.CUSTOMER, "Ana Silva")
    assert event.subject == "Re: Board disappeared"
    assert event.content == "I checked the Trash and it is not there.\nCan you look again?"
    assert event.thread.thread_id == "18c0thread01"
    assert event.thread.message_id == "<CAF=abc123@mail.gmail.com>"
    assert list(event.thread.references) == ["<first@flowboard.example>", "<second@flowboard.example>"]
    assert event.thread.external_id == gmail_id
    assert event.receive_time.seconds > 0
    assert stored == gmail.history_id
    # Calls as Gmail expects them: history from the stored id, only additions.
    [history] = gmail.received("GET", r"/history$")
    assert history.param("startHistoryId") == str(start)
    assert history.param("historyTypes") == "messageAdded"
    [get] = gmail.received("GET", rf"/messages/{gmail_id}$")
    assert get.param("format") == "full"


async def test_text_plain_is_preferred_when_the_html_part_says_something_else(gmail, ingest, emitted):
    event = await ingest_one(gmail, ingest, emitted, mail.alternative_parts_differ())

    assert event.content == "The invoice for March charges 12 seats, we have 10."
    assert "newsletter" not in event.content.lower() and "View in browser" not in event.content


async def test_html_only_mail_is_converted_and_its_quote_removed(gmail, ingest, emitted):
    event = await ingest_one(gmail, ingest, emitted, mail.html_only_french_quote())

    assert (
        event.content
        == "My automations stopped running this morning & nothing happens.\n\nIs the quota reached?"
    )
    assert "Old text" not in event.content and "écrit" not in event.content


async def test_latin1_outlook_mail_is_decoded_and_its_original_message_cut(gmail, ingest, emitted):
    event = await ingest_one(gmail, ingest, emitted, mail.latin1_outlook())

    assert event.content == "Olá, não recebi a fatura de 49 € deste mês.\n\nObrigado,\nJoão"
    assert event.subject == "Fatura não recebida"
    assert (event.sender.display_name, event.sender.email) == ("João Araújo", "joao@example.pt")


async def test_base64_body_is_read_and_attachments_ignored(gmail, ingest, emitted):
    event = await ingest_one(gmail, ingest, emitted, mail.base64_utf8_with_attachment())

    assert event.content == "Bonjour 👋 — the export fails with error 500.\n\nSent from my iPhone"
    assert event.subject == "Export — error"
    assert event.attributes["attachments"] == "1"
    assert "PDF" not in event.content


@pytest.mark.parametrize(
    "raw",
    [mail.out_of_office, mail.newsletter, mail.x_autoreply, mail.from_support_itself, mail.bounce],
    ids=["auto-submitted", "precedence bulk", "x-autoreply", "own address", "bounce"],
)
async def test_automatic_and_own_mail_is_skipped(gmail, ingest, emitted, raw):
    assert await ingest_one(gmail, ingest, emitted, raw()) is None
    assert emitted.events == []


async def test_mail_we_sent_is_skipped_without_being_fetched(gmail, ingest, emitted):
    sent_id = gmail.deliver(mail.from_support_itself(), labels=("SENT",))

    await ingest.handle(note(gmail), gmail.history_id - 1)

    assert emitted.events == []
    assert gmail.received("GET", rf"/messages/{sent_id}$") == []


async def test_a_repeated_notification_emits_nothing_new(gmail, ingest, emitted):
    start = gmail.history_id
    gmail.deliver(mail.gmail_reply_alternative())
    stored = await ingest.handle(note(gmail), start)

    again = await ingest.handle(note(gmail), stored)  # same notification delivered twice
    replay = await ingest.handle(note(gmail), start)  # or handled again from the old checkpoint

    assert len(emitted.events) == 1
    assert again == replay == stored


async def test_several_new_mails_are_emitted_oldest_first(gmail, ingest, emitted):
    start = gmail.history_id
    ids = [
        gmail.deliver(
            mail.plain(
                f"C{i} <c{i}@example.com>", f"Question {i}", f"Question number {i}.", f"<q{i}@example.com>"
            )
        )
        for i in range(3)
    ]

    await ingest.handle(note(gmail), start)

    assert emitted.keys == ids


async def test_expired_history_triggers_a_bounded_resync(gmail, emitted, gmail_api):
    ingest = GmailIngest(gmail_settings(gmail, gmail_resync_max_messages=2), gmail_api, emitted)
    stale = gmail.history_id
    ids = [
        gmail.deliver(
            mail.plain(
                f"C{i} <c{i}@example.com>", f"Question {i}", f"Question number {i}.", f"<r{i}@example.com>"
            )
        )
        for i in range(3)
    ]
    gmail.expire_history()

    stored = await ingest.handle(note(gmail), stale)

    [listing] = gmail.received("GET", r"/messages$")
    assert listing.param("q") == "in:inbox newer_than:1d"
    assert listing.param("maxResults") == "2"
    assert emitted.keys == ids[1:]  # the 2 newest, oldest first
    assert stored == gmail.history_id


async def test_no_stored_history_id_starts_with_a_resync(gmail, ingest, emitted):
    gmail_id = gmail.deliver(mail.gmail_reply_alternative())

    stored = await ingest.handle(note(gmail), None)

    assert emitted.keys == [gmail_id]
    assert gmail.received("GET", r"/history$") == []
    assert stored == gmail.history_id


async def test_notification_for_another_mailbox_is_ignored(gmail, ingest, emitted):
    gmail.deliver(mail.gmail_reply_alternative())

    stored = await ingest.handle(MailboxNotification("other@flowboard.example", gmail.history_id), 5)

    assert stored == 5
    assert emitted.events == [] and gmail.requests == []


async def test_gmail_down_raises_a_transient_error_and_emits_nothing(gmail, ingest, emitted):
    start = gmail.history_id
    gmail.deliver(mail.gmail_reply_alternative())
    gmail.fail("GET", r"/history$", BACKEND_ERROR, times=3)

    with pytest.raises(ChannelUnavailable):
        await ingest.handle(note(gmail), start)
    assert emitted.events == []

    await ingest.handle(note(gmail), start)  # Gmail is back: the same notification works
    assert len(emitted.events) == 1


# --- what an email proves (issue 12): Gmail's DMARC verdict on the From address --------------


async def test_dmarc_pass_in_gmails_header_makes_the_sender_verified(gmail, ingest, emitted):
    raw = mail.authenticated("<dmarc-pass@example.com>", mail.gmail_authentication_results("pass"))

    event = await ingest_one(gmail, ingest, emitted, raw)

    assert event.sender.email == mail.CUSTOMER
    assert (event.sender.dmarc, event.sender.assurance) == ("pass", SENDER_ASSURANCE_VERIFIED)


@pytest.mark.parametrize("verdict", ["fail", "none", "temperror"])
async def test_dmarc_other_than_pass_leaves_the_sender_a_claim(gmail, ingest, emitted, verdict):
    raw = mail.authenticated(f"<dmarc-{verdict}@example.com>", mail.gmail_authentication_results(verdict))

    event = await ingest_one(gmail, ingest, emitted, raw)

    assert (event.sender.dmarc, event.sender.assurance) == (verdict, SENDER_ASSURANCE_CLAIMED)


async def test_mail_without_authentication_results_is_a_claim(gmail, ingest, emitted):
    event = await ingest_one(gmail, ingest, emitted, mail.authenticated("<no-auth@example.com>"))

    assert (event.sender.dmarc, event.sender.assurance) == ("", SENDER_ASSURANCE_CLAIMED)


@pytest.mark.parametrize(
    "headers",
    [
        # The sender wrote a "pass" below Gmail's own "fail": only the topmost one counts.
        (mail.gmail_authentication_results("fail"), mail.gmail_authentication_results("pass")),
        # Another server's verdict is not Gmail's.
        (mail.gmail_authentication_results("pass", authserv_id="mx.evil.example"),),
        # A pass for another domain than the From address's proves nothing about this sender.
        (mail.gmail_authentication_results("pass", header_from="evil.example"),),
    ],
    ids=["forged-below-gmails", "other-authserv-id", "other-domain"],
)
async def test_a_pass_that_is_not_gmails_verdict_on_the_from_domain_is_a_claim(gmail, ingest, emitted, headers):
    event = await ingest_one(gmail, ingest, emitted, mail.authenticated(f"<{uuid.uuid4().hex}@example.com>", *headers))

    assert event.sender.assurance == SENDER_ASSURANCE_CLAIMED
    assert event.sender.dmarc != "pass"
