"""EraseCustomer (GDPR Art. 17): after the erasure, no table of any schema in the database holds
the customer's email, phone number, name or any message text — also of the customer merged
into them — while tickets and the channel metrics stay as they were. A repeat changes nothing;
the erasure is audited, and an audit that cannot be written is UNAVAILABLE until a retry."""

from __future__ import annotations

import functools
import json
import uuid

import grpc
from fte.access.v1 import access_service_pb2 as access_pb
from fte.common.v1.channel_pb2 import CHANNEL_EMAIL, CHANNEL_WEB_FORM, CHANNEL_WHATSAPP
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.identity.v1 import identity_service_pb2 as pb
from fte.identity.v1 import identity_service_pb2_grpc as id_grpc

from devstack import migrate
from services.common.grpc_client import open_channel
from services.common.grpc_server import running
from services.identity import server as identity_server
from tests.conversation.helpers import inbound, outbound
from tests.relay import Relay
from tests.running_services import rpc_error, unique_email, unique_us_phone

DPO = "dpo@flowboard.example"
ERASE_METHOD = "/fte.identity.v1.IdentityService/EraseCustomer"
TOMBSTONE = "[erased]"


async def _customer_everywhere(identity, conversation) -> dict:
    """A customer with an email, a WhatsApp number and a name, messages on three channels, a
    reply that failed to deliver, an escalated ticket, and a second customer merged into them.
    Returns the ids and every piece of personal data to look for afterwards."""
    tag = uuid.uuid4().hex[:8]
    email, merged_email = unique_email("erase"), unique_email("erase-merged")
    national, e164 = unique_us_phone()
    name, merged_name = f"Zelda Quist{tag}", f"Otto Vrell{tag}"
    texts = [f"my invoice {tag}-{i} is wrong" for i in range(4)]
    subject = f"Billing question {tag}"

    customer = (await identity.ResolveCustomer(pb.ResolveCustomerRequest(
        channel=CHANNEL_EMAIL, email=email, display_name=name))).customer
    cid = customer.customer_id
    # The web form (verified) links the phone; WhatsApp then finds the same customer.
    await identity.ResolveCustomer(pb.ResolveCustomerRequest(
        channel=CHANNEL_WEB_FORM, email=email, phone=national, default_region="US", display_name=name))
    via_whatsapp = await identity.ResolveCustomer(pb.ResolveCustomerRequest(
        channel=CHANNEL_WHATSAPP, whatsapp=f"whatsapp:{e164}", display_name=name))
    assert via_whatsapp.customer.customer_id == cid

    first = await conversation.RecordInbound(inbound(
        cid, CHANNEL_EMAIL, texts[0], subject=subject, thread_ref=f"<{tag}@mail.example>",
        sender_name=name))
    await conversation.RecordInbound(inbound(cid, CHANNEL_WHATSAPP, texts[1], sender_name=name))
    web = await conversation.RecordInbound(inbound(
        cid, CHANNEL_WEB_FORM, f"{texts[2]}, reach me at {email} or {e164}", sender_name=name))
    reply = outbound(first.ticket_id, f"Hello {name}, we are on it.", latency_ms=1200,
                     tool_calls=[conv_pb.ToolCall(name="customer_history",
                                                  arguments_json=json.dumps({"email": email}), ok=True)])
    await conversation.RecordOutbound(reply)
    await conversation.UpdateDeliveryStatus(conv_pb.UpdateDeliveryStatusRequest(
        reply_id=reply.reply_id, delivery_status=conv_pb.DELIVERY_STATUS_FAILED,
        error=f"recipient {email} rejected"))
    escalation = await conversation.Escalate(conv_pb.EscalateRequest(
        ticket_id=web.ticket_id, reason=conv_pb.ESCALATION_REASON_HUMAN_REQUEST,
        note=f"{name} asked for a person"))
    # The context frozen for people holds the addresses and the name: the erasure must find it.
    assert email in escalation.escalation.context_json and e164 in escalation.escalation.context_json

    merged = (await identity.ResolveCustomer(pb.ResolveCustomerRequest(
        channel=CHANNEL_EMAIL, email=merged_email, display_name=merged_name))).customer
    await conversation.RecordInbound(inbound(merged.customer_id, CHANNEL_EMAIL, texts[3],
                                             sender_name=merged_name))
    await identity.MergeCustomers(pb.MergeCustomersRequest(
        source_customer_id=merged.customer_id, target_customer_id=cid, requested_by=DPO,
        reason=f"same person: {merged_email} and {email}"))

    return {
        "customer_id": cid, "merged_id": merged.customer_id,
        "tickets": [first.ticket_id, web.ticket_id],
        # Everything personal, as it could be stored: addresses, the number's digits, names, texts.
        # (Not the 7 local digits alone: a float in a stored embedding may hold those by chance.)
        "personal": [email, merged_email, e164, e164.lstrip("+"), name, merged_name, subject,
                     f"<{tag}@mail.example>", *texts],
    }


async def _tables(admin_db) -> list[tuple[str, str]]:
    rows = await admin_db.fetch(
        "SELECT table_schema, table_name FROM information_schema.tables"
        " WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        " ORDER BY 1, 2"
    )
    return [(r["table_schema"], r["table_name"]) for r in rows]


async def _rows_holding(admin_db, needles: list[str]) -> list[str]:
    """Every row of every table in the database, cast to text, that contains one of the needles."""
    patterns = [f"%{n}%" for n in needles]
    found = []
    for schema, table in await _tables(admin_db):
        hits = await admin_db.fetch(
            f'SELECT t::text AS row FROM "{schema}"."{table}" t WHERE t::text ILIKE ANY($1::text[])',
            patterns,
        )
        found += [f"{schema}.{table}: {h['row'][:300]}" for h in hits]
    return found


async def _snapshot(admin_db, schemas=("identity", "conversation")) -> dict[str, list[str]]:
    return {
        f"{schema}.{table}": sorted(r["row"] for r in await admin_db.fetch(
            f'SELECT t::text AS row FROM "{schema}"."{table}" t'))
        for schema, table in await _tables(admin_db) if schema in schemas
    }


async def test_erasure_leaves_nothing_personal_in_any_table_and_keeps_tickets_and_metrics(
    identity, conversation, access, admin_db, admin_key
):
    seeded = await _customer_everywhere(identity, conversation)
    assert await _rows_holding(admin_db, seeded["personal"]), "the seed stored nothing to erase"
    metrics_before = await conversation.GetChannelMetrics(conv_pb.GetChannelMetricsRequest())

    erased = await identity.EraseCustomer(pb.EraseCustomerRequest(
        customer_id=seeded["customer_id"], requested_by=DPO))

    assert set(erased.erased_customer_ids) == {seeded["customer_id"], seeded["merged_id"]}
    assert not erased.already_erased
    assert erased.identifiers_erased == 3 and erased.names_erased >= 3
    assert erased.messages_erased == 5 and erased.HasField("erase_time")
    assert await _rows_holding(admin_db, seeded["personal"]) == []

    # Kept for metrics and for the staff's record: the customer, tickets, statuses, counts.
    assert await conversation.GetChannelMetrics(conv_pb.GetChannelMetricsRequest()) == metrics_before
    first = await conversation.GetTicket(conv_pb.GetTicketRequest(ticket_id=seeded["tickets"][0]))
    assert [m.content for m in first.messages] == [TOMBSTONE, TOMBSTONE]
    escalated = await conversation.GetTicket(conv_pb.GetTicketRequest(ticket_id=seeded["tickets"][1]))
    assert escalated.ticket.status == conv_pb.TICKET_STATUS_ESCALATED
    assert json.loads(escalated.escalations[0].context_json)["customer"] == {"erased": True}
    customer = (await identity.GetCustomer(pb.GetCustomerRequest(customer_id=seeded["customer_id"]))).customer
    assert (list(customer.identifiers), list(customer.names), customer.display_name) == ([], [], "")
    assert customer.erase_time == erased.erase_time
    assert len(customer.conversations) == 2

    # Audited: who did it (the authenticated caller, not a claim), with which role, which
    # customers; the note holds counts, never an address.
    events = (await access.ListAuditEvents(access_pb.ListAuditEventsRequest(
        subject=_subject(admin_key), method=ERASE_METHOD))).events
    event = next(e for e in events if e.event_id == erased.audit_event_id)
    assert event.role == access_pb.ROLE_ADMIN
    assert set(event.target_ids) == {seeded["customer_id"]}
    assert f"erased {len(erased.erased_customer_ids)} customer(s)" in event.detail
    erased_by = await admin_db.fetchval(
        "SELECT erased_by FROM identity.customers WHERE customer_id = $1", uuid.UUID(seeded["customer_id"]))
    assert erased_by == f"{_subject(admin_key)} for {DPO}"
    assert event.outcome == access_pb.AUDIT_OUTCOME_SUCCEEDED
    assert not any(p in event.detail for p in seeded["personal"])

    # A repeat succeeds and changes nothing in either schema (it is audited again).
    before = await _snapshot(admin_db)
    again = await identity.EraseCustomer(pb.EraseCustomerRequest(
        customer_id=seeded["customer_id"], requested_by=DPO))
    assert again.already_erased and again.erase_time == erased.erase_time
    assert (again.identifiers_erased, again.names_erased, again.messages_erased) == (0, 0, 0)
    assert await _snapshot(admin_db) == before
    assert again.audit_event_id and again.audit_event_id != erased.audit_event_id


async def test_an_erased_address_writing_again_is_a_new_customer_and_erased_ones_gain_nothing(
    identity, conversation
):
    email = unique_email("erase-again")
    old = (await identity.ResolveCustomer(pb.ResolveCustomerRequest(
        channel=CHANNEL_EMAIL, email=email))).customer
    await identity.EraseCustomer(pb.EraseCustomerRequest(customer_id=old.customer_id, requested_by=DPO))

    new = await identity.ResolveCustomer(pb.ResolveCustomerRequest(channel=CHANNEL_EMAIL, email=email))
    assert new.created and new.customer.customer_id != old.customer_id

    err = await rpc_error(identity.LinkIdentifier(pb.LinkIdentifierRequest(
        customer_id=old.customer_id, type=pb.IDENTIFIER_TYPE_EMAIL, value=unique_email())))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    err = await rpc_error(identity.MergeCustomers(pb.MergeCustomersRequest(
        source_customer_id=new.customer.customer_id, target_customer_id=old.customer_id,
        requested_by=DPO)))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_erase_refuses_bad_unknown_and_merged_away_customers(identity):
    for customer_id in ("", "not-a-uuid"):
        err = await rpc_error(identity.EraseCustomer(pb.EraseCustomerRequest(
            customer_id=customer_id, requested_by=DPO)))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "customer_id" in err.details()

    customer = (await identity.ResolveCustomer(pb.ResolveCustomerRequest(
        channel=CHANNEL_EMAIL, email=unique_email("erase-who")))).customer

    err = await rpc_error(identity.EraseCustomer(pb.EraseCustomerRequest(
        customer_id=str(uuid.uuid4()), requested_by=DPO)))
    assert err.code() == grpc.StatusCode.NOT_FOUND

    source = (await identity.ResolveCustomer(pb.ResolveCustomerRequest(
        channel=CHANNEL_EMAIL, email=unique_email("erase-src")))).customer
    await identity.MergeCustomers(pb.MergeCustomersRequest(
        source_customer_id=source.customer_id, target_customer_id=customer.customer_id,
        requested_by=DPO))
    err = await rpc_error(identity.EraseCustomer(pb.EraseCustomerRequest(
        customer_id=source.customer_id, requested_by=DPO)))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert customer.customer_id in err.details()


async def test_an_audit_that_cannot_be_written_is_unavailable_and_a_retry_records_it(
    identity, conversation, conversation_address, access, access_address, stack, admin_db,
    service_keys, admin_key
):
    """Identity reaching the access service through a relay that is cut once the caller is
    authenticated (and cached): the erasure is done, the answer is UNAVAILABLE; the retry
    (through a working identity) changes nothing and writes the audit."""
    _, e164 = unique_us_phone()
    customer = (await identity.ResolveCustomer(pb.ResolveCustomerRequest(
        channel=CHANNEL_WHATSAPP, whatsapp=e164, display_name="Unaudited Person"))).customer
    await conversation.RecordInbound(inbound(customer.customer_id, CHANNEL_WHATSAPP, f"hi from {e164}"))

    host, _, port = access_address.rpartition(":")
    relay = Relay(host, int(port))
    await relay.start()
    settings = identity_server.IdentitySettings(
        grpc_port=0, database_url=migrate.service_dsn(stack.admin_dsn, "identity"),
        conversation_addr=conversation_address, access_addr=f"127.0.0.1:{relay.port}",
        service_key=service_keys["identity"], rpc_timeout_s=3,
    )
    build = functools.partial(identity_server.build, settings=settings)
    async with running("identity-no-access", settings, build) as service, \
            open_channel(f"127.0.0.1:{service.port}", timeout_s=20, credential=admin_key) as channel:
        stub = id_grpc.IdentityServiceStub(channel)
        await stub.GetCustomer(pb.GetCustomerRequest(customer_id=customer.customer_id))
        await relay.cut()
        err = await rpc_error(stub.EraseCustomer(
            pb.EraseCustomerRequest(customer_id=customer.customer_id, requested_by=DPO)))
    assert err.code() == grpc.StatusCode.UNAVAILABLE and "retry" in err.details()
    assert await _rows_holding(admin_db, [e164, e164.lstrip("+")]) == []

    retried = await identity.EraseCustomer(pb.EraseCustomerRequest(
        customer_id=customer.customer_id, requested_by=DPO))
    assert retried.already_erased and retried.audit_event_id
    events = (await access.ListAuditEvents(access_pb.ListAuditEventsRequest(
        subject=_subject(admin_key), method=ERASE_METHOD))).events
    assert customer.customer_id in {t for e in events for t in e.target_ids}


def _subject(key: str) -> str:
    """The audit subject of an API key `fte_<key id>_<secret>`."""
    return f"api-key:{key.split('_')[1]}"
