"""gRPC servicer for fte.identity.v1.IdentityService: protobuf in, domain call, protobuf out.
Rules live in `resolver`, SQL in `store`; conversations come from ConversationService."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from fte.common.v1.sender_assurance_pb2 import SENDER_ASSURANCE_CLAIMED
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.identity.v1 import identity_service_pb2 as pb
from fte.identity.v1 import identity_service_pb2_grpc as pb_grpc

from services.common import channels
from services.common.config import Settings
from services.common.db import owned_pool
from services.common.metrics import IDENTIFICATIONS, zero
from services.common.auth import audit_note, current_principal, record_event
from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.grpc_server import Servicer
from services.identity import linking, resolver
from services.identity.link_delivery import CodeDelivery
from services.identity.conversations import ConversationsClient
from services.identity.resolver import Customer, StoredIdentifier
from services.identity.store import IdentityStore


class IdentitySettings(Settings):
    grpc_port: int = 50051
    # Region for numbers written without a country code, when the request names none.
    default_phone_region: str = "US"
    # One-time link codes (StartLink / ConfirmLink): how long a code works and how many wrong
    # codes a link allows before it is dead.
    link_code_ttl_s: float = 600.0
    link_code_attempts: int = 5
    # Codes sent per hour per customer and per claimed address: nobody can flood an inbox.
    link_requests_per_hour: int = 5


_KINDS = {pb.IDENTIFIER_TYPE_EMAIL: resolver.EMAIL, pb.IDENTIFIER_TYPE_PHONE: resolver.PHONE}
_KIND_ENUMS = {name: number for number, name in _KINDS.items()}


class IdentityServicer(pb_grpc.IdentityServiceServicer):
    def __init__(
        self,
        store: IdentityStore,
        conversations: ConversationsClient,
        default_region: str,
        delivery: CodeDelivery | None = None,
        settings: IdentitySettings | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._conversations = conversations
        self._default_region = default_region
        self._delivery = delivery
        self._settings = settings or IdentitySettings()
        self._clock = clock

    async def ResolveCustomer(self, request, context):
        channel = _channel(request.channel, "channel", required=True)
        region = resolver.check_region(request.default_region, self._default_region)
        identifiers = resolver.identifiers_on_message(
            request.email, request.phone, request.whatsapp, region
        )
        claimed = request.assurance == SENDER_ASSURANCE_CLAIMED
        if claimed:
            identifiers = resolver.claimed_identifiers(identifiers, channel)
        customer, created, linked = await self._store.resolve(
            identifiers, channel, resolver.clean_name(request.display_name), claimed=claimed
        )
        IDENTIFICATIONS.labels(channel, identification(customer, created, channel)).inc()
        return pb.ResolveCustomerResponse(
            customer=_customer(customer),
            created=created,
            linked_identifiers=[_identifier(i) for i in linked],
        )

    async def LinkIdentifier(self, request, context):
        customer_id = _uuid(request.customer_id, "customer_id")
        if request.type not in _KINDS:
            raise InvalidArgument(_enum_error("type", request.type))
        channel = _channel(request.channel, "channel", required=False)
        region = resolver.check_region(request.default_region, self._default_region)
        if not request.value.strip():
            raise InvalidArgument("value: required")
        identifier = resolver.normalise(_KINDS[request.type], request.value, region)
        customer, already = await self._store.link(customer_id, identifier, channel)
        return pb.LinkIdentifierResponse(customer=_customer(customer), already_linked=already)

    async def MergeCustomers(self, request, context):
        source_id = _uuid(request.source_customer_id, "source_customer_id")
        target_id = _uuid(request.target_customer_id, "target_customer_id")
        if source_id == target_id:
            raise InvalidArgument("target_customer_id: must differ from source_customer_id")
        merge, _retried = await self._store.merge(
            source_id, target_id, _actor(request.requested_by), request.reason.strip()
        )
        # Identity is committed first: from now on every address resolves to the target. A
        # failure here leaves conversations on the source until MergeCustomers is retried,
        # which finds the recorded merge and only moves what is still left.
        moved, messages = await self._conversations.reassign(source_id, target_id)
        if moved or messages:
            merge = await self._store.add_moved_conversations(merge.merge_id, moved, messages)
        target = await self._with_conversations(await self._store.get(target_id))
        return pb.MergeCustomersResponse(
            customer=target,
            merge_id=str(merge.merge_id),
            identifiers_moved=merge.identifiers_moved,
            conversations_moved=merge.conversations_moved,
        )

    async def GetCustomer(self, request, context):
        customer_id = _uuid(request.customer_id, "customer_id")
        if request.view not in pb.CustomerView.values():
            raise InvalidArgument(f"view: unknown value {request.view}")
        customer = resolver.check_exists(await self._store.get(customer_id), customer_id)
        if request.view == pb.CUSTOMER_VIEW_BASIC:
            return pb.GetCustomerResponse(customer=_customer(customer))
        return pb.GetCustomerResponse(customer=await self._with_conversations(customer))

    async def LookupCustomer(self, request, context):
        region = resolver.check_region(request.default_region, self._default_region)
        by_email = by_phone = None
        if request.email.strip():
            by_email = await self._store.find(
                resolver.Identifier(resolver.EMAIL, resolver.normalise_email(request.email))
            )
        if request.phone.strip():
            by_phone = await self._store.find(
                resolver.Identifier(resolver.PHONE, resolver.normalise_phone(request.phone, region))
            )
        customer = resolver.pick_lookup(
            by_email, by_phone, bool(request.email.strip()), bool(request.phone.strip())
        )
        return pb.LookupCustomerResponse(customer=await self._with_conversations(customer))

    async def EraseCustomer(self, request, context):
        customer_id = _uuid(request.customer_id, "customer_id")
        # Identity first: once committed no address leads to these customers, so nothing new
        # lands on them while conversation erases. Every call (a retry too) erases the content
        # of every id again, which is idempotent: a call that failed midway is finished by the
        # next one, and so is an audit event that could not be written.
        erasure = await self._store.erase(customer_id, _actor(request.requested_by))
        messages = changed = 0
        for erased_id in erasure.customer_ids:
            reply = await self._conversations.erase(erased_id)
            messages += reply.messages_erased
            changed += (reply.messages_erased + reply.tickets_erased
                        + reply.ticket_events_erased + reply.escalations_erased)
        already = not erasure.changed and not changed
        ids = [str(i) for i in erasure.customer_ids]
        # Counts only: the audit log never holds a customer address. The access interceptor
        # writes the event (and its id into audit_event_id) before this answer is sent.
        audit_note("already erased, nothing left" if already else (
            f"erased {len(ids)} customer(s): {erasure.identifiers_erased} identifiers,"
            f" {erasure.names_erased} names, {messages} messages"))
        return pb.EraseCustomerResponse(
            erased_customer_ids=ids,
            erase_time=erasure.erase_time,
            already_erased=already,
            identifiers_erased=erasure.identifiers_erased,
            names_erased=erasure.names_erased,
            messages_erased=messages,
        )

    async def StartLink(self, request, context):
        customer_id = _uuid(request.customer_id, "customer_id")
        channel = _channel(request.channel, "channel", required=True)
        linking.check_may_start(request.assurance == SENDER_ASSURANCE_CLAIMED)
        region = resolver.check_region(request.default_region, self._default_region)
        email, phone = request.claimed_email.strip(), request.claimed_phone.strip()
        if bool(email) == bool(phone):
            raise InvalidArgument("claimed_email, claimed_phone: exactly one is required")
        claimed = (resolver.Identifier(resolver.EMAIL, resolver.normalise_email(email, "claimed_email"))
                   if email else resolver.Identifier(
                       resolver.PHONE, resolver.normalise_phone(phone, region, "claimed_phone")))
        if self._delivery is None:
            raise FailedPrecondition("linking is not configured on this identity service")
        settings, now = self._settings, self._clock()
        code = linking.new_code()
        code_hash = await asyncio.to_thread(linking.hash_code, code)
        new = linking.new_link(customer_id, channel, claimed, code_hash, now,
                               settings.link_code_ttl_s, settings.link_code_attempts,
                               request.request_key.strip()[:200])
        link, already, limited = await self._store.start_link(
            customer_id, new, now, settings.link_requests_per_hour)
        delivery_channel = (channels.BY_NAME["email"] if claimed.kind == resolver.EMAIL
                            else channels.BY_NAME["whatsapp"])
        if already or limited:
            return pb.StartLinkResponse(delivery_channel=delivery_channel,
                                        masked_address=linking.mask(claimed),
                                        already_linked=already, too_many_requests=limited)
        if link.link_id == new.link_id:
            subject, text = linking.code_message(code, channel, settings.link_code_ttl_s,
                                                 resolver.clean_name(request.display_name))
            try:
                await self._delivery.send(link.link_id, customer_id, claimed, subject, text)
            except BaseException:
                # Failed or cut off by the deadline: a code nobody received must not be found
                # by the retry (which would then send none).
                await asyncio.shield(self._store.cancel_link(link.link_id, self._clock()))
                raise
        response = pb.StartLinkResponse(
            link_id=str(link.link_id),
            delivery_channel=delivery_channel,
            masked_address=linking.mask(claimed),
            attempts_left=link.attempts_left,
        )
        response.expire_time.FromDatetime(link.expire_time)
        return response

    async def ConfirmLink(self, request, context):
        customer_id = _uuid(request.customer_id, "customer_id")
        channel = _channel(request.channel, "channel", required=True)
        if request.assurance == SENDER_ASSURANCE_CLAIMED:
            raise FailedPrecondition(
                "assurance: the sender's address is only claimed on this channel; a code counts "
                "only from a verified sender"
            )
        code = linking.clean_code(request.code)

        async def matches(stored: str) -> bool:
            return await asyncio.to_thread(linking.code_matches, code, stored)

        result = await self._store.confirm_link(customer_id, channel, matches, self._clock())
        merge_id = str(result.merge_id) if result.merge_id else ""
        if result.merge_source is not None:
            # As in MergeCustomers: identity committed first; the move is idempotent, and if
            # it (or the audit) fails, the same right code again finishes the confirmation.
            moved, messages = await self._conversations.reassign(result.merge_source, customer_id)
            if moved or messages:
                await self._store.add_moved_conversations(result.merge_id, moved, messages)
        if result.outcome in (linking.LINKED, linking.MERGED):
            event_id = await record_event(
                f"customer:{customer_id}",
                _CONFIRM_LINK_METHOD,
                [str(customer_id)] + ([str(result.merge_source)] if result.merge_source else []),
                # Never the address or the code: what happened, on which channel, which merge.
                f"verified link {result.link.link_id}: {result.outcome} the claimed "
                f"{result.link.claimed.kind} (code returned on {channel})"
                + (f"; merge {merge_id}: source {result.merge_source} into target {customer_id}"
                   if merge_id else ""),
            )
            await self._store.link_audited(result.link.link_id, event_id)
        link = result.link
        return pb.ConfirmLinkResponse(
            outcome=_LINK_OUTCOMES[result.outcome],
            attempts_left=link.attempts_left if link is not None and link.status == linking.PENDING else 0,
            customer=_customer(result.customer),
            merge_id=merge_id,
            masked_address=linking.mask(link.claimed) if link is not None and result.outcome in (
                linking.LINKED, linking.MERGED, linking.ALREADY_LINKED) else "",
            link_id=str(link.link_id) if link is not None and result.outcome != linking.NO_PENDING_LINK else "",
        )

    async def _with_conversations(self, customer: Customer) -> pb.Customer:
        message = _customer(customer)
        for c in await self._conversations.list(customer.customer_id):
            message.conversations.append(
                pb.CustomerConversation(
                    conversation_id=c.conversation_id,
                    status=conv_pb.ConversationStatus.Name(c.status).removeprefix(
                        "CONVERSATION_STATUS_"
                    ),
                    initial_channel=c.initial_channel,
                    start_time=c.start_time,
                    last_message_time=c.last_message_time,
                )
            )
        return message


def _actor(requested_by: str) -> str:
    """Who acted, as recorded with a merge or erasure: the authenticated caller, and on whose
    behalf when the request says (a claim, so it only follows the proven subject)."""
    on_behalf = requested_by.strip()[:200]
    subject = current_principal().subject
    return f"{subject} for {on_behalf}" if on_behalf else subject


_CONFIRM_LINK_METHOD = "/fte.identity.v1.IdentityService/ConfirmLink"
_LINK_OUTCOMES = {
    linking.LINKED: pb.LINK_OUTCOME_LINKED,
    linking.MERGED: pb.LINK_OUTCOME_MERGED,
    linking.ALREADY_LINKED: pb.LINK_OUTCOME_ALREADY_LINKED,
    linking.WRONG_CODE: pb.LINK_OUTCOME_WRONG_CODE,
    linking.EXPIRED: pb.LINK_OUTCOME_EXPIRED,
    linking.EXHAUSTED: pb.LINK_OUTCOME_EXHAUSTED,
    linking.USED: pb.LINK_OUTCOME_USED,
    linking.NO_PENDING_LINK: pb.LINK_OUTCOME_NO_PENDING_LINK,
}


def _uuid(value: str, field: str) -> uuid.UUID:
    if not value.strip():
        raise InvalidArgument(f"{field}: required")
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise InvalidArgument(f"{field}: {value!r} is not a UUID") from None


def _enum_error(field: str, value: int) -> str:
    return f"{field}: required" if value == 0 else f"{field}: unknown value {value}"


def identification(customer: resolver.Customer, created: bool, channel: str) -> str:
    """fte_customer_identifications' result: new (created now), cross_channel (the customer is
    known from another channel too: one of their addresses was first seen there, e.g. the email
    behind a linked WhatsApp number) or known (every address they have came in on this one)."""
    if created:
        return "new"
    if any(s.first_seen_channel not in (None, channel) for s in customer.identifiers):
        return "cross_channel"
    return "known"


def _channel(value: int, field: str, *, required: bool) -> str | None:
    if value in channels.BY_VALUE:
        return channels.BY_VALUE[value]
    if value == 0 and not required:
        return None
    raise InvalidArgument(_enum_error(field, value))


def _identifier(i: StoredIdentifier) -> pb.Identifier:
    return pb.Identifier(
        type=_KIND_ENUMS[i.kind],
        value=i.value,
        first_seen_channel=channels.BY_NAME.get(i.first_seen_channel, 0),
        create_time=i.create_time,
    )


def _customer(c: Customer) -> pb.Customer:
    return pb.Customer(
        customer_id=str(c.customer_id),
        display_name=c.display_name,
        identifiers=[_identifier(i) for i in c.identifiers],
        names=[
            pb.CustomerName(channel=channels.BY_NAME[n.channel], name=n.name, last_seen_time=n.last_seen_time)
            for n in c.names
        ],
        merged_into_customer_id=str(c.merged_into) if c.merged_into else "",
        create_time=c.create_time,
        update_time=c.update_time,
        erase_time=c.erase_time,
    )


async def build(
    resources: contextlib.AsyncExitStack,
    settings: IdentitySettings | None = None,
    clock: Callable[[], datetime] | None = None,
) -> list[Servicer]:
    settings = settings or IdentitySettings()
    zero(IDENTIFICATIONS, channels.BY_VALUE.values(), ("new", "known", "cross_channel"))
    delivery = CodeDelivery(settings.kafka_bootstrap_servers)
    resources.push_async_callback(delivery.close)
    pool = await owned_pool(resources, settings, "identity", session_state=False)
    channel = settings.channel(resources, settings.conversation_addr)
    servicer = IdentityServicer(
        IdentityStore(pool),
        ConversationsClient(channel),
        resolver.check_region(settings.default_phone_region, "US"),
        delivery,
        settings,
        **({"clock": clock} if clock is not None else {}),
    )
    return [
        Servicer(
            pb_grpc.add_IdentityServiceServicer_to_server,
            servicer,
            "fte.identity.v1.IdentityService",
        )
    ]
