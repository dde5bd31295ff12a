"""The access service started in this process through the real bootstrap, against the test
stack's PostgreSQL (role fte_access), trusting a local OIDC provider: the fake Google signing-keys
server (tests/fakes/google_oidc.py) serves its JWKS and mints its tokens under a company issuer.

A pytest plugin, registered once by tests/conftest.py (`pytest_plugins`): one access service per
run, whichever folder asks first: every other in-process service asks it who its callers are.
Keys come from `create_key` (the store, as the keys CLI makes them): `service_keys` for the
services' own SERVICE_KEY, `admin_key` for tests' stubs, `role_keys` for tests of roles.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator

import pytest
from fte.access.v1 import access_service_pb2_grpc as access_grpc

from devstack import migrate
from devstack.stack import Endpoints
from services.access import api_keys
from services.access import server as access_server
from services.access.settings import AccessSettings
from services.access.store import AccessStore
from services.common.db import open_pool
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
async def access(access_address: str, admin_key: str) -> AsyncIterator[access_grpc.AccessServiceStub]:
    async with open_channel(access_address, timeout_s=20, credential=admin_key) as channel:
        yield access_grpc.AccessServiceStub(channel)


# Every service identity the contracts' method rules name.
SERVICE_IDENTITIES = ("edge", "inbound", "dispatcher", "agent", "knowledge", "identity", "conversation",
                      "notifier")


async def create_key(access_dsn: str, role: str, name: str) -> str:
    """A new API key made through the code CreateApiKey and the keys CLI use (the first admin
    key has to come from somewhere); returns the whole credential."""
    pool = await open_pool(access_dsn, min_size=1, max_size=1)
    try:
        return (await api_keys.create(AccessStore(pool), name, role))[1]
    finally:
        await pool.close()


@pytest.fixture(scope="session")
async def service_keys(access_dsn: str) -> dict[str, str]:
    """One key per service identity: what `make run` hands each process as SERVICE_KEY."""
    return {name: await create_key(access_dsn, "service", name) for name in SERVICE_IDENTITIES}


@pytest.fixture(scope="session")
def service_auth(access_address: str, service_keys: dict[str, str]):
    """What a service started in a test needs to check its callers and to call others:
    `Settings(..., **service_auth("identity"))`."""
    return lambda name: {"access_addr": access_address, "service_key": service_keys[name]}


@pytest.fixture(scope="session")
async def admin_key(access_dsn: str) -> str:
    """The key tests call the services with when who calls is not what they test."""
    return await create_key(access_dsn, "admin", "tests (admin)")


@pytest.fixture(scope="session")
async def role_keys(access_dsn: str, admin_key: str) -> dict[str, str]:
    """A key per human role, for tests of who may do what."""
    keys = {role: await create_key(access_dsn, role, f"tests ({role})") for role in ("viewer", "agent")}
    return {**keys, "admin": admin_key}
