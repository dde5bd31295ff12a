"""An API key made by CreateApiKey authenticates as its role until it is revoked; anything else
shaped like a key does not."""

from __future__ import annotations

import uuid

import grpc
import pytest
from fte.access.v1 import access_service_pb2 as pb

from tests.running_services import rpc_error


async def _create(access, role=pb.ROLE_AGENT, name: str = "") -> pb.CreateApiKeyResponse:
    return await access.CreateApiKey(
        pb.CreateApiKeyRequest(name=name or f"test {uuid.uuid4().hex[:8]}", role=role))


@pytest.mark.parametrize("role", [pb.ROLE_VIEWER, pb.ROLE_AGENT, pb.ROLE_ADMIN, pb.ROLE_SERVICE])
async def test_a_new_key_authenticates_as_its_role(access, role) -> None:
    created = await _create(access, role, name="ops laptop")

    principal = (await access.Authenticate(pb.AuthenticateRequest(credential=created.secret))).principal

    assert created.secret.startswith(f"fte_{created.key.key_id}_")
    assert principal.role == role
    assert principal.kind == pb.CREDENTIAL_KIND_API_KEY
    assert principal.key_id == created.key.key_id
    assert principal.subject == f"api-key:{created.key.key_id}"
    assert principal.display_name == "ops laptop"


async def test_an_authorization_header_value_is_accepted_as_it_is(access) -> None:
    created = await _create(access)

    answer = await access.Authenticate(pb.AuthenticateRequest(credential=f"Bearer {created.secret}"))

    assert answer.principal.key_id == created.key.key_id


async def test_a_used_key_shows_when_it_was_last_used(access) -> None:
    created = await _create(access)
    assert not created.key.HasField("last_used_time")

    await access.Authenticate(pb.AuthenticateRequest(credential=created.secret))

    listed = {k.key_id: k for k in (await access.ListApiKeys(pb.ListApiKeysRequest())).keys}
    assert listed[created.key.key_id].HasField("last_used_time")


def _wrong_secret(secret: str) -> str:
    last = secret[-1]
    return secret[:-1] + ("A" if last != "A" else "B")


@pytest.mark.parametrize(
    "credential",
    [
        pytest.param(_wrong_secret, id="wrong secret"),
        pytest.param(lambda s: f"fte_{uuid.uuid4().hex[:16]}_{s.split('_', 2)[2]}", id="unknown key id"),
        pytest.param(lambda s: s[:-5], id="truncated"),
        pytest.param(lambda s: s.upper(), id="key id in upper case"),
        pytest.param(lambda s: "fte_nothing_here", id="malformed"),
        pytest.param(lambda s: "just-some-password", id="not a key at all"),
        pytest.param(lambda s: "", id="empty"),
        pytest.param(lambda s: "Bearer ", id="empty bearer"),
    ],
)
async def test_anything_but_the_exact_key_is_unauthenticated(access, credential) -> None:
    created = await _create(access)

    err = await rpc_error(access.Authenticate(pb.AuthenticateRequest(credential=credential(created.secret))))

    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert created.secret not in (err.details() or "")


async def test_a_revoked_key_is_refused_at_once_even_right_after_it_was_verified(access) -> None:
    created = await _create(access)
    await access.Authenticate(pb.AuthenticateRequest(credential=created.secret))  # now cached

    revoked = await access.RevokeApiKey(pb.RevokeApiKeyRequest(key_id=created.key.key_id))
    err = await rpc_error(access.Authenticate(pb.AuthenticateRequest(credential=created.secret)))

    assert revoked.key.HasField("revoke_time") and not revoked.already_revoked
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_revoking_twice_changes_nothing(access) -> None:
    created = await _create(access)

    first = await access.RevokeApiKey(pb.RevokeApiKeyRequest(key_id=created.key.key_id))
    second = await access.RevokeApiKey(pb.RevokeApiKeyRequest(key_id=created.key.key_id))

    assert second.already_revoked
    assert second.key.revoke_time == first.key.revoke_time


async def test_revoked_keys_are_listed_only_when_asked_for(access) -> None:
    created = await _create(access)
    await access.RevokeApiKey(pb.RevokeApiKeyRequest(key_id=created.key.key_id))

    active = {k.key_id for k in (await access.ListApiKeys(pb.ListApiKeysRequest())).keys}
    every = {k.key_id for k in (await access.ListApiKeys(pb.ListApiKeysRequest(include_revoked=True))).keys}

    assert created.key.key_id not in active
    assert created.key.key_id in every


@pytest.mark.parametrize(
    ("key_id", "code", "message"),
    [
        ("0123456789abcdef", grpc.StatusCode.NOT_FOUND, "no API key 0123456789abcdef"),
        ("not-a-key", grpc.StatusCode.INVALID_ARGUMENT, "key_id: 'not-a-key' is not a key id"),
        ("", grpc.StatusCode.INVALID_ARGUMENT, "key_id: required"),
    ],
)
async def test_revoking_an_unknown_or_malformed_key_id_says_so(access, key_id, code, message) -> None:
    err = await rpc_error(access.RevokeApiKey(pb.RevokeApiKeyRequest(key_id=key_id)))

    assert err.code() == code
    assert message in err.details()


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (pb.CreateApiKeyRequest(name="ops", role=pb.ROLE_UNSPECIFIED), "role: required"),
        (pb.CreateApiKeyRequest(name="ops", role=42), "role: unknown value 42"),
        (pb.CreateApiKeyRequest(name="   ", role=pb.ROLE_AGENT), "name: required"),
        (pb.CreateApiKeyRequest(name="x" * 201, role=pb.ROLE_AGENT), "name: at most 200 characters"),
    ],
)
async def test_a_key_needs_a_name_and_a_role(access, admin_db, request_, message) -> None:
    before = await admin_db.fetchval("SELECT count(*) FROM access.api_keys")

    err = await rpc_error(access.CreateApiKey(request_))

    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in err.details()
    assert await admin_db.fetchval("SELECT count(*) FROM access.api_keys") == before
