"""The gRPC services as real processes (as `make run` starts them, on free ports), shared by
the grpcurl and access-enforcement tests of this folder."""

from __future__ import annotations

import pytest

from tests.e2e.pipeline import Pipeline, pipeline_processes

GRPC_SERVICES = ("identity", "conversation", "agent", "access")


@pytest.fixture(scope="session")
async def services(stack):
    pipeline = Pipeline(stack, [p for p in pipeline_processes() if p.name in GRPC_SERVICES])
    try:
        await pipeline.start_all()
        yield pipeline
    finally:
        await pipeline.stop_all()
