"""`python -m services.edge` with EDGE_WORKERS=2: two processes serve the one port, each with its
own Kafka producer; /metrics answers for both whichever of them Prometheus reaches; SIGTERM to the
edge stops both. Which process takes a connection is the kernel's choice, so the test makes it:
while one worker is frozen (SIGSTOP) only the other can accept."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid
from pathlib import Path

import httpx

from devstack import REPO_ROOT
from tests.edge.conftest import edge_process_env, valid_form
from tests.observability.scrape import parse
from tests.polling import until
from tests.ports import free_port


def worker_pids(supervisor: int) -> list[int]:
    """The supervisor's children that serve: uvicorn spawns them through multiprocessing."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return sorted(int(pid) for pid in children
                  if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes())


def environ(pid: int) -> dict[str, str]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")
    return dict(p.split("=", 1) for p in pairs if "=" in p)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def submit_on_fresh_connections(url: str, tag: str, n: int) -> None:
    for i in range(n):
        # A client per request: a new connection, which only a worker in accept() can take.
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            reply = await http.post("/support/submit", json=valid_form(email=f"workers-{tag}-{i}@example.com"))
        assert reply.status_code == 202, reply.text


async def scrape_fresh(url: str):
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        reply = await http.get("/metrics")
    reply.raise_for_status()
    return parse(reply.text)


async def test_two_workers_serve_one_port_share_metrics_and_stop_on_sigterm(
        stack, identity_address, conversation_address):
    port = free_port()
    env = edge_process_env(port, stack.bootstrap_servers, identity_address, conversation_address,
                           EDGE_WORKERS="2")
    proc = await asyncio.create_subprocess_exec(
        str(REPO_ROOT / ".venv/bin/python"), "-m", "services.edge", cwd=REPO_ROOT, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    tag = uuid.uuid4().hex[:8]
    try:
        workers = await until(lambda: (lambda w: w if len(w) == 2 else None)(worker_pids(proc.pid)),
                              "two edge workers", timeout=60)
        # One multiprocess folder, the same for both (the edge made it: the test set none).
        [metrics_dir] = {environ(w).get("PROMETHEUS_MULTIPROC_DIR") for w in workers}
        assert metrics_dir and Path(metrics_dir).is_dir()

        async def both_ready():
            with contextlib.suppress(httpx.HTTPError):
                async with httpx.AsyncClient(base_url=url, timeout=5) as http:
                    return (await http.get("/ready")).status_code == 200
        await until(both_ready, "the edge ready", timeout=60)

        # Each worker alone serves 3 submissions while the other is frozen.
        for serving, frozen in ((workers[0], workers[1]), (workers[1], workers[0])):
            os.kill(frozen, signal.SIGSTOP)
            try:
                await submit_on_fresh_connections(url, f"{tag}-{serving}", 3)
                scraped = await scrape_fresh(url)  # answered by `serving`, the only one accepting
            finally:
                os.kill(frozen, signal.SIGCONT)
        # The last scrape came from the second worker and counts the first one's submissions too.
        assert scraped.value("fte_edge_submissions_total", outcome="accepted") == 6
        assert scraped.value("http_requests_total", handler="/support/submit", method="POST", status="2xx") == 6
        # And any worker answers the same sums.
        for _ in range(4):
            again = await scrape_fresh(url)
            assert again.value("fte_edge_submissions_total", outcome="accepted") == 6

        # Both still the same two processes (neither was replaced as hung while frozen).
        assert worker_pids(proc.pid) == workers

        os.kill(proc.pid, signal.SIGTERM)  # the supervisor only, as Kubernetes does
        await asyncio.wait_for(proc.wait(), 60)
        assert not any(alive(w) for w in workers)
        assert not Path(metrics_dir).exists()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
