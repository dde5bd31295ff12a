"""Who may call what, enforced in one place: the access interceptor every gRPC server gets from
the shared bootstrap.

Each RPC declares its rule in its contract (`option (fte.access.v1.method_access)`): the weakest
human role allowed, the service identities allowed, and whether calls by people are audited.
`policies()` reads those options from the generated descriptors, and a server refuses to start
with a method that has none, so a new RPC cannot be served unprotected. Health and reflection
are open (probes and `grpcurl list` carry no credential).

A call carries `authorization: Bearer <API key or OIDC JWT>`:

- none, malformed, unknown, revoked or expired → UNAUTHENTICATED; the method never runs
- valid, but the role (or, for a service key, its name) is not allowed → PERMISSION_DENIED
- the access service cannot be asked → UNAVAILABLE (retry), never a guess

Who the credential belongs to is asked of `Gate.authenticate` — AccessService.Authenticate over
gRPC with this process's own service key (`RemoteGate`), or the access service's own
authenticator (`services.access.server.LocalGate`) — and remembered for AUTH_CACHE_TTL_S.

Audited methods called by a person (not a service key) are written to the audit log with who,
role, method, target ids (the request's `*_id` / `*_ids` fields) and outcome, before the answer
is sent: a call that succeeded but could not be audited answers UNAVAILABLE (every audited RPC
is idempotent, so the retry repeats it harmlessly and writes the event). Refusals of audited
methods are recorded as `denied`. The handler may add a note (`audit_note`) and reads the caller
with `current_principal()`.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
from fte.access.v1 import access_service_pb2 as access_pb
from fte.access.v1 import access_service_pb2_grpc as access_grpc
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import FieldDescriptor
from grpc_interceptor.exceptions import GrpcException, PermissionDenied, Unauthenticated, Unavailable
from grpc_interceptor.server import AsyncServerInterceptor

from services.common.credential_cache import CredentialCache

log = logging.getLogger(__name__)

VIEWER, AGENT, ADMIN, SERVICE = "viewer", "agent", "admin", "service"
ROLE_NAMES = {access_pb.ROLE_VIEWER: VIEWER, access_pb.ROLE_AGENT: AGENT,
              access_pb.ROLE_ADMIN: ADMIN, access_pb.ROLE_SERVICE: SERVICE}
ROLE_ENUMS = {name: number for number, name in ROLE_NAMES.items()}
_HUMAN_RANK = {VIEWER: 1, AGENT: 2, ADMIN: 3}

API_KEY, OIDC = "api_key", "oidc"
_KIND_NAMES = {access_pb.CREDENTIAL_KIND_API_KEY: API_KEY, access_pb.CREDENTIAL_KIND_OIDC: OIDC}

# Open to anyone who can reach the port: probes and `grpcurl list/describe`.
OPEN_SERVICES = frozenset({
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection",
})

# Longer than any real credential (an API key is 65 characters, a JWT a few kilobytes at most).
MAX_CREDENTIAL_CHARS = 8192

SUCCEEDED, DENIED, FAILED = "succeeded", "denied", "failed"
_OUTCOME_ENUMS = {SUCCEEDED: access_pb.AUDIT_OUTCOME_SUCCEEDED, DENIED: access_pb.AUDIT_OUTCOME_DENIED,
                  FAILED: access_pb.AUDIT_OUTCOME_FAILED}


@dataclass(frozen=True)
class Principal:
    """Who a credential belongs to. For a service key, `display_name` is the service's name."""

    subject: str
    display_name: str
    role: str  # viewer | agent | admin | service
    kind: str  # api_key | oidc
    key_id: str = ""

    @property
    def is_service(self) -> bool:
        return self.role == SERVICE


def role_allows(have: str, need: str) -> bool:
    """viewer < agent < admin; a service role is never a human role."""
    return _HUMAN_RANK.get(have, 0) >= _HUMAN_RANK[need]


@dataclass(frozen=True)
class MethodPolicy:
    """One RPC's rule, from its `method_access` option."""

    method: str  # "/fte.identity.v1.IdentityService/MergeCustomers"
    min_role: str
    services: frozenset[str]
    audited: bool

    def allows(self, principal: Principal) -> bool:
        if principal.is_service:
            return principal.display_name in self.services
        return role_allows(principal.role, self.min_role)

    def needs(self) -> str:
        services = f" (or service {', '.join(sorted(self.services))})" if self.services else ""
        return f"role {self.min_role} or higher{services}"


class MissingPolicy(RuntimeError):
    """A served method has no `method_access` option: it would be open to anyone."""


def policies(service_names: Iterable[str]) -> dict[str, MethodPolicy]:
    """The rule of every method of these services (full names), from their descriptors."""
    pool = descriptor_pool.Default()
    found: dict[str, MethodPolicy] = {}
    for name in service_names:
        for method in pool.FindServiceByName(name).methods:
            options = method.GetOptions()
            full = f"/{name}/{method.name}"
            if not options.HasExtension(access_pb.method_access):
                raise MissingPolicy(
                    f"{full} has no (fte.access.v1.method_access) option: say who may call it")
            rule = options.Extensions[access_pb.method_access]
            if rule.min_role not in (access_pb.ROLE_VIEWER, access_pb.ROLE_AGENT, access_pb.ROLE_ADMIN):
                raise MissingPolicy(f"{full}: min_role must be viewer, agent or admin")
            if rule.audited and (method.client_streaming or method.server_streaming):
                raise MissingPolicy(f"{full}: a streaming method cannot be audited")
            found[full] = MethodPolicy(full, ROLE_NAMES[rule.min_role],
                                       frozenset(rule.services), rule.audited)
    return found


def bearer(metadata: Iterable[tuple[str, Any]] | None) -> str:
    """The credential in `authorization: Bearer …` (the scheme is optional), or ''."""
    for key, value in metadata or ():
        if key.lower() == "authorization":
            value = value.decode() if isinstance(value, bytes) else str(value)
            value = value.strip()
            return value[7:].strip() if value[:7].lower() == "bearer " else value
    return ""


def target_ids(request: Any) -> list[str]:
    """The ids an action is about: the request's `*_id` / `*_ids` string fields, and those of its
    direct sub-messages (e.g. an article's id)."""
    ids: list[str] = []

    def collect(message: Any, depth: int) -> None:
        for field, value in message.ListFields():
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                if depth == 0 and not field.is_repeated:
                    collect(value, depth + 1)
            elif field.type == FieldDescriptor.TYPE_STRING and field.name.endswith(("_id", "_ids")):
                # Without U+0000, which the audit log (PostgreSQL text) cannot hold.
                ids.extend(v.replace("\x00", "") for v in (value if field.is_repeated else [value]) if v)

    if hasattr(request, "ListFields"):
        collect(request, 0)
    return ids[:100]


class Gate(Protocol):
    """Who a credential is, and where audit events go."""

    async def authenticate(self, credential: str) -> Principal:
        """The principal, or Unauthenticated / PermissionDenied / Unavailable."""

    async def record(self, principal: Principal, method: str, targets: list[str],
                     outcome: str, detail: str) -> str:
        """Appends an audit event and returns its id; Unavailable when it cannot."""


def principal_from_pb(p: access_pb.Principal) -> Principal:
    return Principal(p.subject, p.display_name, ROLE_NAMES.get(p.role, ""),
                     _KIND_NAMES.get(p.kind, ""), p.key_id)


class RemoteGate:
    """The gate of every service but access: AccessService over a channel that carries this
    process's own service key. Successful answers are cached for `cache_ttl_s`."""

    def __init__(self, channel: grpc.aio.Channel, cache_ttl_s: float) -> None:
        self._stub = access_grpc.AccessServiceStub(channel)
        self._cache: CredentialCache[Principal] = CredentialCache(cache_ttl_s)

    async def authenticate(self, credential: str) -> Principal:
        return await self._cache.get_or_load(credential, lambda: self._ask(credential))

    async def _ask(self, credential: str) -> Principal:
        try:
            reply = await self._stub.Authenticate(access_pb.AuthenticateRequest(credential=credential))
        except grpc.aio.AioRpcError as err:
            raise _refusal(err) from None
        return principal_from_pb(reply.principal)

    async def record(self, principal: Principal, method: str, targets: list[str],
                     outcome: str, detail: str) -> str:
        try:
            reply = await self._stub.RecordAuditEvent(access_pb.RecordAuditEventRequest(
                subject=principal.subject, role=ROLE_ENUMS.get(principal.role, 0), method=method,
                target_ids=targets, outcome=_OUTCOME_ENUMS[outcome], detail=detail[:1000]))
        except grpc.aio.AioRpcError as err:
            raise Unavailable(f"the audit log could not be written ({err.code().name})") from None
        return reply.event.event_id


def _refusal(err: grpc.aio.AioRpcError) -> GrpcException:
    code = err.code()
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INVALID_ARGUMENT):
        return Unauthenticated("the credential is not valid (unknown, revoked, expired or malformed)")
    if code == grpc.StatusCode.PERMISSION_DENIED:
        # Either the token carries no role, or this process's own service key may not ask.
        return PermissionDenied(f"the credential carries no role allowed here: {err.details()}")
    log.warning("access service did not answer Authenticate: %s %s", code.name, err.details())
    return Unavailable("cannot check credentials right now; retry shortly")


_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)
_gate: contextvars.ContextVar[Gate | None] = contextvars.ContextVar("gate", default=None)
_note: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("audit_note", default=None)


def current_principal() -> Principal:
    """The authenticated caller of the RPC being handled."""
    principal = _principal.get()
    if principal is None:
        raise RuntimeError("no principal: not inside an RPC that passed the access interceptor")
    return principal


async def record_event(subject: str, method: str, targets: list[str], detail: str,
                       outcome: str = SUCCEEDED) -> str:
    """Writes an audit event whose actor is not the caller (e.g. a customer who proved a
    one-time code, through the agent's service key) via the gate of the RPC being handled.
    Returns its id; Unavailable when it cannot be written."""
    gate = _gate.get()
    if gate is None:
        raise RuntimeError("no gate: not inside an RPC that passed the access interceptor")
    return await gate.record(Principal(subject, "", "", ""), method, targets, outcome, detail)


def audit_note(detail: str) -> None:
    """Adds a note (counts, never an address or secret) to this call's audit event."""
    notes = _note.get()
    if notes is not None:
        notes.append(detail)


class AccessInterceptor(AsyncServerInterceptor):
    """Authenticates, authorizes and audits every call to the methods in `rules`."""

    def __init__(self, rules: dict[str, MethodPolicy], gate: Gate) -> None:
        self._rules = rules
        self._gate = gate

    async def intercept_service(self, continuation, handler_call_details):
        if handler_call_details.method.split("/")[1] in OPEN_SERVICES:
            return await continuation(handler_call_details)
        return await super().intercept_service(continuation, handler_call_details)

    async def intercept(self, method, request, context, method_name) -> Any:
        rule = self._rules.get(method_name)
        if rule is None:  # mounted outside `policies()`: refuse rather than serve it open
            raise PermissionDenied(f"{method_name} has no access rule")
        credential = bearer(context.invocation_metadata())
        if not credential:
            raise Unauthenticated(
                f"{method_name} needs `authorization: Bearer <API key or OIDC token>`")
        if len(credential) > MAX_CREDENTIAL_CHARS or not credential.isascii():
            raise Unauthenticated("the credential is malformed")
        principal = await self._gate.authenticate(credential)
        audited = rule.audited and not principal.is_service
        if not rule.allows(principal):
            log.info("refused %s to %s (%s): needs %s", method_name, principal.subject,
                     principal.role, rule.needs())
            if audited:
                await self._record(principal, rule, request, DENIED, f"needs {rule.needs()}")
            raise PermissionDenied(f"{method_name} needs {rule.needs()}; the caller is {principal.role}")
        principal_token = _principal.set(principal)
        gate_token = _gate.set(self._gate)
        notes: list[str] = []
        note_token = _note.set(notes)
        try:
            response = method(request, context)
            if hasattr(response, "__aiter__"):
                return response  # streaming: authorized above; never audited (policies() checks)
            response = await response
        except BaseException as ex:
            if audited:
                await self._record_failure(principal, rule, request, ex, context)
            raise
        finally:
            _principal.reset(principal_token)
            _gate.reset(gate_token)
            _note.reset(note_token)
        if audited:
            event_id = await self._record(principal, rule, request, SUCCEEDED, "; ".join(notes))
            if "audit_event_id" in response.DESCRIPTOR.fields_by_name:
                response.audit_event_id = event_id
        return response

    async def _record(self, principal: Principal, rule: MethodPolicy, request: Any,
                      outcome: str, detail: str) -> str:
        try:
            return await self._gate.record(principal, rule.method, target_ids(request), outcome, detail)
        except GrpcException:
            log.error("audit event not written: %s %s by %s (%s)", rule.method, outcome,
                      principal.subject, principal.role)
            if outcome == SUCCEEDED:
                raise Unavailable(
                    f"{rule.method} is done but its audit event could not be written; retry"
                    " (the call is idempotent)") from None
            return ""

    async def _record_failure(self, principal, rule, request, ex: BaseException, context) -> None:
        # The status code only: an error's details may name a customer's address.
        if isinstance(ex, GrpcException):
            code = ex.status_code.name
        elif isinstance(ex, grpc.aio.AbortError) and context.code() is not None:
            code = context.code().name
        else:
            code = "INTERNAL"
        await self._record(principal, rule, request, FAILED, code)
