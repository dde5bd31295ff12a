"""Verifies OIDC bearer JWTs from the company's identity provider with joserfc.

The provider's signing keys come from its JWKS URL (httpx), cached for `jwks_cache_s`; a token
signed under a key id the cache does not know makes one refetch (the provider rotated keys).
Fetches are at least `jwks_refetch_min_interval_s` apart, so a stream of forged key ids cannot
turn this service into a flood of requests at the provider; while the provider cannot be
reached, the keys fetched last stay in use. Checked: the signature with an asymmetric
algorithm only (never `none`, never HMAC: an attacker must not pick the algorithm), `iss`, `aud`,
`exp` (required), `nbf` and `iat` with a small leeway, and `sub` (required). The role comes from
a configurable claim (a string or a list of strings); the highest known role wins.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from grpc_interceptor.exceptions import Unauthenticated

from services.common.errors import PermissionDenied, Unavailable

log = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
# Roles a person can hold through the identity provider, lowest first. `service` is not among
# them: internal processes authenticate with API keys of their own.
RANKED_ROLES = ("viewer", "agent", "admin")


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    audience: str
    jwks_url: str
    role_claim: str = "roles"
    leeway_s: int = 30
    jwks_cache_s: float = 3600.0
    jwks_refetch_min_interval_s: float = 10.0
    http_timeout_s: float = 5.0

    @property
    def configured(self) -> bool:
        return bool(self.issuer and self.audience and self.jwks_url)


@dataclass(frozen=True)
class OidcIdentity:
    subject: str
    display_name: str
    role: str


def looks_like_jwt(credential: str) -> bool:
    return credential.count(".") == 2


class OidcVerifier:
    def __init__(self, config: OidcConfig, http: httpx.AsyncClient) -> None:
        self._config = config
        self._http = http
        self._keys: KeySet | None = None
        self._fetched_at = self._attempted_at = float("-inf")
        self._lock = asyncio.Lock()

    async def verify(self, token: str) -> OidcIdentity:
        if not self._config.configured:
            raise Unauthenticated("OIDC tokens are not accepted here (OIDC_ISSUER, OIDC_AUDIENCE "
                                  "and OIDC_JWKS_URL are not set)")
        header = _header(token)
        if header.get("alg") not in ALGORITHMS:
            raise Unauthenticated(f"token: algorithm {str(header.get('alg'))[:20]!r} is not accepted")
        kid = header.get("kid")
        keys = await self._keys_with(kid)
        try:
            decoded = jwt.decode(token, keys, algorithms=list(ALGORITHMS))
        except (JoseError, ValueError) as e:
            raise Unauthenticated(f"token: {_reason(e, 'signature does not verify')}") from None
        claims = decoded.claims
        registry = jwt.JWTClaimsRegistry(
            leeway=self._config.leeway_s,
            iss={"essential": True, "value": self._config.issuer},
            aud={"essential": True, "value": self._config.audience},
            exp={"essential": True},
            sub={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as e:
            raise Unauthenticated(f"token: {_reason(e, 'claims are not valid')}") from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise Unauthenticated("token: sub claim must be a non-empty string")
        role = highest_role(claims.get(self._config.role_claim))
        if role is None:
            raise PermissionDenied(
                f"token: claim {self._config.role_claim!r} holds none of the roles "
                f"{', '.join(RANKED_ROLES)}")
        name = next((claims[c] for c in ("email", "name") if isinstance(claims.get(c), str) and claims[c]), subject)
        return OidcIdentity(subject=f"oidc:{subject}", display_name=name, role=role)

    async def _keys_with(self, kid: object) -> KeySet:
        """The cached key set, fetched again when stale or when it lacks `kid`; fetches are
        at least `jwks_refetch_min_interval_s` apart."""
        async with self._lock:
            now = time.monotonic()
            may_fetch = now - self._attempted_at >= self._config.jwks_refetch_min_interval_s
            if self._keys is None or may_fetch and (
                    now - self._fetched_at > self._config.jwks_cache_s or not _has_kid(self._keys, kid)):
                await self._fetch()
            if not _has_kid(self._keys, kid):
                raise Unauthenticated("token: signed with a key the identity provider does not publish")
            return self._keys

    async def _fetch(self) -> None:
        """Fetches the key set. If that fails while keys were fetched before, they stay in use
        (a provider outage must not lock everyone out) and the next try waits its turn."""
        self._attempted_at = time.monotonic()
        try:
            response = await self._http.get(self._config.jwks_url, timeout=self._config.http_timeout_s)
            response.raise_for_status()
            keys = KeySet.import_key_set(response.json())
        except (httpx.HTTPError, ValueError, JoseError) as e:
            log.warning("OIDC JWKS fetch from %s failed: %s", self._config.jwks_url, type(e).__name__)
            if self._keys is not None:
                return
            raise Unavailable(f"the identity provider's signing keys cannot be fetched "
                              f"({type(e).__name__}); retry later") from None
        self._keys, self._fetched_at = keys, time.monotonic()


def highest_role(value: object) -> str | None:
    values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    held = {v.strip().lower() for v in values if isinstance(v, str)}
    return next((r for r in reversed(RANKED_ROLES) if r in held), None)


def _header(token: str) -> dict:
    try:
        return jws.extract_compact(token.encode()).protected
    except (JoseError, ValueError, UnicodeError):
        raise Unauthenticated("token: not a well-formed JWT") from None


def _has_kid(keys: KeySet, kid: object) -> bool:
    if kid is None:
        return len(keys.keys) == 1  # joserfc picks the only key; several need a kid to choose
    return any(k.kid == kid for k in keys.keys)


def _reason(e: Exception, fallback: str) -> str:
    # joserfc's descriptions name the claim ("Invalid claim: 'aud'"), never its value.
    error = getattr(e, "error", "") or type(e).__name__
    return f"{error}: {getattr(e, 'description', '') or fallback}"[:200]
