"""HTTP_ACCESS_LOG: what `python -m services.edge` writes to its log for each answered request.
`errors` (the default) keeps the lines of 4xx and 5xx answers only, `all` every request, `off`
none. No line carries the query string (it can hold an address). The edge is the real process on
a real Kafka; its stdout is read after SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal

import httpx
import pytest

from devstack import REPO_ROOT
from tests.edge.conftest import edge_process_env, valid_form
from tests.polling import until
from tests.ports import free_port


async def access_log_lines(stack, identity_address, conversation_address, setting: str | None) -> list[str]:
    """The access-log messages of one accepted and one malformed POST /support/submit, and of
    one customer lookup by email without a credential (401)."""
    port = free_port()
    env = edge_process_env(port, stack.bootstrap_servers, identity_address, conversation_address,
                           LOG_LEVEL="INFO", **({"HTTP_ACCESS_LOG": setting} if setting is not None else {}))
    proc = await asyncio.create_subprocess_exec(
        str(REPO_ROOT / ".venv/bin/python"), "-m", "services.edge", cwd=REPO_ROOT, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            async def serving():
                with contextlib.suppress(httpx.HTTPError):
                    return (await http.get("/metrics")).status_code == 200
            await until(serving, "the edge serving", timeout=60)
            accepted = await http.post("/support/submit", json=valid_form(email="access-log@example.com"))
            assert accepted.status_code == 202, accepted.text
            malformed = await http.post("/support/submit", content=b'{"name": ',
                                        headers={"content-type": "application/json"})
            assert malformed.status_code == 422, malformed.text
            lookup = await http.get("/customers/lookup", params={"email": "hidden-from-logs@example.com"})
            assert lookup.status_code == 401, lookup.text
        os.kill(proc.pid, signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
    lines = []
    for raw in out.decode(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(raw)
            if entry.get("logger") == "services.edge.access":
                lines.append(entry["message"])
    return lines


@pytest.mark.parametrize(("setting", "statuses"), [
    (None, ["422"]),  # the default: errors
    ("errors", ["422"]),
    ("all", ["202", "422"]),
    ("off", []),
])
async def test_the_access_log_keeps_what_the_setting_says(
        stack, identity_address, conversation_address, setting, statuses):
    lines = await access_log_lines(stack, identity_address, conversation_address, setting)
    submits = [line for line in lines if "/support/submit" in line]
    assert [line.rsplit(" ", 1)[-1] for line in submits] == statuses, lines
    assert all('"POST /support/submit HTTP/1.1"' in line for line in submits), lines
    lookups = [line for line in lines if "/customers/lookup" in line]
    assert [line.split(" - ", 1)[1] for line in lookups] == (
        [] if setting == "off" else ['"GET /customers/lookup HTTP/1.1" 401']), lines
    assert not any("hidden-from-logs" in line or "?" in line for line in lines), lines


def test_a_setting_that_is_not_one_of_the_three_is_refused():
    from pydantic import ValidationError

    from services.edge.settings import EdgeSettings

    with pytest.raises(ValidationError, match="http_access_log"):
        EdgeSettings(http_access_log="some")


@pytest.mark.parametrize("failing", ["raises", "returns without answering"])
async def test_a_request_the_app_never_answered_is_logged_as_the_500_uvicorn_sends(caplog, failing):
    from services.edge.__main__ import ACCESS_LOG, AccessLog

    async def app(scope, receive, send):
        if failing == "raises":
            raise RuntimeError("boom")

    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/support/submit", "query_string": b"email=a%40b.c",
             "http_version": "1.1", "client": ("127.0.0.1", 50000)}
    with caplog.at_level("INFO", logger=ACCESS_LOG.name):
        if failing == "raises":
            with pytest.raises(RuntimeError):
                await AccessLog(app, failed_only=True)(scope, None, send)
        else:
            await AccessLog(app, failed_only=True)(scope, None, send)
    assert [r.getMessage() for r in caplog.records if r.name == ACCESS_LOG.name] == [
        '127.0.0.1:50000 - "POST /support/submit HTTP/1.1" 500']
    assert sent == []
