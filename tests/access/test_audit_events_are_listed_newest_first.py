"""Audit events are appended as recorded and read back newest first, page by page, for one
subject or one method."""

from __future__ import annotations

import uuid

import grpc
import pytest
from fte.access.v1 import access_service_pb2 as pb

from tests.running_services import rpc_error

MERGE = "/fte.identity.v1.IdentityService/MergeCustomers"


async def _record(access, subject: str, method: str = MERGE, **fields) -> pb.AuditEvent:
    request = pb.RecordAuditEventRequest(subject=subject, role=pb.ROLE_ADMIN, method=method,
                                         outcome=pb.AUDIT_OUTCOME_SUCCEEDED)
    for name, value in fields.items():
        if name == "target_ids":
            request.target_ids.extend(value)
        else:
            setattr(request, name, value)
    return (await access.RecordAuditEvent(request)).event


async def test_a_recorded_event_keeps_who_what_on_which_targets_and_how_it_ended(access, admin_db) -> None:
    subject = f"api-key:{uuid.uuid4().hex[:16]}"
    targets = [str(uuid.uuid4()), str(uuid.uuid4())]

    event = await _record(access, subject, target_ids=targets, outcome=pb.AUDIT_OUTCOME_DENIED,
                          detail="PERMISSION_DENIED: admin only")

    listed = (await access.ListAuditEvents(pb.ListAuditEventsRequest(subject=subject))).events
    assert [e.event_id for e in listed] == [event.event_id]
    got = listed[0]
    assert (got.subject, got.role, got.method, list(got.target_ids), got.outcome, got.detail) == (
        subject, pb.ROLE_ADMIN, MERGE, targets, pb.AUDIT_OUTCOME_DENIED, "PERMISSION_DENIED: admin only")
    assert got.event_time.seconds > 0
    row = await admin_db.fetchrow("SELECT * FROM access.audit_events WHERE event_id = $1", int(event.event_id))
    assert (row["subject"], row["role"], row["outcome"]) == (subject, "admin", "denied")


async def test_events_come_newest_first_and_page_without_gaps_or_repeats(access) -> None:
    subject = f"oidc:{uuid.uuid4().hex}"
    recorded = [await _record(access, subject, detail=f"action {i}") for i in range(5)]

    pages, token = [], ""
    while True:
        page = await access.ListAuditEvents(
            pb.ListAuditEventsRequest(subject=subject, page_size=2, page_token=token))
        pages.append([e.detail for e in page.events])
        token = page.next_page_token
        if not token:
            break

    assert pages == [["action 4", "action 3"], ["action 2", "action 1"], ["action 0"]]
    assert [e.event_id for e in recorded] == sorted((e.event_id for e in recorded), key=int)


async def test_events_can_be_filtered_by_method(access) -> None:
    subject = f"oidc:{uuid.uuid4().hex}"
    delete = f"/fte.knowledge.v1.KnowledgeService/DeleteArticle-{uuid.uuid4().hex[:6]}"
    await _record(access, subject, method=MERGE)
    wanted = await _record(access, subject, method=delete)

    by_method = (await access.ListAuditEvents(pb.ListAuditEventsRequest(method=delete))).events
    both = (await access.ListAuditEvents(pb.ListAuditEventsRequest(subject=subject, method=MERGE))).events

    assert [e.event_id for e in by_method] == [wanted.event_id]
    assert [e.method for e in both] == [MERGE]


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (pb.RecordAuditEventRequest(method=MERGE, outcome=pb.AUDIT_OUTCOME_FAILED), "subject: required"),
        (pb.RecordAuditEventRequest(subject="oidc:x", outcome=pb.AUDIT_OUTCOME_FAILED), "method: required"),
        (pb.RecordAuditEventRequest(subject="oidc:x", method=MERGE), "outcome: required"),
        (pb.RecordAuditEventRequest(subject="oidc:x", method=MERGE, outcome=9), "outcome: unknown value 9"),
        (pb.RecordAuditEventRequest(subject="oidc:x", method=MERGE, outcome=pb.AUDIT_OUTCOME_FAILED,
                                    role=7), "role: unknown value 7"),
        (pb.RecordAuditEventRequest(subject="oidc:x", method=MERGE, outcome=pb.AUDIT_OUTCOME_FAILED,
                                    detail="x" * 1001), "detail: at most 1000 characters"),
    ],
)
async def test_an_incomplete_event_is_refused_and_not_stored(access, admin_db, request_, message) -> None:
    before = await admin_db.fetchval("SELECT count(*) FROM access.audit_events")

    err = await rpc_error(access.RecordAuditEvent(request_))

    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in err.details()
    assert await admin_db.fetchval("SELECT count(*) FROM access.audit_events") == before


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (pb.ListAuditEventsRequest(page_token="bm90LWEtdG9rZW4="), "page_token: not a token"),
        (pb.ListAuditEventsRequest(page_token="%%%"), "page_token: not a token"),
        (pb.ListAuditEventsRequest(page_size=-1), "page_size: must not be negative"),
    ],
)
async def test_a_bad_page_request_is_invalid_argument(access, request_, message) -> None:
    err = await rpc_error(access.ListAuditEvents(request_))

    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in err.details()
