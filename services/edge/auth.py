"""Operators' routes need a credential: `Authorization: Bearer <API key or OIDC JWT>`, checked by
the access service (`AccessService.Authenticate`, through the same `RemoteGate` every gRPC server
uses, on the edge's own service key) and cached briefly.

`require_role(VIEWER)` is the one FastAPI dependency every non-customer route carries:

- no, malformed or refused credential → 401 with `WWW-Authenticate: Bearer`
- a valid credential whose role is too weak (or a token with no known role) → 403
- the access service unreachable or failing → 503 (never 500)

A refusal is answered before the route runs, so nothing changes. The route then calls the gRPC
services *as the operator* (`as_caller`): their access interceptor checks and audits the person,
not the edge. The credential is never logged; the cache is keyed by its SHA-256.
"""

from __future__ import annotations

import logging

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from grpc_interceptor.exceptions import GrpcException, PermissionDenied, Unauthenticated

from services.common.auth import MAX_CREDENTIAL_CHARS, Principal, role_allows

log = logging.getLogger(__name__)


def _unauthenticated(message: str) -> HTTPException:
    return HTTPException(401, message, {"WWW-Authenticate": "Bearer"})


# auto_error=False: the 401 (with its message and WWW-Authenticate) is ours, not a bare 403.
_bearer = HTTPBearer(auto_error=False, description="An FTE API key (`fte_…`) or an OIDC JWT")


def require_role(need: str):
    """The dependency for a route operators use: the caller's principal, with at least `need`
    (viewer < agent < admin; a service key is never an operator)."""

    async def dependency(
        request: Request, creds: HTTPAuthorizationCredentials | None = Depends(_bearer)
    ) -> Principal:
        if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials.strip():
            raise _unauthenticated("this route needs Authorization: Bearer <API key or OIDC token>")
        credential = creds.credentials.strip()
        if len(credential) > MAX_CREDENTIAL_CHARS or not credential.isascii():
            raise _unauthenticated("the credential is malformed")
        try:
            principal = await request.app.state.gate.authenticate(credential)
        except Unauthenticated as err:
            raise _unauthenticated(err.details) from None
        except PermissionDenied as err:
            raise HTTPException(403, err.details) from None
        except GrpcException:
            raise HTTPException(
                503, "cannot check credentials right now, try again shortly", {"Retry-After": "5"}
            ) from None
        if principal.is_service or not role_allows(principal.role, need):
            log.info("refused %s %s to %s: role too weak", request.method, request.url.path, principal.subject)
            raise HTTPException(403, f"this route needs role {need} or higher")
        request.state.principal = principal
        request.state.credential = credential
        return principal

    return dependency


def as_caller(request: Request) -> tuple[tuple[str, str], ...]:
    """gRPC metadata that makes a call on behalf of the operator `require_role` admitted."""
    return (("authorization", f"Bearer {request.state.credential}"),)
