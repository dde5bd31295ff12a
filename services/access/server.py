"""gRPC servicer for fte.access.v1.AccessService: protobuf in, domain call, protobuf out.
Key rules live in `keys` / `api_keys`, credential checks in `authenticator` / `oidc`, SQL in
`store`."""

from __future__ import annotations

import base64
import binascii
import contextlib

import httpx
from fte.access.v1 import access_service_pb2 as pb
from fte.access.v1 import access_service_pb2_grpc as pb_grpc

from services.access import api_keys
from services.access.authenticator import Authenticator
from services.access.oidc import OidcVerifier
from services.access.settings import AccessSettings
from services.access.store import AccessStore, AuditEvent, StoredKey
from services.common.auth import API_KEY, OIDC, Principal
from services.common.db import owned_pool
from services.common.errors import InvalidArgument, Unavailable, is_database_unavailable
from services.common.grpc_server import Mount, Servicer

_ROLES = {pb.ROLE_VIEWER: "viewer", pb.ROLE_AGENT: "agent", pb.ROLE_ADMIN: "admin",
          pb.ROLE_SERVICE: "service"}
_ROLE_ENUMS = {name: number for number, name in _ROLES.items()}
_KINDS = {API_KEY: pb.CREDENTIAL_KIND_API_KEY, OIDC: pb.CREDENTIAL_KIND_OIDC}
_OUTCOMES = {pb.AUDIT_OUTCOME_SUCCEEDED: "succeeded", pb.AUDIT_OUTCOME_DENIED: "denied",
             pb.AUDIT_OUTCOME_FAILED: "failed"}
_OUTCOME_ENUMS = {name: number for number, name in _OUTCOMES.items()}

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 500
MAX_DETAIL, MAX_FIELD, MAX_TARGETS = 1000, 500, 100


class AccessServicer(pb_grpc.AccessServiceServicer):
    def __init__(self, store: AccessStore, authenticator: Authenticator) -> None:
        self._store = store
        self._authenticator = authenticator

    async def CreateApiKey(self, request, context):
        if request.role not in _ROLES:
            raise InvalidArgument(_enum_error("role", request.role))
        key, credential = await api_keys.create(self._store, request.name, _ROLES[request.role])
        return pb.CreateApiKeyResponse(key=_api_key(key), secret=credential)

    async def ListApiKeys(self, request, context):
        keys = await self._store.list_keys(request.include_revoked)
        return pb.ListApiKeysResponse(keys=[_api_key(k) for k in keys])

    async def RevokeApiKey(self, request, context):
        key, already = await api_keys.revoke(self._store, request.key_id)
        self._authenticator.forget_key(key.key_id)
        return pb.RevokeApiKeyResponse(key=_api_key(key), already_revoked=already)

    async def Authenticate(self, request, context):
        principal = await self._authenticator.authenticate(request.credential)
        return pb.AuthenticateResponse(principal=_principal(principal))

    async def RecordAuditEvent(self, request, context):
        subject = _text(request.subject, "subject", required=True)
        method = _text(request.method, "method", required=True)
        if request.role not in _ROLES and request.role != pb.ROLE_UNSPECIFIED:
            raise InvalidArgument(_enum_error("role", request.role))
        if request.outcome not in _OUTCOMES:
            raise InvalidArgument(_enum_error("outcome", request.outcome))
        if len(request.target_ids) > MAX_TARGETS:
            raise InvalidArgument(f"target_ids: at most {MAX_TARGETS}, got {len(request.target_ids)}")
        targets = [_text(t, "target_ids", required=True) for t in request.target_ids]
        if len(request.detail) > MAX_DETAIL:
            raise InvalidArgument(f"detail: at most {MAX_DETAIL} characters, got {len(request.detail)}")
        event = await self._store.record_event(
            subject, _ROLES.get(request.role, ""), method, targets,
            _OUTCOMES[request.outcome], request.detail.strip())
        return pb.RecordAuditEventResponse(event=_event(event))

    async def ListAuditEvents(self, request, context):
        if request.page_size < 0:
            raise InvalidArgument(f"page_size: must not be negative, got {request.page_size}")
        size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        before = _decode_page_token(request.page_token)
        events = await self._store.list_events(
            size + 1, before, _text(request.subject, "subject", required=False) or None,
            _text(request.method, "method", required=False) or None)
        more = len(events) > size
        events = events[:size]
        token = _encode_page_token(events[-1].event_id) if more else ""
        return pb.ListAuditEventsResponse(events=[_event(e) for e in events], next_page_token=token)


class LocalGate:
    """The access service checks its own callers with its own authenticator and writes its own
    audit events (the other services ask it over gRPC: common.auth.RemoteGate)."""

    def __init__(self, store: AccessStore, authenticator: Authenticator) -> None:
        self._store = store
        self._authenticator = authenticator

    async def authenticate(self, credential: str) -> Principal:
        return await self._authenticator.authenticate(credential)

    async def record(self, principal: Principal, method: str, targets: list[str],
                     outcome: str, detail: str) -> str:
        try:
            event = await self._store.record_event(
                principal.subject, principal.role, method, targets, outcome, detail[:MAX_DETAIL])
        except Exception as ex:
            if is_database_unavailable(ex):
                raise Unavailable(f"the audit log could not be written ({type(ex).__name__})") from None
            raise
        return str(event.event_id)


def _text(value: str, field: str, *, required: bool) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidArgument(f"{field}: required")
    if len(value) > MAX_FIELD:
        raise InvalidArgument(f"{field}: at most {MAX_FIELD} characters, got {len(value)}")
    return value


def _enum_error(field: str, value: int) -> str:
    return f"{field}: required" if value == 0 else f"{field}: unknown value {value}"


def _encode_page_token(event_id: int) -> str:
    return base64.urlsafe_b64encode(f"before:{event_id}".encode()).decode()


def _decode_page_token(token: str) -> int | None:
    if not token:
        return None
    try:
        kind, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind == "before" and value.isdigit():
            return int(value)
    except (binascii.Error, UnicodeError, ValueError):
        pass
    raise InvalidArgument("page_token: not a token from a previous ListAuditEvents answer")


def _times(**values) -> dict:
    return {k: v for k, v in values.items() if v is not None}


def _api_key(k: StoredKey) -> pb.ApiKey:
    return pb.ApiKey(key_id=k.key_id, name=k.name, role=_ROLE_ENUMS[k.role],
                     **_times(create_time=k.create_time, revoke_time=k.revoke_time,
                              last_used_time=k.last_used_time))


def _principal(p: Principal) -> pb.Principal:
    return pb.Principal(subject=p.subject, display_name=p.display_name, role=_ROLE_ENUMS[p.role],
                        kind=_KINDS[p.kind], key_id=p.key_id)


def _event(e: AuditEvent) -> pb.AuditEvent:
    return pb.AuditEvent(
        event_id=str(e.event_id), subject=e.subject, role=_ROLE_ENUMS.get(e.role, pb.ROLE_UNSPECIFIED),
        method=e.method, target_ids=e.target_ids, outcome=_OUTCOME_ENUMS[e.outcome],
        detail=e.detail, event_time=e.event_time)


async def build(
    resources: contextlib.AsyncExitStack, settings: AccessSettings | None = None
) -> Mount:
    settings = settings or AccessSettings()
    pool = await owned_pool(resources, settings, "access", session_state=False)
    http = await resources.enter_async_context(httpx.AsyncClient(follow_redirects=False))
    store = AccessStore(pool)
    authenticator = Authenticator(
        store,
        OidcVerifier(settings.oidc(), http),
        cache_ttl_s=settings.auth_cache_ttl_s,
        verified_ttl_s=settings.auth_verified_ttl_s,
        max_concurrent_verifications=settings.auth_max_concurrent_verifications,
    )
    servicer = Servicer(
        pb_grpc.add_AccessServiceServicer_to_server,
        AccessServicer(store, authenticator),
        "fte.access.v1.AccessService",
    )
    return Mount([servicer], LocalGate(store, authenticator))
