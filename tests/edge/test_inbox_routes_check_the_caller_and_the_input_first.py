"""The inbox's routes (`/inbox/api/…`) on the real edge with keys made by the real access service:
who the credential is (`/inbox/api/me`), a viewer refused the actions with 403, and malformed
input refused with 4xx naming the field — all answered before any call to HandoffService, so
nothing reaches the queue. The OpenAPI document describes each answer's shape."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.edge.conftest import edge_settings, serve_edge

ACTIONS = ("claim", "reply", "resolve", "reopen")


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize("role", ["viewer", "agent", "admin"])
async def test_me_names_the_credentials_role(http, role_keys, role):
    reply = await http.get("/inbox/api/me", headers=bearer(role_keys[role]))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["role"] == role
    assert body["subject"].startswith("api-key:")
    assert body["display_name"]


async def test_me_refuses_anonymous_and_service_keys(http, service_keys):
    anonymous = await http.get("/inbox/api/me")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    assert (await http.get("/inbox/api/me", headers=bearer(service_keys["edge"]))).status_code == 403


@pytest.mark.parametrize("action", ACTIONS)
async def test_a_viewer_may_not_act_on_an_escalation(http, viewer_key, action):
    reply = await http.post(f"/inbox/api/escalations/{uuid.uuid4()}/{action}", headers=bearer(viewer_key),
                            json={"content": "Hello", "idempotency_key": "k-1"} if action == "reply" else None)
    assert reply.status_code == 403, reply.text
    assert "agent" in reply.json()["detail"]


@pytest.mark.parametrize("body, field", [
    ({"idempotency_key": "k-1"}, "content"),
    ({"content": "", "idempotency_key": "k-1"}, "content"),
    ({"content": "x" * 10001, "idempotency_key": "k-1"}, "content"),
    ({"content": "Hello"}, "idempotency_key"),
    ({"content": "Hello", "idempotency_key": "k" * 201}, "idempotency_key"),
])
async def test_a_malformed_reply_is_422_naming_the_field(http, role_keys, body, field):
    reply = await http.post(f"/inbox/api/escalations/{uuid.uuid4()}/reply", headers=bearer(role_keys["agent"]), json=body)
    assert reply.status_code == 422, reply.text
    assert [p["loc"] for p in reply.json()["detail"]] == [["body", field]]


async def test_a_blank_reply_is_400(http, role_keys):
    reply = await http.post(f"/inbox/api/escalations/{uuid.uuid4()}/reply", headers=bearer(role_keys["agent"]),
                            json={"content": "  \n ", "idempotency_key": "k-1"})
    assert reply.status_code == 400
    assert reply.json()["detail"].startswith("content:")


async def test_a_too_long_resolution_note_is_422(http, role_keys):
    reply = await http.post(f"/inbox/api/escalations/{uuid.uuid4()}/resolve", headers=bearer(role_keys["agent"]),
                            json={"note": "n" * 2001})
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["body", "note"]


@pytest.mark.parametrize("path", ["/inbox/api/escalations/not-a-uuid",
                                  "/inbox/api/escalations/not-a-uuid/claim"])
async def test_a_malformed_escalation_id_is_422(http, role_keys, path):
    method = "POST" if path.endswith("claim") else "GET"
    reply = await http.request(method, path, headers=bearer(role_keys["agent"]))
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["path", "escalation_id"]


@pytest.mark.parametrize("query, field", [
    ("state=pending", "state"), ("reason=weather", "reason"), ("page_size=0", "page_size"),
    ("page_size=201", "page_size"), (f"team={'t' * 101}", "team"),
])
async def test_bad_queue_filters_are_422(http, viewer_key, query, field):
    reply = await http.get(f"/inbox/api/escalations?{query}", headers=bearer(viewer_key))
    assert reply.status_code == 422, reply.text
    assert reply.json()["detail"][0]["loc"][:2] == ["query", field]


async def test_the_openapi_document_describes_the_inbox_answers(http):
    document = (await http.get("/openapi.json")).json()

    def answer(path: str, method: str) -> str:
        return document["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]

    assert answer("/inbox/api/escalations", "get").endswith("/EscalationPage")
    assert answer("/inbox/api/escalations/{escalation_id}", "get").endswith("/EscalationDetail")
    assert answer("/inbox/api/escalations/{escalation_id}/reply", "post").endswith("/ReplyResult")
    escalation = document["components"]["schemas"]["Escalation"]["properties"]
    assert {"reply_due_at", "breached", "team", "note", "owner", "state"} <= set(escalation)


async def test_the_sign_in_config_is_open_and_offers_no_provider_unless_configured(http):
    reply = await http.get("/inbox/api/config")
    assert reply.status_code == 200
    assert reply.json() == {"oidc": None, "teams": ["billing", "legal", "sales", "support"]}


async def test_the_sign_in_config_names_the_configured_provider(stack, identity_address, conversation_address, service_auth):
    settings = edge_settings(stack, identity_address, conversation_address, **service_auth("edge"),
                             inbox_oidc_issuer="https://login.example.com/realms/flowboard",
                             inbox_oidc_client_id="fte-inbox")
    async with serve_edge(settings) as url, httpx.AsyncClient(base_url=url) as client:
        body = (await client.get("/inbox/api/config")).json()
    assert body["oidc"] == {"issuer": "https://login.example.com/realms/flowboard", "client_id": "fte-inbox",
                             "scope": "openid profile email", "token": "id_token"}
