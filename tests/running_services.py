"""Identity and conversation started in this process through the real bootstrap, on port 0,
against the test stack's PostgreSQL with each service's own role; stubs over real gRPC.

A pytest plugin, registered once by tests/conftest.py (`pytest_plugins`), so every folder
shares one pair of services; test modules import only its helpers. The conversation service
reads time from `clock`, which follows real time until a test pins it, so the 24 h window is
tested without sleeping. `clock` and the autouse reset need nothing else: they cost a test
that never touches the services nothing.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import shutil
import signal
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import grpc
import pytest
from fte.conversation.v1 import conversation_service_pb2_grpc as conv_grpc
from fte.identity.v1 import identity_service_pb2_grpc as id_grpc

from devstack import REPO_ROOT, migrate
from devstack.stack import Endpoints
from services.common.grpc_client import CallDefaults, open_channel
from services.common.grpc_server import running
from services.conversation import server as conversation_server
from services.identity import server as identity_server
from tests.ports import free_port


class Clock:
    """Real time unless pinned; pinned time moves only when a test moves it."""

    def __init__(self) -> None:
        self._pinned: datetime | None = None

    def __call__(self) -> datetime:
        return self._pinned or datetime.now(UTC)

    def pin(self, at: datetime) -> datetime:
        self._pinned = at
        return at

    def advance(self, **delta: float) -> datetime:
        return self.pin(self() + timedelta(**delta))

    def release(self) -> None:
        self._pinned = None


@pytest.fixture(scope="session")
def clock() -> Clock:
    return Clock()


@pytest.fixture(autouse=True)
def _real_time_between_tests(clock: Clock):
    yield
    clock.release()


# Identity's address, known once `conversation_address` has started both services (each needs
# the other's address, so one fixture starts the pair).
_identity_addr: list[str] = []


@pytest.fixture(scope="session")
async def conversation_address(stack: Endpoints, clock: Clock, access_address: str,
                               service_keys: dict[str, str]) -> AsyncIterator[str]:
    """Starts conversation and identity, each knowing the other's address: conversation asks
    identity for a customer's addresses (Escalate), identity asks conversation for
    conversations (GetCustomer, merges), so identity's port is chosen before either starts.
    Both ask the access service (`access_address`) who calls them, with their own service keys."""
    identity_port = free_port()
    conversation_settings = conversation_server.ConversationSettings(
        grpc_port=0,
        database_url=migrate.service_dsn(stack.admin_dsn, "conversation"),
        identity_addr=f"127.0.0.1:{identity_port}",
        access_addr=access_address,
        service_key=service_keys["conversation"],
        # HandoffService.ReplyToCustomer publishes people's replies to the outbound topics.
        kafka_bootstrap_servers=stack.bootstrap_servers,
    )
    build = functools.partial(conversation_server.build, settings=conversation_settings, clock=clock)
    async with running("conversation", conversation_settings, build) as conversation_service:
        conversation_addr = f"127.0.0.1:{conversation_service.port}"
        identity_settings = identity_server.IdentitySettings(
            grpc_port=identity_port,
            database_url=migrate.service_dsn(stack.admin_dsn, "identity"),
            conversation_addr=conversation_addr,
            access_addr=access_address,
            service_key=service_keys["identity"],
            default_phone_region="US",
        )
        build = functools.partial(identity_server.build, settings=identity_settings)
        async with running("identity", identity_settings, build):
            _identity_addr[:] = [f"127.0.0.1:{identity_port}"]
            yield conversation_addr
            _identity_addr.clear()


@pytest.fixture(scope="session")
def identity_address(conversation_address: str) -> str:
    return _identity_addr[0]


@pytest.fixture(scope="session")
async def conversation(conversation_address: str, admin_key: str) -> AsyncIterator[conv_grpc.ConversationServiceStub]:
    async with open_channel(conversation_address, timeout_s=20, credential=admin_key) as channel:
        yield conv_grpc.ConversationServiceStub(channel)


@pytest.fixture(scope="session")
async def identity(identity_address: str, admin_key: str) -> AsyncIterator[id_grpc.IdentityServiceStub]:
    async with open_channel(identity_address, timeout_s=20, credential=admin_key) as channel:
        yield id_grpc.IdentityServiceStub(channel)


@pytest.fixture
async def admin_db(stack: Endpoints) -> AsyncIterator[asyncpg.Connection]:
    """For asserting what was stored (rows, counts) — never for setting up state."""
    conn = await asyncpg.connect(stack.admin_dsn)
    yield conn
    await conn.close()


def plain_channel(address: str, credential: str) -> grpc.aio.Channel:
    """A channel without client retries (each call shows the server's own answer) that still
    carries a credential."""
    return grpc.aio.insecure_channel(address, interceptors=[CallDefaults(30, credential)])


def new_id() -> str:
    return str(uuid.uuid4())


def unique_email(tag: str = "c") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


async def rpc_error(call) -> grpc.aio.AioRpcError:
    """Awaits a call that must fail and returns its error (code and details)."""
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return err
    raise AssertionError("the call succeeded but an error status was expected")


def unique_us_phone() -> tuple[str, str]:
    """A fresh US number as (national format, E.164), in area code 415."""
    digits = f"{uuid.uuid4().int % 10**7:07d}"
    national = f"(415) {digits[:3]}-{digits[3:]}"
    return national, f"+1415{digits}"


def _fresh_addresses(script: str) -> str:
    """The README's example people, numbers and keys made unique to this run, in every
    spelling the README uses, so other tests sharing the database cannot collide with them."""
    tag = uuid.uuid4().hex[:8]
    n = uuid.uuid4().int
    area, middle, last = 200 + n % 800, (n // 1000) % 1000, (n // 10**6) % 10**4
    script = re.sub(r"(?i)\b(ada|grace)@example\.com",
                    lambda m: f"{m.group(1)}-{tag}@example.com", script)
    script = re.sub(r"202([-. )]*)555([-. ]*)0142",
                    lambda m: f"{area}{m.group(1)}{middle:03d}{m.group(2)}{last:04d}", script)
    return re.sub(r"readme-([\w-]+)", lambda m: f"readme-{tag}-{m.group(1)}", script)


async def run_readme_examples(readme: Path, identity_address: str, conversation_address: str,
                              api_key: str, skip_blocks_with: str | None = None) -> str:
    """Runs the README's grpcurl shell blocks as a reader would paste them, pointed at the
    in-process services instead of `make run`'s ports (blocks containing `skip_blocks_with`,
    e.g. another service's address, are left out), with `api_key` as the reader's FTE_API_KEY.
    Returns the combined output."""
    blocks = re.findall(r"```sh\n(.*?)```", readme.read_text(), re.S)
    script = _fresh_addresses("\n".join(
        b for b in blocks if "grpcurl" in b and not (skip_blocks_with and skip_blocks_with in b)))
    script = script.replace("127.0.0.1:50051", identity_address)
    script = script.replace("127.0.0.1:50052", conversation_address)
    return await run_grpcurl_script(script, api_key)


GRPCURL = REPO_ROOT / ".cache" / "bin" / "grpcurl"  # what `make deps` builds (a static Go binary)


@dataclass(frozen=True)
class GrpcurlRun:
    code: int  # the exit code; negative: the signal that killed it
    output: str  # stdout and stderr together

    def __str__(self) -> str:
        ended = f"killed by {signal.Signals(-self.code).name}" if self.code < 0 else f"exit {self.code}"
        return f"grpcurl {ended}: {self.output or '(no output)'}"


async def grpcurl(*args: str, timeout_s: float = 30) -> GrpcurlRun:
    """The project's grpcurl with `args`, as a caller types it."""
    if not GRPCURL.exists():
        pytest.fail("grpcurl is not installed: run `make deps` (it builds grpcurl)")
    proc = await asyncio.create_subprocess_exec(
        str(GRPCURL), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=timeout_s)
    return GrpcurlRun(proc.returncode, out.decode())


async def run_grpcurl_script(script: str, api_key: str) -> str:
    """Runs a README's grpcurl commands in bash (-euo pipefail) with the project's grpcurl and
    jq on the PATH and FTE_API_KEY set (what `make run` prints), as a reader would paste them;
    asserts it succeeds and returns its output."""
    path = f"{REPO_ROOT / '.cache' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    for tool in ("grpcurl", "jq"):
        if shutil.which(tool, path=path) is None:
            pytest.fail(f"{tool} is not installed: run `make deps` (it installs grpcurl and jq)")
    proc = await asyncio.create_subprocess_exec(
        "bash", "-euo", "pipefail", "-c", script, env={**os.environ, "PATH": path, "FTE_API_KEY": api_key},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    output = out.decode()
    assert proc.returncode == 0, f"README examples failed:\n{output}"
    return output
