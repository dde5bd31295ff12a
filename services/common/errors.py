"""Typed errors for domain code and the interceptor that turns them into gRPC statuses.

Domain code raises `NotFound("customer 42")`, `InvalidArgument(...)`, `FailedPrecondition(...)`
(from grpc-interceptor, one class per status code) and never touches gRPC itself. Database
trouble is told apart from bugs, so callers know whether retrying helps: PostgreSQL unreachable
or restarting answers UNAVAILABLE; a deadlock or serialization failure re-runs the RPC (its
transaction was rolled back, and every RPC here is idempotent) and answers ABORTED if the
conflict persists. A text PostgreSQL cannot store (U+0000) answers INVALID_ARGUMENT naming
the fields that hold it, and bytes that are not the request message (`DecodeRequestInterceptor`)
INVALID_ARGUMENT too. Anything else unexpected answers INTERNAL with a reference to the trace,
never a stack trace.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, NoReturn

import asyncpg
import grpc
from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from google.rpc import error_details_pb2, status_pb2
from grpc import aio as grpc_aio
from grpc_interceptor.exceptions import (  # noqa: F401  (re-exported for domain code)
    Aborted,
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

from services.common.retry import Counted, conflict_retry, is_database_conflict

log = logging.getLogger(__name__)


def _validation_details(err: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()]
    return "; ".join(parts)


# Attempts of an RPC whose transaction lost a deadlock or serialization conflict.
CONFLICT_ATTEMPTS = 3


def is_database_unavailable(ex: BaseException) -> bool:
    """PostgreSQL cannot be reached, dropped the connection, is shutting down or starting up,
    or has no connection slot left. OSError connection failures come from the pool's
    (re)connect when nothing listens."""
    if isinstance(ex, asyncpg.InterfaceError):
        return "connection is closed" in str(ex)
    return isinstance(
        ex,
        (
            ConnectionError,  # refused / reset while (re)connecting
            asyncpg.PostgresConnectionError,  # class 08: connection lost mid-query
            asyncpg.CannotConnectNowError,  # 57P03: starting up / recovering
            asyncpg.AdminShutdownError,  # 57P01
            asyncpg.CrashShutdownError,  # 57P02
            asyncpg.TooManyConnectionsError,  # 53300
        ),
    )


# Why a call failed, for callers that act on it (Google AIP-193): a google.rpc.ErrorInfo in the
# status details (the `grpc-status-details-bin` trailer, which grpcurl prints too). A database
# outage is the one reason callers act on: a live service whose PostgreSQL is away will answer
# again once it is back, so the inbound worker waits it out instead of dead-lettering; a
# service that is gone answers plain UNAVAILABLE, and its callers give up after their budget.
ERROR_DOMAIN = "fte.flowboard.dev"
DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
_STATUS_DETAILS = "grpc-status-details-bin"


def _with_reason(code: grpc.StatusCode, message: str, reason: str) -> tuple[tuple[str, bytes], ...]:
    info = AnyMessage()
    info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN))
    status = status_pb2.Status(code=code.value[0], message=message, details=[info])
    return ((_STATUS_DETAILS, status.SerializeToString()),)


def error_reason(exc: BaseException) -> str:
    """The ErrorInfo reason (of this domain) a failed call carries, or ""."""
    if not isinstance(exc, grpc.aio.AioRpcError):
        return ""
    for key, value in exc.trailing_metadata() or ():
        if key != _STATUS_DETAILS:
            continue
        for detail in status_pb2.Status.FromString(value).details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info) and info.domain == ERROR_DOMAIN:
                return info.reason
    return ""


def is_database_outage(exc: BaseException) -> bool:
    """The service answered, and said a database cannot be reached (wait it out)."""
    return error_reason(exc) == DATABASE_UNAVAILABLE


class DatabaseUnavailable(Unavailable):
    """UNAVAILABLE because a database cannot be reached: this service's own, or a downstream
    service's passed on (its call failed with `is_database_outage`). Carries the reason."""


class ExceptionToStatusInterceptor(AsyncServerInterceptor):
    """Maps typed exceptions to status codes for unary and streaming RPCs alike.

    Streaming handlers (health Watch, reflection) return async iterators: they are wrapped,
    never awaited.
    """

    async def intercept(self, method, request_or_iterator, context, method_name) -> Any:
        # A request stream is consumed by the first attempt, so only unary requests re-run.
        streaming = hasattr(request_or_iterator, "__aiter__")
        attempt = Counted(_handled, method, request_or_iterator, context)
        try:
            response = await conflict_retry(1 if streaming else CONFLICT_ATTEMPTS, log_as=method_name).call(
                attempt, give_up=lambda: not _time_left(context))
            if not hasattr(response, "__aiter__"):
                return response
        except Exception as ex:  # noqa: BLE001 - every exception gets a status
            if isinstance(ex, _NUL_REFUSED) and not streaming:
                fields = ", ".join(nul_fields(request_or_iterator)) or "a text field"
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                    f"{fields}: U+0000 (NUL) cannot be stored; leave it out")
            await self._abort(ex, context, method_name, attempt.attempts)
        return self._stream(response, context, method_name)

    async def _stream(self, response, context, method_name):
        try:
            async for item in response:
                yield item
        except Exception as ex:  # noqa: BLE001
            await self._abort(ex, context, method_name, 1)

    async def _abort(
        self, ex: Exception, context: grpc_aio.ServicerContext, method_name: str, attempts: int
    ) -> NoReturn:
        if is_database_unavailable(ex):
            log.warning("%s: database unavailable: %s: %s", method_name, type(ex).__name__, ex)
            ex = DatabaseUnavailable(f"database unavailable ({type(ex).__name__}); retry later")
        if isinstance(ex, DatabaseUnavailable):
            await context.abort(ex.status_code, ex.details, _with_reason(
                ex.status_code, ex.details, DATABASE_UNAVAILABLE))
        if isinstance(ex, GrpcException):
            await context.abort(ex.status_code, ex.details)
        if isinstance(ex, ValidationError):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, _validation_details(ex))
        if isinstance(ex, grpc.aio.AbortError):
            raise ex  # the handler aborted with a status of its own choosing
        if is_database_conflict(ex):
            log.warning("%s: %s after %d attempts", method_name, type(ex).__name__, attempts)
            await context.abort(
                grpc.StatusCode.ABORTED,
                f"database conflict ({type(ex).__name__}) persisted after {attempts} attempts; retry",
            )
        code = context.code()
        if code not in (None, grpc.StatusCode.OK):
            # The handler set a status before raising (the generated base class does this
            # for UNIMPLEMENTED): answer with it instead of logging a crash.
            await context.abort(code, context.details() or str(ex))
        trace_id = format(trace.get_current_span().get_span_context().trace_id, "032x")
        log.exception("unhandled error in %s", method_name)
        await context.abort(grpc.StatusCode.INTERNAL, f"internal error (trace {trace_id})")


# How PostgreSQL refuses U+0000 from a request: in text (22021), and as "\u0000" in jsonb
# (22P05; found by tests/fuzz: a tool call's arguments_json holding NUL was INTERNAL). The
# database is UTF-8 on both ends, so nothing else is untranslatable.
_NUL_REFUSED = (asyncpg.CharacterNotInRepertoireError, asyncpg.UntranslatableCharacterError)


async def _handled(method, request_or_iterator, context) -> Any:
    """The handler's response: awaited for a unary one, the iterator of a streaming one."""
    response = method(request_or_iterator, context)
    return response if hasattr(response, "__aiter__") else await response


def _time_left(context: grpc_aio.ServicerContext) -> bool:
    """Whether the caller's deadline leaves room for another attempt (no deadline: yes)."""
    remaining = context.time_remaining()
    return remaining is None or remaining > 0.5


def nul_fields(message: Any, prefix: str = "") -> list[str]:
    """The (dotted) names of a request's string fields that hold U+0000, however deep."""
    found: list[str] = []
    if not isinstance(message, Message):
        return found
    for field, value in message.ListFields():
        name = prefix + field.name
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            values = [v for kv in value.items() for v in kv]
        else:
            values = list(value) if field.is_repeated else [value]
        for v in values:
            if isinstance(v, str) and "\x00" in v:
                found.append(name)
                break
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                found.extend(nul_fields(v, name + "."))
    return list(dict.fromkeys(found))


class _Undecodable:
    """What a request deserializer returns instead of raising for bytes that are not its message."""

    def __init__(self, error: DecodeError) -> None:
        self.error = error


def _tolerant(deserializer: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except DecodeError as err:
            return _Undecodable(err)

    return deserialize


def _refuse_undecodable(request: Any) -> None:
    if isinstance(request, _Undecodable):
        raise InvalidArgument(f"the request is not a valid encoding of its message: {request.error}")


async def _decoded(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        _refuse_undecodable(request)
        yield request


class DecodeRequestInterceptor(grpc_aio.ServerInterceptor):
    """Bytes that do not decode as the request message answer INVALID_ARGUMENT. gRPC itself
    decodes before any handler runs and answers UNKNOWN with the decoder's exception. The
    innermost interceptor: the failure surfaces after the access check (an anonymous caller
    still learns only UNAUTHENTICATED), as an exception the status mapping turns into a status;
    the deserializer it installs is the one gRPC calls, since every outer interceptor keeps
    the inner handler's."""

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        deserializer = _tolerant(handler.request_deserializer)
        if handler.unary_unary:
            inner = handler.unary_unary

            async def unary_unary(request, context):
                _refuse_undecodable(request)
                response = inner(request, context)
                return await response if inspect.isawaitable(response) else response

            return handler._replace(unary_unary=unary_unary, request_deserializer=deserializer)
        if handler.unary_stream:
            inner = handler.unary_stream

            def unary_stream(request, context):
                _refuse_undecodable(request)
                return inner(request, context)

            return handler._replace(unary_stream=unary_stream, request_deserializer=deserializer)
        kind = "stream_unary" if handler.stream_unary else "stream_stream"
        inner = getattr(handler, kind)
        return handler._replace(**{kind: lambda requests, context: inner(_decoded(requests), context)},
                                request_deserializer=deserializer)
