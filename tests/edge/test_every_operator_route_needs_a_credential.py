"""Every route of the real edge's OpenAPI document that is not on the customer allowlist below
refuses an anonymous call and a garbage credential (401 + `WWW-Authenticate: Bearer`) and lets a
viewer key through: a route added without `require_role` fails here. A route that declares a
stronger role in the document (`x-min-role: agent`, the inbox's actions) refuses a viewer key
with 403 and lets an agent key through."""

from __future__ import annotations

import re
import uuid

import httpx

# Open on purpose: customers (their form, their ticket by its unguessable id), providers'
# signed webhooks, probes, and the Prometheus scrape (counters only, see app.py).
CUSTOMER_ALLOWLIST = {
    ("POST", "/support/submit"),
    ("GET", "/support/ticket/{ticket_id}"),
    ("POST", "/webhooks/whatsapp"),
    ("POST", "/webhooks/whatsapp/status"),
    ("POST", "/webhooks/gmail"),
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
    # The inbox's sign-in settings: the identity provider's issuer and public client id.
    ("GET", "/inbox/api/config"),
}


def _concrete(path: str) -> str:
    """A path with each {parameter} filled with a well-formed id."""
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


async def _operations(http: httpx.AsyncClient) -> dict[tuple[str, str], str]:
    """(method, path) → the role the operation declares (`x-min-role`), viewer when it names none."""
    document = (await http.get("/openapi.json")).json()
    return {(method.upper(), path): operation.get("x-min-role", "viewer")
            for path, item in document["paths"].items() for method, operation in item.items()
            if method in ("get", "post", "put", "patch", "delete")}


async def test_every_route_off_the_allowlist_needs_a_viewer_credential(http, viewer_key, role_keys):
    roles = await _operations(http)
    operations = list(roles)
    guarded = [op for op in operations if op not in CUSTOMER_ALLOWLIST]
    # Not vacuous, and the allowlist names only routes that exist.
    assert {("GET", "/customers/lookup"), ("GET", "/conversations/{conversation_id}"),
            ("GET", "/metrics/channels"), ("GET", "/inbox/api/escalations"),
            ("POST", "/inbox/api/escalations/{escalation_id}/claim")} <= set(guarded)
    assert roles[("POST", "/inbox/api/escalations/{escalation_id}/reply")] == "agent"
    assert CUSTOMER_ALLOWLIST <= set(operations), CUSTOMER_ALLOWLIST - set(operations)

    for method, path in guarded:
        url = _concrete(path)
        for headers in ({}, {"Authorization": "Bearer fte_0123456789abcdef_garbage"},
                        {"Authorization": "Bearer not.a.jwt"}, {"Authorization": "Basic dXNlcjpwYXNz"}):
            reply = await http.request(method, url, headers=headers)
            assert reply.status_code == 401, (method, path, headers, reply.status_code, reply.text)
            assert reply.headers["WWW-Authenticate"] == "Bearer"
            assert "credential" in reply.json()["detail"] or "Authorization" in reply.json()["detail"]
        need = roles[(method, path)]
        assert need in ("viewer", "agent"), (method, path, need)
        if need == "agent":
            reply = await http.request(method, url, headers={"Authorization": f"Bearer {viewer_key}"})
            assert reply.status_code == 403, (method, path, reply.status_code, reply.text)
        key = viewer_key if need == "viewer" else role_keys["agent"]
        reply = await http.request(method, url, headers={"Authorization": f"Bearer {key}"})
        assert reply.status_code not in (401, 403), (method, path, reply.status_code, reply.text)
        assert reply.status_code < 500, (method, path, reply.status_code, reply.text)


async def test_customer_routes_stay_open(http):
    assert (await http.get(f"/support/ticket/{uuid.uuid4()}")).status_code == 200
    assert (await http.get("/health")).status_code == 200
    assert (await http.get("/metrics")).status_code == 200
