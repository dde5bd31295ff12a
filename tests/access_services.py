"""The access service started in this process through the real bootstrap, against the test
stack's PostgreSQL (role fte_access), trusting a local OIDC provider: the fake Google signing-keys
server (tests/fakes/google_oidc.py) serves its JWKS and mints its tokens under a company issuer.

A pytest plugin, registered once by tests/conftest.py (`pytest_plugins`): one access service per
run, whichever folder asks first (the enforcement step's tests in other folders will too).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator

import pytest
from fte.access.v1 import access_service_pb2_grpc as access_grpc

from devstack import migrate
from devstack.stack import Endpoints
from services.access import server as access_server
from services.access.settings import AccessSettings
from services.common.grpc_client import open_channel
from services.common.grpc_server import running
from tests.fakes.google_oidc import FakeGoogleCerts

OIDC_ISSUER = "https://login.flowboard.example"
OIDC_AUDIENCE = "fte-support-api"


@pytest.fixture(scope="session")
def access_dsn(stack: Endpoints) -> str:
    return migrate.service_dsn(stack.admin_dsn, "access")


@pytest.fixture(scope="session")
def identity_provider() -> Iterator[FakeGoogleCerts]:
    """The company IdP: its JWKS at /oauth2/v3/certs; `mint(OIDC_AUDIENCE, issuer=OIDC_ISSUER,
    claims={"roles": [...]})` makes its tokens. `rotate()` changes its signing key."""
    with FakeGoogleCerts() as idp:
        yield idp


def access_settings(access_dsn: str, identity_provider: FakeGoogleCerts, **overrides) -> AccessSettings:
    values = dict(
        grpc_port=0,
        database_url=access_dsn,
        oidc_issuer=OIDC_ISSUER,
        oidc_audience=OIDC_AUDIENCE,
        oidc_jwks_url=f"{identity_provider.url}/oauth2/v3/certs",
        # Tests rotate keys back to back: a refetch on an unknown key id is always allowed.
        oidc_jwks_refetch_min_interval_s=0,
    )
    return AccessSettings(**(values | overrides))


@pytest.fixture(scope="session")
async def access_address(access_dsn: str, identity_provider: FakeGoogleCerts) -> AsyncIterator[str]:
    settings = access_settings(access_dsn, identity_provider)
    build = functools.partial(access_server.build, settings=settings)
    async with running("access", settings, build) as service:
        yield f"127.0.0.1:{service.port}"


@pytest.fixture(scope="session")
async def access(access_address: str) -> AsyncIterator[access_grpc.AccessServiceStub]:
    async with open_channel(access_address, timeout_s=20) as channel:
        yield access_grpc.AccessServiceStub(channel)
