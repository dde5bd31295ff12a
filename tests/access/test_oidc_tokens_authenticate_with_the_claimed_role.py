"""A bearer JWT from the company's identity provider (a local JWKS server) authenticates with
the highest role in its role claim; a token with the wrong issuer, audience, lifetime, key or
algorithm does not."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time

import grpc
import pytest
from fte.access.v1 import access_service_pb2 as pb
from fte.access.v1 import access_service_pb2_grpc as access_grpc

from services.access import server as access_server
from services.common.grpc_client import open_channel
from services.common.grpc_server import running
from tests.access_services import OIDC_AUDIENCE, OIDC_ISSUER, access_settings
from tests.fakes.google_oidc import FakeGoogleCerts, SigningKey
from tests.fakes.http import Reply
from tests.running_services import rpc_error


def _token(idp: FakeGoogleCerts, roles=("agent",), **options) -> str:
    claims = {"roles": list(roles) if isinstance(roles, tuple) else roles,
              "sub": "00u1ada", "email": "ada@flowboard.example"} | options.pop("claims", {})
    return idp.mint(options.pop("audience", OIDC_AUDIENCE), issuer=options.pop("issuer", OIDC_ISSUER),
                    claims=claims, **options)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unsigned(idp: FakeGoogleCerts, alg: str, secret: bytes = b"") -> str:
    """A token with valid claims but a header of the attacker's choosing: `none` with no
    signature, or HMAC keyed with something public (the classic algorithm confusion)."""
    header = _b64(json.dumps({"alg": alg, "typ": "JWT", "kid": idp.key.kid}).encode())
    now = int(time.time())
    payload = _b64(json.dumps({"iss": OIDC_ISSUER, "aud": OIDC_AUDIENCE, "sub": "00u1mallory",
                               "roles": ["admin"], "iat": now, "exp": now + 600}).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = _b64(hmac.new(secret, signing_input, hashlib.sha256).digest()) if secret else ""
    return f"{header}.{payload}.{signature}"


async def _principal(access, credential: str) -> pb.Principal:
    return (await access.Authenticate(pb.AuthenticateRequest(credential=credential))).principal


@pytest.mark.parametrize(
    ("roles", "role"),
    [
        (("viewer",), pb.ROLE_VIEWER),
        (("agent",), pb.ROLE_AGENT),
        (("viewer", "admin", "agent"), pb.ROLE_ADMIN),
        ("agent", pb.ROLE_AGENT),  # a single string instead of a list
        (("Admin", "unknown-group"), pb.ROLE_ADMIN),
    ],
)
async def test_a_valid_token_authenticates_with_the_highest_role_it_claims(
        access, identity_provider, roles, role) -> None:
    principal = await _principal(access, _token(identity_provider, roles))

    assert principal.role == role
    assert principal.kind == pb.CREDENTIAL_KIND_OIDC
    assert principal.subject == "oidc:00u1ada"
    assert principal.display_name == "ada@flowboard.example"
    assert principal.key_id == ""


async def test_a_bearer_header_value_is_accepted(access, identity_provider) -> None:
    principal = await _principal(access, f"Bearer {_token(identity_provider)}")

    assert principal.role == pb.ROLE_AGENT


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        pytest.param(lambda idp: _token(idp, audience="some-other-app"),
                     "Invalid claim: 'aud'", id="wrong audience"),
        pytest.param(lambda idp: _token(idp, issuer="https://evil.example"),
                     "Invalid claim: 'iss'", id="wrong issuer"),
        pytest.param(lambda idp: _token(idp, issued_ago_s=7200, lifetime_s=3600), 'expired', id="expired"),
        pytest.param(lambda idp: _token(idp, claims={"exp": None}), "Missing claim: 'exp'", id="no expiry"),
        pytest.param(lambda idp: _token(idp, claims={"nbf": int(time.time()) + 3600}),
                     'not yet valid', id="not yet valid"),
        pytest.param(lambda idp: _token(idp, claims={"sub": None}), "Missing claim: 'sub'", id="no subject"),
        pytest.param(lambda idp: _token(idp, key=SigningKey.generate()),
                     'a key the identity provider does not publish', id="signed by an unknown key"),
        pytest.param(lambda idp: _token(idp, key=SigningKey.generate(), kid=idp.key.kid),
                     "signature does not verify", id="forged under the provider's key id"),
        pytest.param(lambda idp: _unsigned(idp, "none"), "algorithm 'none' is not accepted", id="alg none"),
        pytest.param(lambda idp: _unsigned(idp, "HS256", json.dumps(idp.key.jwk()).encode()),
                     "algorithm 'HS256' is not accepted", id="HS256 keyed with the public key"),
        pytest.param(lambda idp: _token(idp)[:-10] + "AAAAAAAAAA",
                     'signature does not verify', id="tampered signature"),
        pytest.param(lambda idp: "eyJhbGciOi.not.a-jwt", 'not a well-formed JWT', id="garbage"),
    ],
)
async def test_a_token_that_is_not_valid_is_unauthenticated(access, identity_provider, token, reason) -> None:
    err = await rpc_error(access.Authenticate(pb.AuthenticateRequest(credential=token(identity_provider))))

    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert err.details().startswith("token:")
    assert reason in err.details()


async def test_a_valid_token_without_a_known_role_is_permission_denied(access, identity_provider) -> None:
    err = await rpc_error(access.Authenticate(
        pb.AuthenticateRequest(credential=_token(identity_provider, ("finance", "everyone")))))

    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "claim 'roles' holds none of the roles viewer, agent, admin" in err.details()


async def test_a_rotated_provider_key_is_fetched_once_and_accepted(access, identity_provider) -> None:
    await _principal(access, _token(identity_provider))  # the current key set is cached
    fetches = len(identity_provider.received("GET", "/oauth2/v3/certs"))

    identity_provider.rotate()
    principal = await _principal(access, _token(identity_provider))
    again = await _principal(access, _token(identity_provider))

    assert principal.role == again.role == pb.ROLE_AGENT
    assert len(identity_provider.received("GET", "/oauth2/v3/certs")) == fetches + 1


async def test_the_role_claim_is_configurable_and_oidc_can_be_off(
        access_dsn, identity_provider, admin_key) -> None:
    token = _token(identity_provider, (), claims={"groups": ["viewer"]})
    groups = access_settings(access_dsn, identity_provider, oidc_role_claim="groups")
    off = access_settings(access_dsn, identity_provider, oidc_issuer="")

    async with (running("access", groups, functools.partial(access_server.build, settings=groups)) as a,
                running("access", off, functools.partial(access_server.build, settings=off)) as b,
                open_channel(f"127.0.0.1:{a.port}", credential=admin_key) as with_groups,
                open_channel(f"127.0.0.1:{b.port}", credential=admin_key) as without_oidc):
        principal = await _principal(access_grpc.AccessServiceStub(with_groups), token)
        err = await rpc_error(access_grpc.AccessServiceStub(without_oidc).Authenticate(
            pb.AuthenticateRequest(credential=token)))

    assert principal.role == pb.ROLE_VIEWER
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "OIDC tokens are not accepted here" in err.details()


async def test_an_unreachable_provider_is_unavailable_not_unauthenticated(
        access_dsn, identity_provider, admin_key) -> None:
    broken = access_settings(access_dsn, identity_provider,
                             oidc_jwks_url=f"{identity_provider.url}/no-such-jwks")

    async with (running("access", broken, functools.partial(access_server.build, settings=broken)) as s,
                open_channel(f"127.0.0.1:{s.port}", credential=admin_key) as channel):
        err = await rpc_error(access_grpc.AccessServiceStub(channel).Authenticate(
            pb.AuthenticateRequest(credential=_token(identity_provider))))

    assert err.code() == grpc.StatusCode.UNAVAILABLE
    assert "signing keys cannot be fetched" in err.details()


async def test_keys_fetched_before_stay_in_use_while_the_provider_is_down(
        access_dsn, identity_provider, admin_key) -> None:
    always_stale = access_settings(access_dsn, identity_provider, oidc_jwks_cache_s=0)

    async with (running("access", always_stale,
                        functools.partial(access_server.build, settings=always_stale)) as s,
                open_channel(f"127.0.0.1:{s.port}", credential=admin_key) as channel):
        stub = access_grpc.AccessServiceStub(channel)
        await _principal(stub, _token(identity_provider))
        fetches = len(identity_provider.received("GET", "/oauth2/v3/certs"))
        identity_provider.fail("GET", "/oauth2/v3/certs", Reply(503, b"down"), times=100)
        try:
            principal = await _principal(stub, _token(identity_provider))
            tried = len(identity_provider.received("GET", "/oauth2/v3/certs")) - fetches
        finally:
            identity_provider.recover()

    assert principal.role == pb.ROLE_AGENT
    assert tried == 1  # it did try to refresh the stale keys
