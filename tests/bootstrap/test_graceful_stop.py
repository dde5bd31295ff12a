"""SIGTERM drains: an RPC already running finishes with OK, health turns NOT_SERVING, and the
process exits 0 instead of being killed mid-request."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from fte.identity.v1 import identity_service_pb2 as pb
from fte.identity.v1 import identity_service_pb2_grpc as pb_grpc

from services.common.grpc_client import open_channel
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


async def _wait_serving(address: str) -> None:
    for _ in range(100):
        try:
            async with open_channel(address, timeout_s=1) as ch:
                r = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest())
                if r.status == health_pb2.HealthCheckResponse.SERVING:
                    return
        except grpc.aio.AioRpcError:
            pass
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{address} never became SERVING")


@contextlib.asynccontextmanager
async def fixture_process(auth: dict[str, str]) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """The fixture servicer under the real `serve` entry point, SERVING; killed if still up.
    `auth`: its access settings (`service_auth(...)`), passed in the environment."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "tests/bootstrap/fixture_servicer.py"),
        str(port),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT}/gen/python",
             **{name.upper(): value for name, value in auth.items()}},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    address = f"127.0.0.1:{port}"
    try:
        await _wait_serving(address)
        yield proc, address
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_sigterm_lets_in_flight_rpc_finish_then_exits_cleanly(service_auth, admin_key):
    async with fixture_process(service_auth("identity")) as (proc, address):
        async with open_channel(address, timeout_s=10, credential=admin_key) as ch:
            stub = pb_grpc.IdentityServiceStub(ch)
            # A health watcher (a load balancer, a kubelet) connected before the signal.
            watch = health_pb2_grpc.HealthStub(ch).Watch(
                health_pb2.HealthCheckRequest(service="fte.identity.v1.IdentityService"),
                timeout=15,
            )
            assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
            in_flight = asyncio.ensure_future(
                stub.GetCustomer(pb.GetCustomerRequest(customer_id="sleep:2"))
            )
            await asyncio.sleep(0.5)  # the RPC is now sleeping inside the handler
            proc.send_signal(signal.SIGTERM)
            # The watcher hears NOT_SERVING while the in-flight RPC is still running.
            draining = await asyncio.wait_for(watch.read(), timeout=5)
            assert draining.status == health_pb2.HealthCheckResponse.NOT_SERVING
            assert not in_flight.done()
            reply = await in_flight
            assert reply.customer.customer_id == "sleep:2"
        exit_code = await asyncio.wait_for(proc.wait(), timeout=15)
        output = (await proc.stdout.read()).decode()
        assert exit_code == 0, output
        assert "draining" in output and "stopped" in output
