"""Verified linking across channels through real gRPC (StartLink / ConfirmLink): the code goes
to the claimed address on the real Kafka outbound topic of its channel, comes back on the first
channel, and only then links or merges (recorded, audited). Wrong, expired, used, exhausted and
replaced codes change nothing; a claimed sender cannot start or confirm. Afterwards no table of
any schema and no log line holds a code."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator

import grpc
import pytest
from aiokafka import AIOKafkaConsumer
from fte.access.v1 import access_service_pb2 as access_pb
from fte.common.v1 import channel_pb2
from fte.common.v1.sender_assurance_pb2 import SENDER_ASSURANCE_CLAIMED, SENDER_ASSURANCE_VERIFIED
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.events.v1 import events_pb2
from fte.identity.v1 import identity_service_pb2 as pb
from fte.identity.v1 import identity_service_pb2_grpc as id_grpc

from devstack import migrate
from services.common import topics
from services.common.grpc_client import open_channel
from services.common.grpc_server import running
from services.identity import server as identity_server
from tests.relay import Relay
from tests.running_services import new_id, rpc_error, unique_email, unique_us_phone

WHATSAPP = channel_pb2.CHANNEL_WHATSAPP
EMAIL = channel_pb2.CHANNEL_EMAIL
CONFIRM_METHOD = "/fte.identity.v1.IdentityService/ConfirmLink"
SEEN_CODES: set[str] = set()


@pytest.fixture(scope="module")
async def linking_identity(stack, clock, conversation_address, service_auth, admin_key) -> AsyncIterator[id_grpc.IdentityServiceStub]:
    """An identity service like the shared one, plus what linking needs: the test Kafka (where
    codes are published) and the test clock (expiry without sleeping)."""
    settings = identity_server.IdentitySettings(
        grpc_port=0,
        database_url=migrate.service_dsn(stack.admin_dsn, "identity"),
        conversation_addr=conversation_address,
        kafka_bootstrap_servers=stack.bootstrap_servers,
        default_phone_region="US",
        **service_auth("identity"),
    )
    build = functools.partial(identity_server.build, settings=settings, clock=clock)
    async with running("identity-linking", settings, build) as service:
        async with open_channel(f"127.0.0.1:{service.port}", timeout_s=20, credential=admin_key) as channel:
            yield id_grpc.IdentityServiceStub(channel)


@pytest.fixture
async def identity_without_audit(stack, clock, conversation_address, access_address, service_keys,
                                 admin_key) -> AsyncIterator[id_grpc.IdentityServiceStub]:
    """The same service whose AccessService goes out of reach once the caller is authenticated
    (and remembered): a confirmation cannot finish."""
    host, _, port = access_address.rpartition(":")
    relay = Relay(host, int(port))
    await relay.start()
    settings = identity_server.IdentitySettings(
        grpc_port=0,
        database_url=migrate.service_dsn(stack.admin_dsn, "identity"),
        conversation_addr=conversation_address,
        access_addr=f"127.0.0.1:{relay.port}",
        service_key=service_keys["identity"],
        auth_cache_ttl_s=600,
        rpc_timeout_s=2,
        kafka_bootstrap_servers=stack.bootstrap_servers,
        default_phone_region="US",
    )
    build = functools.partial(identity_server.build, settings=settings, clock=clock)
    async with running("identity-no-audit", settings, build) as service:
        async with open_channel(f"127.0.0.1:{service.port}", timeout_s=20, credential=admin_key) as channel:
            stub = id_grpc.IdentityServiceStub(channel)
            await rpc_error(stub.GetCustomer(pb.GetCustomerRequest(customer_id=new_id())))
            await relay.cut()
            yield stub


async def _delivered(stack, channel: int, link_id: str) -> events_pb2.OutboundMessage:
    """The code message identity published for `link_id` on the channel's outbound topic."""
    reader = AIOKafkaConsumer(topics.outbound_topic(channel), bootstrap_servers=stack.bootstrap_servers,
                              auto_offset_reset="earliest")
    await reader.start()
    try:
        for _ in range(100):
            for records in (await reader.getmany(timeout_ms=200)).values():
                for record in records:
                    message = events_pb2.OutboundMessage.FromString(record.value)
                    if message.reply_id == link_id:
                        return message
        raise AssertionError(f"no code message for link {link_id}")
    finally:
        await reader.stop()


def _code_in(message: events_pb2.OutboundMessage) -> str:
    import re
    code = re.search(r"\b(\d{6})\b", message.parts[0]).group(1)
    SEEN_CODES.add(code)
    return code


async def _customer(identity, channel: int, **addresses) -> str:
    reply = await identity.ResolveCustomer(pb.ResolveCustomerRequest(channel=channel, **addresses))
    return reply.customer.customer_id


async def _start(identity, customer_id: str, **claimed) -> pb.StartLinkResponse:
    return await identity.StartLink(pb.StartLinkRequest(
        customer_id=customer_id, channel=WHATSAPP, assurance=SENDER_ASSURANCE_VERIFIED, **claimed))


async def _confirm(identity, customer_id: str, code: str, channel: int = WHATSAPP) -> pb.ConfirmLinkResponse:
    return await identity.ConfirmLink(pb.ConfirmLinkRequest(
        customer_id=customer_id, channel=channel, assurance=SENDER_ASSURANCE_VERIFIED, code=code))


def _other(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def test_a_code_to_the_email_merges_its_owner_into_the_whatsapp_customer_recorded_and_audited(
    linking_identity, identity, conversation, access, admin_db, stack, caplog
):
    caplog.set_level(logging.DEBUG)
    email = unique_email("ada")
    email_customer = await _customer(identity, EMAIL, email=email)
    await conversation.RecordInbound(conv_pb.RecordInboundRequest(
        customer_id=email_customer, channel=EMAIL, idempotency_key=f"link-{new_id()}",
        content="Exporting a board to CSV fails", subject="CSV export"))
    _, phone = unique_us_phone()
    sender = await _customer(identity, WHATSAPP, whatsapp=f"whatsapp:{phone}")

    started = await _start(linking_identity, sender, claimed_email=email.upper())
    assert started.delivery_channel == EMAIL and started.attempts_left == 5
    assert started.masked_address == f"{email[0]}•••@example.com"
    message = await _delivered(stack, EMAIL, started.link_id)
    assert message.recipient.email == email and not message.ticket_id
    code = _code_in(message)

    wrong = await _confirm(linking_identity, sender, _other(code))
    assert (wrong.outcome, wrong.attempts_left) == (pb.LINK_OUTCOME_WRONG_CODE, 4)
    assert not any(i.value == email for i in wrong.customer.identifiers)

    done = await _confirm(linking_identity, sender, code)
    assert done.outcome == pb.LINK_OUTCOME_MERGED and done.merge_id
    assert {i.value for i in done.customer.identifiers} == {email, phone}
    merge = await admin_db.fetchrow("SELECT * FROM identity.customer_merges WHERE merge_id = $1::uuid",
                                    done.merge_id)
    assert (str(merge["source_customer_id"]), str(merge["target_customer_id"])) == (email_customer, sender)
    assert merge["requested_by"] == f"customer:{sender}"
    # One customer, whichever address; the email's history is the WhatsApp customer's now.
    found = await identity.LookupCustomer(pb.LookupCustomerRequest(email=email))
    assert found.customer.customer_id == sender
    history = await conversation.GetHistory(conv_pb.GetHistoryRequest(customer_id=sender))
    assert "Exporting a board to CSV fails" in [m.content for m in history.messages]

    events = (await access.ListAuditEvents(access_pb.ListAuditEventsRequest(
        subject=f"customer:{sender}", method=CONFIRM_METHOD))).events
    assert len(events) == 1 and set(events[0].target_ids) == {sender, email_customer}
    assert email not in events[0].detail and code not in events[0].detail

    # Single use: the same code again links nothing more and says so.
    again = await _confirm(linking_identity, sender, code)
    assert again.outcome == pb.LINK_OUTCOME_USED
    assert await admin_db.fetchval("SELECT count(*) FROM identity.customer_merges WHERE"
                                   " target_customer_id = $1::uuid", sender) == 1
    assert not [r for r in caplog.records if code in r.getMessage()]


async def test_an_address_nobody_owns_is_linked_and_a_new_request_replaces_the_old(
    linking_identity, identity, stack
):
    _, phone = unique_us_phone()
    sender = await _customer(identity, WHATSAPP, whatsapp=phone)
    email = unique_email("grace")
    first = await _start(linking_identity, sender, claimed_email=email)
    first_code = _code_in(await _delivered(stack, EMAIL, first.link_id))
    second = await _start(linking_identity, sender, claimed_email=email)
    second_code = _code_in(await _delivered(stack, EMAIL, second.link_id))
    assert second.link_id != first.link_id
    if first_code != second_code:  # one chance in a million they are equal
        stale = await _confirm(linking_identity, sender, first_code)
        assert stale.outcome == pb.LINK_OUTCOME_WRONG_CODE
    linked = await _confirm(linking_identity, sender, second_code)
    assert linked.outcome == pb.LINK_OUTCOME_LINKED and not linked.merge_id
    assert email in {i.value for i in linked.customer.identifiers}
    # Already this customer's: no code is sent.
    assert (await _start(linking_identity, sender, claimed_email=email)).already_linked


async def test_a_phone_claimed_by_email_gets_its_code_on_whatsapp(linking_identity, identity, stack):
    sender = await _customer(identity, EMAIL, email=unique_email("mae"))
    _, phone = unique_us_phone()
    started = await linking_identity.StartLink(pb.StartLinkRequest(
        customer_id=sender, channel=EMAIL, claimed_phone=phone, default_region="US"))
    assert started.delivery_channel == WHATSAPP
    message = await _delivered(stack, WHATSAPP, started.link_id)
    assert message.recipient.phone == phone
    code = _code_in(message)
    # The code counts only on the first channel.
    assert (await _confirm(linking_identity, sender, code, WHATSAPP)).outcome == pb.LINK_OUTCOME_NO_PENDING_LINK
    assert (await _confirm(linking_identity, sender, code, EMAIL)).outcome == pb.LINK_OUTCOME_LINKED


async def test_five_wrong_codes_kill_the_link(linking_identity, identity, stack):
    _, phone = unique_us_phone()
    sender = await _customer(identity, WHATSAPP, whatsapp=phone)
    email = unique_email("eve")
    started = await _start(linking_identity, sender, claimed_email=email)
    code = _code_in(await _delivered(stack, EMAIL, started.link_id))
    seen = [(r.outcome, r.attempts_left) for r in
            [await _confirm(linking_identity, sender, _other(code)) for _ in range(5)]]
    assert seen == [(pb.LINK_OUTCOME_WRONG_CODE, 4), (pb.LINK_OUTCOME_WRONG_CODE, 3),
                    (pb.LINK_OUTCOME_WRONG_CODE, 2), (pb.LINK_OUTCOME_WRONG_CODE, 1),
                    (pb.LINK_OUTCOME_EXHAUSTED, 0)]
    late = await _confirm(linking_identity, sender, code)
    assert late.outcome == pb.LINK_OUTCOME_EXHAUSTED
    assert email not in {i.value for i in late.customer.identifiers}


async def test_an_expired_code_links_nothing(linking_identity, identity, stack, clock):
    clock.pin(clock())
    _, phone = unique_us_phone()
    sender = await _customer(identity, WHATSAPP, whatsapp=phone)
    email = unique_email("late")
    started = await _start(linking_identity, sender, claimed_email=email)
    code = _code_in(await _delivered(stack, EMAIL, started.link_id))
    clock.advance(seconds=601)
    expired = await _confirm(linking_identity, sender, code)
    assert expired.outcome == pb.LINK_OUTCOME_EXPIRED
    assert email not in {i.value for i in expired.customer.identifiers}


async def test_a_claimed_sender_can_neither_start_nor_confirm(linking_identity, identity):
    victim = unique_email("victim")
    await _customer(identity, EMAIL, email=victim)
    typist = await _customer(identity, channel_pb2.CHANNEL_WEB_FORM, email=unique_email("typist"),
                             assurance=SENDER_ASSURANCE_CLAIMED)
    err = await rpc_error(linking_identity.StartLink(pb.StartLinkRequest(
        customer_id=typist, channel=channel_pb2.CHANNEL_WEB_FORM, assurance=SENDER_ASSURANCE_CLAIMED,
        claimed_email=victim)))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    err = await rpc_error(linking_identity.ConfirmLink(pb.ConfirmLinkRequest(
        customer_id=typist, channel=channel_pb2.CHANNEL_WEB_FORM, assurance=SENDER_ASSURANCE_CLAIMED,
        code="123456")))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION


@pytest.mark.parametrize("request_fields, code", [
    ({"customer_id": "nope", "channel": WHATSAPP, "claimed_email": "a@example.com"}, "INVALID_ARGUMENT"),
    ({"customer_id": "{new}", "channel": WHATSAPP, "claimed_email": "a@example.com"}, "NOT_FOUND"),
    ({"customer_id": "{new}", "claimed_email": "a@example.com"}, "INVALID_ARGUMENT"),
    ({"customer_id": "{new}", "channel": WHATSAPP}, "INVALID_ARGUMENT"),
    ({"customer_id": "{new}", "channel": WHATSAPP, "claimed_email": "a@example.com",
      "claimed_phone": "+12025550142"}, "INVALID_ARGUMENT"),
    ({"customer_id": "{new}", "channel": WHATSAPP, "claimed_email": "not-an-email"}, "INVALID_ARGUMENT"),
    ({"customer_id": "{new}", "channel": WHATSAPP, "claimed_phone": "12"}, "INVALID_ARGUMENT"),
])
async def test_bad_start_requests_are_typed_errors(linking_identity, request_fields, code):
    fields = {k: (new_id() if v == "{new}" else v) for k, v in request_fields.items()}
    err = await rpc_error(linking_identity.StartLink(pb.StartLinkRequest(**fields)))
    assert err.code().name == code, err.details()


@pytest.mark.parametrize("request_fields, code", [
    ({"customer_id": "", "channel": WHATSAPP, "code": "123456"}, "INVALID_ARGUMENT"),
    ({"customer_id": "{new}", "channel": WHATSAPP, "code": "12ab56"}, "INVALID_ARGUMENT"),
    ({"customer_id": "{new}", "code": "123456"}, "INVALID_ARGUMENT"),
    ({"customer_id": "{new}", "channel": WHATSAPP, "code": "123456"}, "NOT_FOUND"),
])
async def test_bad_confirm_requests_are_typed_errors(linking_identity, request_fields, code):
    fields = {k: (new_id() if v == "{new}" else v) for k, v in request_fields.items()}
    err = await rpc_error(linking_identity.ConfirmLink(pb.ConfirmLinkRequest(**fields)))
    assert err.code().name == code, err.details()


async def test_a_confirmation_cut_short_is_finished_by_the_same_code_and_audited_once(
    linking_identity, identity_without_audit, identity, access, admin_db, stack
):
    email = unique_email("retry")
    owner = await _customer(identity, EMAIL, email=email)
    _, phone = unique_us_phone()
    sender = await _customer(identity, WHATSAPP, whatsapp=phone)
    started = await _start(linking_identity, sender, claimed_email=email)
    code = _code_in(await _delivered(stack, EMAIL, started.link_id))

    # Merged in identity, but the audit event cannot be written: UNAVAILABLE, retry.
    err = await rpc_error(_confirm(identity_without_audit, sender, code))
    assert err.code() == grpc.StatusCode.UNAVAILABLE and code not in err.details()
    # The worker's retry (the same message, the same code) finishes it: answered MERGED, once.
    finished = await _confirm(linking_identity, sender, code)
    assert finished.outcome == pb.LINK_OUTCOME_MERGED
    assert (await _confirm(linking_identity, sender, code)).outcome == pb.LINK_OUTCOME_USED
    events = (await access.ListAuditEvents(access_pb.ListAuditEventsRequest(
        subject=f"customer:{sender}", method=CONFIRM_METHOD))).events
    assert len(events) == 1 and owner in events[0].target_ids


async def test_codes_per_hour_are_limited_per_customer_and_per_address(linking_identity, identity, stack, clock):
    clock.pin(clock())
    victim = unique_email("flooded")
    _, phone = unique_us_phone()
    first = await _customer(identity, WHATSAPP, whatsapp=phone)
    for _ in range(5):
        started = await _start(linking_identity, first, claimed_email=victim)
        assert not started.too_many_requests
    assert (await _start(linking_identity, first, claimed_email=unique_email("other"))).too_many_requests
    # Another account cannot add to the flood either: the address has had its five.
    _, phone = unique_us_phone()
    second = await _customer(identity, WHATSAPP, whatsapp=phone)
    limited = await _start(linking_identity, second, claimed_email=victim)
    assert limited.too_many_requests and not limited.link_id
    clock.advance(hours=1, seconds=1)
    started = await _start(linking_identity, second, claimed_email=victim)
    assert not started.too_many_requests and started.link_id
    _code_in(await _delivered(stack, EMAIL, started.link_id))


async def test_erasure_deletes_the_link_requests_and_their_addresses(linking_identity, identity, stack, admin_db):
    _, phone = unique_us_phone()
    sender = await _customer(identity, WHATSAPP, whatsapp=phone)
    claimed = unique_email("forget")
    started = await _start(linking_identity, sender, claimed_email=claimed)
    _code_in(await _delivered(stack, EMAIL, started.link_id))
    await identity.EraseCustomer(pb.EraseCustomerRequest(customer_id=sender, requested_by="dpo@test"))
    assert await admin_db.fetchval(
        "SELECT count(*) FROM identity.identity_links WHERE customer_id = $1::uuid OR claimed_value = $2",
        sender, claimed) == 0


async def test_no_table_of_any_schema_holds_a_code(linking_identity, identity, stack, admin_db):
    """Runs last in this module: every code the tests above received, searched in every row."""
    _, phone = unique_us_phone()
    sender = await _customer(identity, WHATSAPP, whatsapp=phone)
    started = await _start(linking_identity, sender, claimed_email=unique_email("scan"))
    _code_in(await _delivered(stack, EMAIL, started.link_id))
    assert len(SEEN_CODES) >= 5
    tables = await admin_db.fetch(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
        " AND table_schema NOT IN ('pg_catalog', 'information_schema')")
    # The code as a number of its own: not inside a hex run (uuids, the scrypt hash) nor a
    # timestamp's microseconds, which are 6 digits too.
    patterns = [f"(^|[^0-9a-f.]){c}($|[^0-9a-f])" for c in SEEN_CODES]
    found = []
    for t in tables:
        found += [(t["table_name"], r["row"][:200]) for r in await admin_db.fetch(
            f'SELECT t::text AS row FROM "{t["table_schema"]}"."{t["table_name"]}" t'
            " WHERE t::text ~ ANY($1::text[])", patterns)]
    assert not found
