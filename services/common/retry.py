"""Which failures are worth retrying, shared by every Kafka consumer."""

from __future__ import annotations

import asyncio

import grpc
from aiokafka.errors import KafkaError

_TRANSIENT_CODES = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
}


def is_transient(exc: BaseException) -> bool:
    """True for errors a later attempt may not hit: unreachable peers, timeouts, overload."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code() in _TRANSIENT_CODES
    return isinstance(exc, (asyncio.TimeoutError, ConnectionError, KafkaError))
