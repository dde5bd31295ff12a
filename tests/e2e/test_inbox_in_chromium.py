"""The operator inbox in Debian's Chromium (playwright-core) against the real running pipeline:
a web-form customer's pricing question is escalated by the agent; an operator with an agent key
signs in, finds it in the queue, claims, replies (the customer's ticket page shows it) and
resolves, at 1280 px and at 375 px with the keyboard only; another signs in with the company
account (the local identity provider's redirect, code + PKCE) and claims as that person.
Screenshots go to artifacts/inbox/."""

from __future__ import annotations

import shutil

import pytest
from fte.access.v1 import access_service_pb2 as access_pb
from fte.access.v1 import access_service_pb2_grpc as access_grpc

from devstack import REPO_ROOT
from tests.e2e.browser_suite import run_browser_suite
from services.common.grpc_client import open_channel

ESCALATION_TIMEOUT_S = 120  # one agent answer (the escalation) on a shared CPU
TEST_TIMEOUT_S = ESCALATION_TIMEOUT_S + 90
SUITE_TIMEOUT_S = 4 * TEST_TIMEOUT_S + 30
STACK_BOOT_S = 240


@pytest.mark.timeout(STACK_BOOT_S + SUITE_TIMEOUT_S + 30)
async def test_inbox_browser_suite_passes_against_the_real_stack(pipeline, admin_key, channel_fakes):
    assert (REPO_ROOT / "inbox" / "dist" / "index.html").exists(), "build the inbox first: make inbox (make test does)"
    async with open_channel(pipeline.address("access"), 20, credential=admin_key) as channel:
        agent_key = (await access_grpc.AccessServiceStub(channel).CreateApiKey(
            access_pb.CreateApiKeyRequest(name="e2e inbox operator", role=access_pb.ROLE_AGENT))).secret
    shots = REPO_ROOT / "artifacts" / "inbox"
    oidc = channel_fakes.oidc
    shutil.rmtree(shots, ignore_errors=True)  # only this run's screenshots count
    returncode, report = await run_browser_suite(
        REPO_ROOT / "inbox",
        {"EDGE_URL": pipeline.edge_url, "INBOX_AGENT_KEY": agent_key,
         "INBOX_ARTIFACTS_DIR": str(shots), "ESCALATION_TIMEOUT_MS": str(ESCALATION_TIMEOUT_S * 1000),
         "TEST_TIMEOUT_MS": str(TEST_TIMEOUT_S * 1000),
             # The company sign-in case: the person the e2e identity provider signs in.
         "INBOX_OIDC_EMAIL": oidc.user.email, "INBOX_OIDC_SUBJECT": f"oidc:{oidc.user.sub}"},
        SUITE_TIMEOUT_S,
    )
    assert returncode == 0, report
    assert "# fail 0" in report and "# pass 0" not in report and "\n# skipped 0\n" in report, report
    for shot in ("signin-375.png", "queue-desktop.png", "escalation-desktop.png", "replied-desktop.png",
                 "resolved-desktop.png", "queue-375.png", "escalation-375.png", "replied-375.png", "resolved-375.png",
                 "oidc-queue-desktop.png", "oidc-claimed-desktop.png"):
        assert (shots / shot).exists(), shot
    # The company sign-in went through the provider: a code was issued and traded with its verifier.
    assert oidc.received("GET", "^/authorize$") and oidc.received("POST", "^/token$")
