"""Runs an app's Node browser suite (`npm run test:browser`) against the real stack: its output
kept, its whole process group (npm, node, Chromium) killed if it overruns."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

import pytest


async def run_browser_suite(app_dir: Path, env: dict[str, str], timeout_s: float) -> tuple[int, str]:
    """The suite's exit code and its report (stdout and stderr together)."""
    proc = await asyncio.create_subprocess_exec(
        "npm", "run", "--silent", "test:browser", cwd=app_dir, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # npm, node and Chromium share one group: one kill ends them all
    )
    chunks: list[bytes] = []

    async def drain() -> None:
        while chunk := await proc.stdout.read(65536):
            chunks.append(chunk)

    try:
        await asyncio.wait_for(asyncio.gather(drain(), proc.wait()), timeout_s)
    except asyncio.TimeoutError:
        pytest.fail(f"{app_dir.name} browser suite still running after {timeout_s} s; its output so "
                    "far:\n" + b"".join(chunks).decode(errors="replace"))
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    return proc.returncode, b"".join(chunks).decode(errors="replace")
