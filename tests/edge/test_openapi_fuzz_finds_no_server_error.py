"""Schemathesis generates requests for every operation in the edge's OpenAPI document and
sends them over real HTTP to the edge, served on the test stack's Kafka with the in-process
identity, conversation and access services. However malformed the input, no answer is a 5xx:
once anonymously (the operators' routes answer 401 before looking at anything else), once
with a viewer key, so those routes' own validation is fuzzed too, and once with an agent key,
so the inbox's actions (viewers get 403) are fuzzed past the role check. Every request sent
and the status it got are counted from schemathesis' HAR report (tests/fuzz/report.py)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

import pytest

from tests.fuzz.report import FuzzTally

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.mark.parametrize("role", [None, "viewer", "agent"], ids=["anonymous", "viewer-key", "agent-key"])
async def test_no_generated_request_gets_a_server_error(edge_url, viewer_key, role_keys, tmp_path, role,
                                                       record_property):
    key = {None: None, "viewer": viewer_key, "agent": role_keys["agent"]}[role]
    auth = ["--header", f"Authorization: Bearer {key}"] if key else []
    proc = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS), "run", f"{edge_url}/openapi.json", *auth,
        "--checks", "not_a_server_error",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", "100",
        "--seed", "20261202",  # the same requests every run: a failure can be replayed
        "--workers", "1",
        "--no-color",
        "--report", "har", "--report-har-path", str(tmp_path / "requests.har"),
        env={**os.environ, "NO_PROXY": "127.0.0.1", "SCHEMATHESIS_HOOKS": ""},
        cwd=tmp_path,  # its cache of found crashes stays out of the checkout
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=240)
    report = out.decode()
    tally = FuzzTally(f"edge openapi ({role or 'anonymous'})", group="edge openapi (schemathesis)")
    har = tmp_path / "requests.har"
    for entry in json.loads(har.read_text())["log"]["entries"] if har.exists() else []:
        tally.add(f"HTTP {entry['response']['status']}")
    tally.report(record_property)
    assert proc.returncode == 0, report[-6000:]
    # Not vacuous: every operation was exercised.
    tested = re.search(r"(\d+) passed", report)
    assert tested and int(tested.group(1)) >= 8, report[-3000:]
