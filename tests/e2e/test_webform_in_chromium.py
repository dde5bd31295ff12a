"""The web form in Debian's Chromium (playwright-core) against the real running pipeline:
fill and submit and see the agent's reply; an invalid email shows its field error; embedded in
a host page with hostile CSS it still submits. Screenshots go to artifacts/webform/."""

from __future__ import annotations

import asyncio
import os
import shutil

from devstack import REPO_ROOT
from tests.e2e.conftest import HOST_PAGE_PORT


async def test_webform_browser_suite_passes_against_the_real_stack(pipeline):
    dist = REPO_ROOT / "webform" / "dist" / "embed.js"
    assert dist.exists(), "build the form first: make webform (make test does)"
    shots = REPO_ROOT / "artifacts" / "webform"
    shutil.rmtree(shots, ignore_errors=True)  # only this run's screenshots count
    proc = await asyncio.create_subprocess_exec(
        "npm", "run", "--silent", "test:browser",
        cwd=REPO_ROOT / "webform",
        env={**os.environ, "EDGE_URL": pipeline.edge_url, "HOST_PAGE_PORT": str(HOST_PAGE_PORT),
             "WEBFORM_ARTIFACTS_DIR": str(shots)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=600)
    report = out.decode(errors="replace")
    assert proc.returncode == 0, report
    assert "# fail 0" in report and "# pass 0" not in report, report
    for shot in ("form-desktop.png", "error-320.png", "ticket-answered-desktop.png"):
        assert (shots / shot).exists(), shot
