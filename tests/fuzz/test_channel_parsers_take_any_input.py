"""The parsers that read what outsiders send, fed by hypothesis: a Gmail message (format=full:
any headers, encoded words and charsets, MIME trees, bodies), Twilio's WhatsApp webhook forms
(inbound messages and delivery statuses), and Pub/Sub's Gmail push body.

Each input either parses into what the pipeline publishes next, or raises the one error its
caller turns into a 4xx (ValueError: the edge answers 400); nothing else escapes. A Gmail
message always parses: whatever `parse_gmail_message` raised would dead-letter the customer's
mail unanswered. Where a property exists it is checked too: a mail built with the email library
parses back to its sender, subject and text; a valid WhatsApp number and a message id always
make an InboundMessage from that number. FUZZ_EXAMPLES (default 30) scales every run here
by 10 (300 examples a test by default)."""

from __future__ import annotations

import base64
import encodings.aliases
import json
import os
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email import message_from_bytes
from email.policy import default as default_policy

import phonenumbers
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.channels import whatsapp
from services.channels.gmail.ingest import inbound_message, parse_push
from services.channels.gmail.parsing import parse_gmail_message, strip_quoted
from tests.fakes.gmail import gmail_payload
from tests.fuzz.report import FuzzTally

EXAMPLES = 10 * int(os.environ.get("FUZZ_EXAMPLES", "30"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MAILBOX = "support@flowboard.example"
_NOW = datetime(2026, 12, 3, tzinfo=UTC)

TEXT = st.text(st.characters(codec="utf-8"), max_size=60)
ODD = st.one_of(st.sampled_from(["", " ", "\x00", "\r\n", "\u200b", "👍🏽", "=?", "?=", ";", "\"", "<>", "\ud7ff",
                                 "\U0010ffff", "²", "٣", "-1", "0", "NaN", "18446744073709551616"]),
                st.tuples(st.sampled_from("x9é"), st.integers(1000, 5000)).map(lambda unit: unit[0] * unit[1]))
STRINGS = st.one_of(TEXT, ODD)

# Every codec name Python knows (text ones and not), plus made-up ones: a sender picks the charset.
CHARSETS = st.one_of(st.sampled_from(sorted(set(encodings.aliases.aliases) | set(encodings.aliases.aliases.values())
                                            | {"utf-8", "utf-7", "idna", "punycode", "undefined", "unicode_escape"})),
                     TEXT)
ENCODED_WORDS = st.builds(lambda charset, kind, payload: f"=?{charset}?{kind}?{payload}?=",
                          CHARSETS, st.sampled_from(["B", "Q", "b", "x"]),
                          st.one_of(st.binary(max_size=30).map(lambda b: base64.b64encode(b).decode()), TEXT))
HEADER_VALUES = st.one_of(STRINGS, ENCODED_WORDS, st.lists(st.one_of(STRINGS, ENCODED_WORDS), max_size=4).map(" ".join),
                          st.builds("{} <{}>".format, STRINGS, st.emails()), st.emails())
HEADER_NAMES = st.one_of(st.sampled_from([
    "From", "To", "Subject", "Message-ID", "References", "Content-Type", "Content-Disposition",
    "Authentication-Results", "Auto-Submitted", "Precedence", "X-Autoreply", "from", "FROM"]), TEXT)
HEADERS = st.lists(st.fixed_dictionaries({"name": HEADER_NAMES, "value": HEADER_VALUES}), max_size=8)
CONTENT_TYPES = st.one_of(
    st.builds("{}; charset={}".format, st.sampled_from(["text/plain", "text/html"]), CHARSETS), STRINGS)
def _base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


BODY_DATA = st.one_of(st.binary(min_size=1, max_size=300).map(_base64url),
                      st.text(st.characters(codec="utf-8"), min_size=1, max_size=300).map(lambda t: _base64url(t.encode())),
                      STRINGS)
TEXT_TYPES = st.sampled_from(["text/plain", "text/html", "TEXT/PLAIN", "text/plain"])
MIME_TYPES = st.one_of(TEXT_TYPES, st.sampled_from(["multipart/alternative", "multipart/mixed", "multipart/related",
                                                    "multipart/report", "application/pdf"]), TEXT)


def _part(children: st.SearchStrategy | None) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {"mimeType": MIME_TYPES, "body": st.fixed_dictionaries({"data": BODY_DATA}, optional={
            "size": st.integers(0, 10**9)})},
        optional={**({"parts": st.lists(children, max_size=3)} if children is not None else {}),
                  "headers": st.one_of(HEADERS, st.lists(st.fixed_dictionaries(
                      {"name": st.just("Content-Type"), "value": CONTENT_TYPES}), max_size=1)),
                  "filename": st.one_of(st.just(""), st.just(""), STRINGS)})


GMAIL_PARTS = st.recursive(_part(None), _part, max_leaves=8)
GMAIL_RESOURCES = st.fixed_dictionaries(
    {"id": STRINGS, "threadId": STRINGS, "payload": GMAIL_PARTS},
    optional={
        "labelIds": st.lists(st.one_of(st.sampled_from(["INBOX", "UNREAD", "SENT", "SPAM", "CATEGORY_UPDATES"]),
                                       TEXT), max_size=4),
        # Gmail's own field: milliseconds since the epoch, as a string of decimal digits.
        "internalDate": st.integers(0, 253402300799999).map(str),
        "snippet": STRINGS,
    })


def test_any_gmail_message_parses_into_an_inbound_message(record_property):
    tally = FuzzTally("gmail message parser (format=full)")

    @FUZZ
    @given(resource=GMAIL_RESOURCES)
    @example(resource={"id": "m1", "threadId": "t1", "payload": {
        "mimeType": "text/plain", "headers": [{"name": "Content-Type", "value": "text/plain; charset=idna"}],
        "body": {"data": base64.urlsafe_b64encode("Hello ÿ".encode("latin-1")).decode()}}})
    @example(resource={"id": "m2", "threadId": "t2", "payload": {
        "mimeType": "text/plain", "headers": [{"name": "Content-Type", "value": "text/plain; charset=unicode_escape"}],
        "body": {"data": base64.urlsafe_b64encode(b"\\ud800 hello").decode()}}})
    def parse(resource: dict) -> None:
        email = parse_gmail_message(resource)
        event = inbound_message(email, MAILBOX)  # what the ingest publishes next
        event.SerializeToString()
        tally.add("parsed, with text" if email.text else "parsed, no text")

    parse()
    tally.report(record_property)


NAMES = st.text(st.characters(categories=["L", "Nd"], include_characters=" .'-"), max_size=30)
# Letters of any script, digits, punctuation, spaces; no line starts as a quote (">").
BODY_LINES = st.lists(st.text(st.characters(categories=["L", "Nd", "Zs", "Po", "Sm"], exclude_characters=">"),
                              max_size=80), min_size=1, max_size=8)


def _squeezed(text: str) -> str:
    return "".join(text.split())


def test_a_mail_built_with_the_email_library_parses_back_to_its_sender_subject_and_text(record_property):
    tally = FuzzTally("gmail message parser (email-library round trip)")

    @FUZZ
    @given(name=NAMES, address=st.emails(), subject=st.text(st.characters(categories=["L", "Nd", "Zs", "Po"]),
                                                           max_size=60),
           lines=BODY_LINES, charset=st.sampled_from(["utf-8", "iso-8859-1", "windows-1252", "koi8-r", "shift_jis"]),
           html_too=st.booleans())
    def round_trip(name, address, subject, lines, charset, html_too) -> None:
        body = "\n".join(lines)
        try:
            body.encode(charset)
        except UnicodeEncodeError:
            charset = "utf-8"
        mail = EmailMessage()
        # An Address, not a string: the library's parser of display names fails on some ("...").
        mail["From"] = Address(display_name=name, addr_spec=address)
        mail["To"] = MAILBOX
        mail["Subject"] = subject
        mail.set_content(body, charset=charset)
        if html_too:
            mail.add_alternative("<p>the HTML twin</p>", subtype="html")
        resource = {"id": "m", "threadId": "t", "internalDate": "1764720000000",
                    "payload": gmail_payload(message_from_bytes(mail.as_bytes(), policy=default_policy))}

        email = parse_gmail_message(resource)

        assert email.from_address == address.lower()
        # Whitespace aside: RFC 2047 drops it between adjacent encoded words, and the email
        # library folds a long non-ASCII name or subject into several of them.
        assert _squeezed(email.from_name) == _squeezed(name), (email.from_name, name)
        assert _squeezed(email.subject) == _squeezed(subject), (email.subject, subject)
        assert email.text == strip_quoted(body), (email.text, body)
        tally.add("round trip")

    round_trip()
    tally.report(record_property)


TWILIO_FIELDS = ["MessageSid", "SmsMessageSid", "From", "To", "Body", "NumMedia", "ProfileName", "WaId",
                 "MediaUrl0", "MediaContentType0", "MediaUrl9", "MessageStatus", "SmsStatus", "ErrorCode",
                 "ErrorMessage", "AccountSid"]
NUMBERS = st.sampled_from(sorted(phonenumbers.SUPPORTED_REGIONS)).map(phonenumbers.example_number).filter(
    lambda n: n is not None).map(lambda n: phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164))
FORM_VALUES = st.one_of(STRINGS, NUMBERS.map("whatsapp:{}".format), NUMBERS,
                        st.integers(-5, 10**12).map(str), st.sampled_from(["sent", "delivered", "read", "failed",
                                                                           "undelivered", "queued", "63016"]))
# Each of Twilio's fields present half the time, with any value, among made-up fields.
FORMS = st.builds(lambda known, extra: {**extra, **known},
                  st.fixed_dictionaries({}, optional={name: FORM_VALUES for name in TWILIO_FIELDS}),
                  st.dictionaries(TEXT, FORM_VALUES, max_size=3))


def test_any_twilio_inbound_form_parses_or_is_a_400(record_property):
    tally = FuzzTally("twilio whatsapp inbound form parser")

    @FUZZ
    @given(form=FORMS)
    def parse(form: dict) -> None:
        try:
            key, event = whatsapp.parse_inbound(form, _NOW)
        except ValueError:
            tally.add("ValueError (the edge answers 400)")
            return
        assert key.startswith("+") and key[1:].isdigit(), key
        assert event.sender.whatsapp == f"whatsapp:{key}"
        event.SerializeToString()
        tally.add("parsed")

    parse()
    tally.report(record_property)


def test_a_message_from_a_valid_number_always_parses(record_property):
    tally = FuzzTally("twilio whatsapp inbound form parser (valid forms)")

    @FUZZ
    @given(number=NUMBERS, sid=st.text(st.characters(categories=["L", "Nd"]), min_size=1, max_size=40),
           body=STRINGS, extra=FORMS)
    def parse(number: str, sid: str, body: str, extra: dict) -> None:
        form = {**extra, "From": f"whatsapp:{number}", "MessageSid": sid, "Body": body, "NumMedia": "0"}
        key, event = whatsapp.parse_inbound(form, _NOW)
        assert key == number
        assert event.idempotency_key == sid
        assert event.content == body.strip()
        tally.add("parsed")

    parse()
    tally.report(record_property)


def test_any_twilio_status_callback_parses(record_property):
    tally = FuzzTally("twilio whatsapp status callback parser")
    known = {conv_pb.DELIVERY_STATUS_SENT, conv_pb.DELIVERY_STATUS_DELIVERED, conv_pb.DELIVERY_STATUS_FAILED}

    @FUZZ
    @given(form=FORMS, query=st.dictionaries(st.sampled_from(["reply_id", "ticket_id", "part", "parts"]) | TEXT,
                                             STRINGS, max_size=5))
    def parse(form: dict, query: dict) -> None:
        update = whatsapp.parse_status_callback(form, query)
        if update is None:
            tally.add("ignored")
            return
        assert update.delivery_status in known
        update.to_request().SerializeToString()
        tally.add("update")

    parse()
    tally.report(record_property)


NOTIFICATIONS = st.fixed_dictionaries(
    {"emailAddress": st.one_of(st.emails(), st.emails(), STRINGS, st.integers()),
     "historyId": st.one_of(st.integers(-1, 2**64 + 1), st.integers(1, 10**12).map(str), STRINGS, st.floats())})
ENVELOPES = st.fixed_dictionaries({"message": st.fixed_dictionaries(
    {"data": st.one_of(NOTIFICATIONS.map(lambda d: base64.b64encode(json.dumps(d).encode()).decode()), STRINGS)},
    optional={"messageId": STRINGS, "publishTime": st.one_of(STRINGS, st.just("2026-12-03T01:02:03.456Z"))})},
    optional={"subscription": STRINGS})
PUSH_BODIES = st.one_of(ENVELOPES.map(lambda e: json.dumps(e).encode()), st.binary(max_size=200),
                        st.sampled_from([b"", b"{}", b"[]", b"null", b'{"message": null}', b'{"message": {"data": 1}}']))


def _push(notification: dict, **message) -> bytes:
    data = base64.b64encode(json.dumps(notification).encode()).decode()
    return json.dumps({"message": {"data": data, **message}}).encode()


def test_any_gmail_push_body_parses_or_is_a_400(record_property):
    tally = FuzzTally("pub/sub gmail push parser")

    @FUZZ
    @given(body=PUSH_BODIES)
    @example(body=_push({"emailAddress": MAILBOX, "historyId": 2**64}))
    @example(body=_push({"emailAddress": MAILBOX, "historyId": float("inf")}))
    @example(body=_push({"emailAddress": MAILBOX, "historyId": 7}, publishTime="yesterday"))
    def parse(body: bytes) -> None:
        try:
            note = parse_push(body)
        except ValueError:
            tally.add("ValueError (the edge answers 400)")
            return
        note.to_proto().SerializeToString()  # what the edge publishes next
        assert note.history_id > 0 and note.email_address
        tally.add("parsed")

    parse()
    tally.report(record_property)
