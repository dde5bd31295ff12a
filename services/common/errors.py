"""Typed errors for domain code and the interceptor that turns them into gRPC statuses.

Domain code raises `NotFound("customer 42")`, `InvalidArgument(...)`, `FailedPrecondition(...)`
(from grpc-interceptor, one class per status code) and never touches gRPC itself. Anything
unexpected answers INTERNAL with a reference to the trace, never a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

import grpc
from grpc import aio as grpc_aio
from grpc_interceptor.exceptions import (  # noqa: F401  (re-exported for domain code)
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    GrpcException,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unavailable,
)
from grpc_interceptor.server import AsyncServerInterceptor
from opentelemetry import trace
from pydantic import ValidationError

log = logging.getLogger(__name__)


def _validation_details(err: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()]
    return "; ".join(parts)


class ExceptionToStatusInterceptor(AsyncServerInterceptor):
    """Maps typed exceptions to status codes for unary and streaming RPCs alike.

    Streaming handlers (health Watch, reflection) return async iterators: they are wrapped,
    never awaited.
    """

    async def intercept(self, method, request_or_iterator, context, method_name) -> Any:
        try:
            response = method(request_or_iterator, context)
            if not hasattr(response, "__aiter__"):
                return await response
        except Exception as ex:  # noqa: BLE001 - every exception gets a status
            await self._abort(ex, context, method_name)
        return self._stream(response, context, method_name)

    async def _stream(self, response, context, method_name):
        try:
            async for item in response:
                yield item
        except Exception as ex:  # noqa: BLE001
            await self._abort(ex, context, method_name)

    async def _abort(
        self, ex: Exception, context: grpc_aio.ServicerContext, method_name: str
    ) -> NoReturn:
        if isinstance(ex, GrpcException):
            await context.abort(ex.status_code, ex.details)
        if isinstance(ex, ValidationError):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, _validation_details(ex))
        if isinstance(ex, grpc.aio.AbortError):
            raise ex  # the handler aborted with a status of its own choosing
        code = context.code()
        if code not in (None, grpc.StatusCode.OK):
            # The handler set a status before raising (the generated base class does this
            # for UNIMPLEMENTED): answer with it instead of logging a crash.
            await context.abort(code, context.details() or str(ex))
        trace_id = format(trace.get_current_span().get_span_context().trace_id, "032x")
        log.exception("unhandled error in %s", method_name)
        await context.abort(grpc.StatusCode.INTERNAL, f"internal error (trace {trace_id})")
