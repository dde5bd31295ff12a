"""The server interceptor that times every RPC: `fte_rpc_server_duration_seconds{service, method,
code}` (services/common/metrics.py). It sits outside the exception-to-status mapping, so `code` is
the status the caller got (an access refusal is PERMISSION_DENIED, a bad request INVALID_ARGUMENT).

Streaming handlers (health Watch, server reflection) return async iterators: they are wrapped and
timed until the stream ends, never awaited.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
from grpc_interceptor.server import AsyncServerInterceptor

from services.common.metrics import RPC_DURATION

_BY_VALUE = {code.value[0]: code for code in grpc.StatusCode}


def status_name(context: grpc.aio.ServicerContext, error: BaseException | None) -> str:
    """The status the call ended with: the one set on the context (an abort sets it), else OK
    when it returned, CANCELLED when it was cancelled, UNKNOWN for an unmapped exception."""
    code = context.code()
    if isinstance(code, int):
        code = _BY_VALUE.get(code)
    if isinstance(code, grpc.StatusCode):
        return code.name
    if error is None:
        return "OK"
    if isinstance(error, asyncio.CancelledError):
        return "CANCELLED"
    return "UNKNOWN"


class RpcMetricsInterceptor(AsyncServerInterceptor):
    async def intercept(self, method, request_or_iterator, context, method_name: str) -> Any:
        service, _, name = method_name.lstrip("/").rpartition("/")
        start = time.perf_counter()
        try:
            response = method(request_or_iterator, context)
            if hasattr(response, "__aiter__"):
                return self._stream(response, context, service, name, start)
            response = await response
        except BaseException as ex:
            RPC_DURATION.labels(service, name, status_name(context, ex)).observe(time.perf_counter() - start)
            raise
        RPC_DURATION.labels(service, name, status_name(context, None)).observe(time.perf_counter() - start)
        return response

    async def _stream(self, response, context, service: str, name: str, start: float):
        error: BaseException | None = None
        try:
            async for item in response:
                yield item
        except BaseException as ex:
            error = ex
            raise
        finally:
            RPC_DURATION.labels(service, name, status_name(context, error)).observe(time.perf_counter() - start)
