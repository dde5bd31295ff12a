"""The operators' routes ask the access service who a Bearer credential belongs to: a viewer key
reads, a revoked key is refused (at once when never used; within AUTH_CACHE_TTL_S when the edge
has it cached), an OIDC token from the company IdP with role viewer reads, a service key does
not; the access service unreachable is 503, never 500."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from fte.access.v1 import access_service_pb2 as access_pb
from fte.common.v1 import channel_pb2
from fte.identity.v1 import identity_service_pb2 as id_pb

from tests.access_services import OIDC_AUDIENCE, OIDC_ISSUER
from tests.edge.conftest import edge_settings, new_key, serve_edge


def _bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def _lookup_params() -> dict[str, str]:
    return {"email": f"nobody-{uuid.uuid4().hex}@example.com"}


async def test_a_viewer_key_reads_metrics(http, viewer_key):
    reply = await http.get("/metrics/channels", headers=_bearer(viewer_key))
    assert reply.status_code == 200, reply.text
    assert "channels" in reply.json()


async def test_a_viewer_key_looks_customers_up(http, viewer_key, identity):
    email = f"known-{uuid.uuid4().hex}@example.com"
    resolved = await identity.ResolveCustomer(id_pb.ResolveCustomerRequest(
        channel=channel_pb2.CHANNEL_EMAIL, email=email, display_name="Known"))
    reply = await http.get("/customers/lookup", params={"email": email}, headers=_bearer(viewer_key))
    assert reply.status_code == 200, reply.text
    assert reply.json()["customer_id"] == resolved.customer.customer_id


async def test_no_credential_is_401_with_a_clear_message(http):
    reply = await http.get("/customers/lookup", params=_lookup_params())
    assert reply.status_code == 401
    assert reply.headers["WWW-Authenticate"] == "Bearer"
    assert "Authorization: Bearer" in reply.json()["detail"]


async def test_an_oversized_or_non_ascii_credential_is_401(http):
    for credential in ("x" * 9000, "fte_ñ"):
        reply = await http.get("/metrics/channels", headers={"Authorization": f"Bearer {credential}".encode()})
        assert reply.status_code == 401, reply.text


async def test_a_revoked_key_is_401(http, access):
    key = await new_key(access, access_pb.ROLE_ADMIN, "revoked before use")
    await access.RevokeApiKey(access_pb.RevokeApiKeyRequest(key_id=key.split("_")[1]))
    reply = await http.get("/metrics/channels", headers=_bearer(key))
    assert reply.status_code == 401, reply.text
    assert reply.headers["WWW-Authenticate"] == "Bearer"


async def test_a_key_revoked_after_use_is_refused_once_the_cache_expires(
    stack, identity_address, conversation_address, access, service_auth
):
    settings = edge_settings(stack, identity_address, conversation_address, **service_auth("edge"),
                             auth_cache_ttl_s=0.3)
    key = await new_key(access, access_pb.ROLE_VIEWER, "revoked after use")
    async with serve_edge(settings) as url, httpx.AsyncClient(base_url=url, timeout=20) as client:
        assert (await client.get("/metrics/channels", headers=_bearer(key))).status_code == 200
        await access.RevokeApiKey(access_pb.RevokeApiKeyRequest(key_id=key.split("_")[1]))
        await asyncio.sleep(0.5)
        assert (await client.get("/metrics/channels", headers=_bearer(key))).status_code == 401


async def test_a_service_key_is_403_on_operator_routes(http, access):
    key = await new_key(access, access_pb.ROLE_SERVICE, "some worker")
    reply = await http.get("/metrics/channels", headers=_bearer(key))
    assert reply.status_code == 403, reply.text
    assert "viewer" in reply.json()["detail"]


async def test_an_oidc_token_with_role_viewer_reads(http, identity_provider):
    token = identity_provider.mint(OIDC_AUDIENCE, issuer=OIDC_ISSUER, email="vera@flowboard.example",
                                   claims={"roles": ["viewer"], "sub": "vera-oidc-1"})
    reply = await http.get("/metrics/channels", headers=_bearer(token))
    assert reply.status_code == 200, reply.text


async def test_an_oidc_token_without_a_role_is_403(http, identity_provider):
    token = identity_provider.mint(OIDC_AUDIENCE, issuer=OIDC_ISSUER, claims={"roles": [], "sub": "norole"})
    reply = await http.get("/metrics/channels", headers=_bearer(token))
    assert reply.status_code == 403, reply.text


async def test_an_oidc_token_for_another_audience_is_401(http, identity_provider):
    token = identity_provider.mint("someone-else", issuer=OIDC_ISSUER, claims={"roles": ["admin"]})
    reply = await http.get("/metrics/channels", headers=_bearer(token))
    assert reply.status_code == 401, reply.text


async def test_access_service_down_is_503_and_customers_are_unaffected(
    stack, identity_address, conversation_address, viewer_key, service_keys
):
    # Port 9 (discard): nothing listens there. The services the edge calls for customers reach
    # their own access service: only the edge's is out of reach.
    settings = edge_settings(stack, identity_address, conversation_address, access_addr="127.0.0.1:9",
                             service_key=service_keys["edge"], rpc_timeout_s=2)
    async with serve_edge(settings) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        reply = await client.get("/customers/lookup", params=_lookup_params(), headers=_bearer(viewer_key))
        assert reply.status_code == 503, reply.text
        assert reply.headers["Retry-After"] == "5"
        assert (await client.get("/metrics/channels")).status_code == 401  # no credential: no call
        assert (await client.get(f"/support/ticket/{uuid.uuid4()}")).status_code == 200
