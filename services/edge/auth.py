"""Operators' routes need a credential: `Authorization: Bearer <API key or OIDC JWT>`, checked by
the access service (`AccessService.Authenticate`) and cached briefly here.

`require_role(Role.VIEWER)` is the one FastAPI dependency every non-customer route carries:

- no, malformed or refused credential → 401 with `WWW-Authenticate: Bearer`
- a valid credential whose role is too weak (or a token with no known role) → 403
- the access service unreachable or failing → 503 (never 500)

A refusal is answered before the route runs, so nothing changes. The credential is never logged;
the cache is keyed by its SHA-256, so the credential itself is not kept either.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

import grpc
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fte.access.v1 import access_service_pb2 as access_pb
from fte.access.v1 import access_service_pb2_grpc as access_grpc

from services.common.credential_cache import CredentialCache
from services.common.grpc_client import open_channel

log = logging.getLogger(__name__)

# Longer than any real credential (an API key is 65 characters, a JWT a few kilobytes at most):
# refused with 401 before anything is hashed or sent.
MAX_CREDENTIAL_CHARS = 8192


class Role(enum.IntEnum):
    """Ordered by what they may do; SERVICE is an internal process and ranks apart (see allows)."""

    VIEWER = access_pb.ROLE_VIEWER
    AGENT = access_pb.ROLE_AGENT
    ADMIN = access_pb.ROLE_ADMIN
    SERVICE = access_pb.ROLE_SERVICE


_HUMAN_RANK = {Role.VIEWER: 1, Role.AGENT: 2, Role.ADMIN: 3}


def allows(have: int, need: Role) -> bool:
    """viewer < agent < admin. A service principal gets exactly what it was given for: only
    routes that ask for SERVICE (none yet — the edge's own calls need no role), never the
    operators' routes."""
    if need is Role.SERVICE or have == Role.SERVICE:
        return have == need
    return _HUMAN_RANK.get(have, 0) >= _HUMAN_RANK[need]


@dataclass(frozen=True)
class Principal:
    subject: str
    role: int
    kind: int


def _unauthenticated(message: str) -> HTTPException:
    return HTTPException(401, message, {"WWW-Authenticate": "Bearer"})


class Authenticator:
    """Asks the access service who a credential belongs to; remembers successful answers for
    `cache_ttl_s` (so revocation reaches this edge within that time)."""

    def __init__(self, access_addr: str, timeout_s: float, cache_ttl_s: float) -> None:
        self._channel = open_channel(access_addr, timeout_s)
        self._stub = access_grpc.AccessServiceStub(self._channel)
        self._timeout_s = timeout_s
        self._cache: CredentialCache[Principal] = CredentialCache(cache_ttl_s)

    async def close(self) -> None:
        await self._channel.close()

    async def authenticate(self, credential: str) -> Principal:
        cached = self._cache.get(credential)
        if cached is not None:
            return cached
        try:
            reply = await self._stub.Authenticate(
                access_pb.AuthenticateRequest(credential=credential), timeout=self._timeout_s
            )
        except grpc.aio.AioRpcError as err:
            code = err.code()
            if code == grpc.StatusCode.UNAUTHENTICATED:
                raise _unauthenticated("the credential is not valid (unknown, revoked or expired)") from err
            if code == grpc.StatusCode.PERMISSION_DENIED:
                raise HTTPException(403, "the credential carries no role allowed here") from err
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                raise _unauthenticated("the credential is malformed") from err
            log.warning("access service did not answer Authenticate: %s", code.name)
            raise HTTPException(
                503, "cannot check credentials right now, try again shortly", {"Retry-After": "5"}
            ) from err
        p = reply.principal
        principal = Principal(subject=p.subject, role=p.role, kind=p.kind)
        self._cache.put(credential, principal)
        return principal


# auto_error=False: the 401 (with its message and WWW-Authenticate) is ours, not a bare 403.
_bearer = HTTPBearer(auto_error=False, description="An FTE API key (`fte_…`) or an OIDC JWT")


def require_role(need: Role):
    """The dependency for a route operators use: the caller's principal, with at least `need`."""

    async def dependency(
        request: Request, creds: HTTPAuthorizationCredentials | None = Depends(_bearer)
    ) -> Principal:
        if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials.strip():
            raise _unauthenticated("this route needs Authorization: Bearer <API key or OIDC token>")
        credential = creds.credentials.strip()
        if len(credential) > MAX_CREDENTIAL_CHARS or not credential.isascii():
            raise _unauthenticated("the credential is malformed")
        principal = await request.app.state.authenticator.authenticate(credential)
        if not allows(principal.role, need):
            log.info("refused %s %s to %s: role too weak", request.method, request.url.path, principal.subject)
            raise HTTPException(403, f"this route needs role {need.name.lower()} or higher")
        request.state.principal = principal
        return principal

    return dependency
