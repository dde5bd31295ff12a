"""Every mutating action a person takes through gRPC is in the audit log — who, with which role,
which method, on which ids, how it ended — written by the shared access interceptor, not by each
handler: a success, a refusal of a too-weak role (nothing changes), a failure (its status code
only, never the error's text, which may name a customer). Reads and service keys' calls are not
audited; a request's claimed `requested_by` never replaces the proven caller."""

from __future__ import annotations

import grpc
import pytest
from fte.access.v1 import access_service_pb2 as access_pb
from fte.common.v1.channel_pb2 import CHANNEL_EMAIL
from fte.identity.v1 import identity_service_pb2 as pb
from fte.identity.v1 import identity_service_pb2_grpc as id_grpc
from fte.knowledge.v1 import knowledge_service_pb2 as kb_pb
from fte.knowledge.v1 import knowledge_service_pb2_grpc as kb_grpc

from services.common.grpc_client import open_channel
from tests.running_services import new_id, rpc_error, unique_email

MERGE = "/fte.identity.v1.IdentityService/MergeCustomers"
LOOKUP = "/fte.identity.v1.IdentityService/LookupCustomer"


def _subject(key: str) -> str:
    return f"api-key:{key.split('_')[1]}"


async def _events(access, key: str, method: str) -> list[access_pb.AuditEvent]:
    return list((await access.ListAuditEvents(access_pb.ListAuditEventsRequest(
        subject=_subject(key), method=method, page_size=500))).events)


@pytest.fixture
async def as_role(identity_address, role_keys):
    """`as_role("agent")`: an IdentityService stub calling with that role's key."""
    channels = []

    def stub(role: str) -> id_grpc.IdentityServiceStub:
        channels.append(open_channel(identity_address, 20, credential=role_keys[role]))
        return id_grpc.IdentityServiceStub(channels[-1])

    yield stub
    for channel in channels:
        await channel.close()


async def _two_customers(identity) -> tuple[str, str, str]:
    email = unique_email("audited")
    source = (await identity.ResolveCustomer(pb.ResolveCustomerRequest(
        channel=CHANNEL_EMAIL, email=email))).customer.customer_id
    target = (await identity.ResolveCustomer(pb.ResolveCustomerRequest(
        channel=CHANNEL_EMAIL, email=unique_email("audited")))).customer.customer_id
    return source, target, email


async def test_a_merge_by_an_admin_is_audited_with_who_role_targets_and_outcome(
        identity, as_role, access, role_keys, admin_db):
    source, target, _ = await _two_customers(identity)
    before = len(await _events(access, role_keys["admin"], MERGE))

    await as_role("admin").MergeCustomers(pb.MergeCustomersRequest(
        source_customer_id=source, target_customer_id=target, requested_by="someone-else@example.com"))

    events = await _events(access, role_keys["admin"], MERGE)
    assert len(events) == before + 1
    event = events[0]
    assert event.role == access_pb.ROLE_ADMIN and event.outcome == access_pb.AUDIT_OUTCOME_SUCCEEDED
    assert list(event.target_ids) == [source, target]
    recorded_by = await admin_db.fetchval(
        "SELECT requested_by FROM identity.customer_merges WHERE source_customer_id = $1::uuid", source)
    assert recorded_by.startswith(_subject(role_keys["admin"]))


async def test_a_too_weak_role_is_refused_audited_as_denied_and_changes_nothing(
        identity, as_role, access, role_keys):
    source, target, _ = await _two_customers(identity)

    err = await rpc_error(as_role("agent").MergeCustomers(pb.MergeCustomersRequest(
        source_customer_id=source, target_customer_id=target)))

    assert err.code() == grpc.StatusCode.PERMISSION_DENIED and "admin" in err.details()
    [event] = [e for e in await _events(access, role_keys["agent"], MERGE) if source in e.target_ids]
    assert event.outcome == access_pb.AUDIT_OUTCOME_DENIED and event.role == access_pb.ROLE_AGENT
    unchanged = await identity.GetCustomer(pb.GetCustomerRequest(customer_id=source))
    assert unchanged.customer.merged_into_customer_id == ""


async def test_a_failed_action_is_audited_with_its_status_code_only(identity, as_role, access, role_keys):
    unknown = new_id()
    err = await rpc_error(as_role("admin").MergeCustomers(pb.MergeCustomersRequest(
        source_customer_id=unknown, target_customer_id=new_id())))
    assert err.code() == grpc.StatusCode.NOT_FOUND

    [event] = [e for e in await _events(access, role_keys["admin"], MERGE) if unknown in e.target_ids]
    assert event.outcome == access_pb.AUDIT_OUTCOME_FAILED
    assert event.detail == "NOT_FOUND"  # the error's own text may name a customer: not kept


async def test_an_action_on_ids_holding_nul_is_still_audited(as_role, access, role_keys):
    """Found by tests/fuzz: the audit log (PostgreSQL text) cannot hold U+0000, so such an id
    lost the event; it is kept without the NUL."""
    unknown = new_id()
    err = await rpc_error(as_role("admin").MergeCustomers(pb.MergeCustomersRequest(
        source_customer_id=unknown[:8] + "\x00" + unknown[8:], target_customer_id=new_id())))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT

    [event] = [e for e in await _events(access, role_keys["admin"], MERGE) if unknown in e.target_ids]
    assert event.outcome == access_pb.AUDIT_OUTCOME_FAILED and event.detail == "INVALID_ARGUMENT"


async def test_reads_are_not_audited(as_role, access, role_keys):
    email = unique_email("read-only")
    err = await rpc_error(as_role("viewer").LookupCustomer(pb.LookupCustomerRequest(email=email)))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert await _events(access, role_keys["viewer"], LOOKUP) == []


async def test_knowledge_writes_are_admin_only_and_audited_with_the_article(
        agent_address, role_keys, access):
    slug = f"audit-{new_id()[:8]}"
    article = kb_pb.Article(slug=slug, title="Audited article", category="testing",
                            body="An article written to show the audit log.")
    async with open_channel(agent_address, 30, credential=role_keys["agent"]) as agent_channel, \
            open_channel(agent_address, 30, credential=role_keys["admin"]) as admin_channel:
        refused = await rpc_error(kb_grpc.KnowledgeServiceStub(agent_channel).UpsertArticle(
            kb_pb.UpsertArticleRequest(article=article)))
        assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
        admin = kb_grpc.KnowledgeServiceStub(admin_channel)
        stored = (await admin.UpsertArticle(kb_pb.UpsertArticleRequest(article=article))).article
        await admin.DeleteArticle(kb_pb.DeleteArticleRequest(article_id=stored.article_id))

    deleted = await _events(access, role_keys["admin"], "/fte.knowledge.v1.KnowledgeService/DeleteArticle")
    assert deleted[0].outcome == access_pb.AUDIT_OUTCOME_SUCCEEDED
    assert list(deleted[0].target_ids) == [stored.article_id]
    denied = await _events(access, role_keys["agent"], "/fte.knowledge.v1.KnowledgeService/UpsertArticle")
    assert denied and denied[0].outcome == access_pb.AUDIT_OUTCOME_DENIED
