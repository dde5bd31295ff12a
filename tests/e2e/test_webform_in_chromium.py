"""The web form in Debian's Chromium (playwright-core) against the real running pipeline:
fill and submit and see the agent's reply; an invalid email shows its field error; embedded in
a host page with hostile CSS it still submits. Screenshots go to artifacts/webform/."""

from __future__ import annotations

import shutil

import pytest

from devstack import REPO_ROOT
from tests.e2e.browser_suite import run_browser_suite
from tests.e2e.conftest import HOST_PAGE_PORT

# One budget, nested from the inside out, so the innermost wait that runs out is the one that
# fails and names what it waited for — never pytest-timeout killing a healthy, slow run.
REPLY_TIMEOUT_S = 120  # one agent reply on a shared CPU (the browser tests' REPLY_TIMEOUT_MS)
TEST_TIMEOUT_S = REPLY_TIMEOUT_S + 90  # one node:test case: at most one reply, plus its 15 s steps
SUITE_TIMEOUT_S = 660  # every case in turn, then this test gives up on the subprocess
STACK_BOOT_S = 240  # PostgreSQL, Kafka and the pipeline, when this is the first test to need them
assert REPLY_TIMEOUT_S < TEST_TIMEOUT_S < SUITE_TIMEOUT_S


@pytest.mark.timeout(STACK_BOOT_S + SUITE_TIMEOUT_S + 30)
async def test_webform_browser_suite_passes_against_the_real_stack(pipeline):
    dist = REPO_ROOT / "webform" / "dist" / "embed.js"
    assert dist.exists(), "build the form first: make webform (make test does)"
    shots = REPO_ROOT / "artifacts" / "webform"
    shutil.rmtree(shots, ignore_errors=True)  # only this run's screenshots count
    returncode, report = await run_browser_suite(
        REPO_ROOT / "webform",
        {"EDGE_URL": pipeline.edge_url, "HOST_PAGE_PORT": str(HOST_PAGE_PORT),
         "WEBFORM_ARTIFACTS_DIR": str(shots),
         "REPLY_TIMEOUT_MS": str(REPLY_TIMEOUT_S * 1000), "TEST_TIMEOUT_MS": str(TEST_TIMEOUT_S * 1000)},
        SUITE_TIMEOUT_S,
    )
    assert returncode == 0, report
    assert "# fail 0" in report and "# pass 0" not in report, report
    for shot in ("form-desktop.png", "error-320.png", "error-server-longest-320.png", "ticket-answered-desktop.png",
                 "ticket-escalated-desktop.png", "demo-submitted.png"):
        assert (shots / shot).exists(), shot
