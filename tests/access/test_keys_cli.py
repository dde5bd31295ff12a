"""`python -m services.access.keys_cli` makes, lists and revokes keys in the access schema
directly (role fte_access); the key it prints once authenticates over gRPC."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid

import grpc
from fte.access.v1 import access_service_pb2 as pb

from devstack import REPO_ROOT
from tests.running_services import rpc_error


async def _cli(dsn: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "DATABASE_URL": dsn,
           "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{REPO_ROOT / 'gen' / 'python'}"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.access.keys_cli", *args, cwd=REPO_ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode, out.decode(), err.decode()


async def test_a_key_made_by_the_cli_authenticates_and_is_shown_once(access, access_dsn) -> None:
    code, out, err = await _cli(access_dsn, "create", "--role", "agent", "--name", "ops laptop")

    assert code == 0, err
    secret = out.strip()
    assert secret.startswith("fte_") and "\n" not in secret
    assert "cannot be shown again" in err
    principal = (await access.Authenticate(pb.AuthenticateRequest(credential=secret))).principal
    assert (principal.role, principal.display_name) == (pb.ROLE_AGENT, "ops laptop")
    code, listing, _ = await _cli(access_dsn, "list")
    assert code == 0
    assert principal.key_id in listing and "ops laptop" in listing
    assert secret.split("_", 2)[2] not in listing


async def test_a_key_revoked_by_the_cli_no_longer_authenticates(access, access_dsn) -> None:
    _, out, _ = await _cli(access_dsn, "create", "--role", "viewer", "--name", "temp")
    secret = out.strip()
    key_id = secret.split("_")[1]

    code, said, _ = await _cli(access_dsn, "revoke", key_id)
    again, said_again, _ = await _cli(access_dsn, "revoke", key_id)

    assert (code, again) == (0, 0)
    assert "is now revoked" in said and "was already revoked" in said_again
    err = await rpc_error(access.Authenticate(pb.AuthenticateRequest(credential=secret)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_the_cli_refuses_bad_input_with_a_clear_message(access_dsn, admin_db) -> None:
    before = await admin_db.fetchval("SELECT count(*) FROM access.api_keys")

    bad_role = await _cli(access_dsn, "create", "--role", "root", "--name", "ops laptop")
    no_name = await _cli(access_dsn, "create", "--role", "agent", "--name", "  ")
    unknown = await _cli(access_dsn, "revoke", "0123456789abcdef")
    malformed = await _cli(access_dsn, "revoke", "nope")
    no_db = await _cli("", "list")

    assert bad_role[0] == 1 and "role: 'root' is not one of viewer, agent, admin, service" in bad_role[2]
    assert no_name[0] == 1 and "name: required" in no_name[2]
    assert unknown[0] == 1 and "no API key 0123456789abcdef" in unknown[2]
    assert malformed[0] == 1 and "is not a key id" in malformed[2]
    assert no_db[0] == 1 and "DATABASE_URL is not set" in no_db[2]
    assert all(out == "" for _, out, _ in (bad_role, no_name, unknown, malformed))
    assert "Traceback" not in "".join(e for *_, e in (bad_role, no_name, unknown, malformed, no_db))
    assert await admin_db.fetchval("SELECT count(*) FROM access.api_keys") == before


async def test_create_with_replace_revokes_the_earlier_keys_of_that_name_only(access, access_dsn) -> None:
    name = f"make run (local) {uuid.uuid4().hex[:8]}"
    _, first, _ = await _cli(access_dsn, "create", "--role", "admin", "--name", name)
    _, other, _ = await _cli(access_dsn, "create", "--role", "admin", "--name", name + " other")

    code, second, err = await _cli(access_dsn, "create", "--role", "admin", "--name", name, "--replace")

    assert code == 0, err
    assert first.strip().split("_")[1] in err and "replaced" in err
    e = await rpc_error(access.Authenticate(pb.AuthenticateRequest(credential=first.strip())))
    assert e.code() == grpc.StatusCode.UNAUTHENTICATED
    for kept in (second, other):
        principal = (await access.Authenticate(pb.AuthenticateRequest(credential=kept.strip()))).principal
        assert principal.role == pb.ROLE_ADMIN
