"""AccessService configuration, from the environment."""

from __future__ import annotations

from services.access.oidc import OidcConfig
from services.common.config import Settings


class AccessSettings(Settings):
    grpc_port: int = 50056
    # The company's identity provider. All three set: OIDC bearer JWTs are accepted; any unset:
    # only API keys are.
    oidc_issuer: str = ""
    oidc_audience: str = ""
    oidc_jwks_url: str = ""
    # The claim holding the role(s): a string or a list; the highest of viewer/agent/admin wins.
    oidc_role_claim: str = "roles"
    # Clock skew allowed on exp / nbf / iat, seconds.
    oidc_leeway_s: int = 30
    # How long the provider's signing keys are trusted before they are fetched again, and the
    # least time between two refetches caused by tokens naming an unknown key id.
    oidc_jwks_cache_s: float = 3600.0
    oidc_jwks_refetch_min_interval_s: float = 10.0
    # argon2 verifications running at once (each takes ~64 MiB for tens of milliseconds).
    auth_max_concurrent_verifications: int = 4
    # How long a key that matched its stored hash is not verified with argon2 again (its row,
    # revocation and role, is still read every AUTH_CACHE_TTL_S). A new secret means a new hash.
    auth_verified_ttl_s: float = 3600.0

    def oidc(self) -> OidcConfig:
        return OidcConfig(
            issuer=self.oidc_issuer,
            audience=self.oidc_audience,
            jwks_url=self.oidc_jwks_url,
            role_claim=self.oidc_role_claim,
            leeway_s=self.oidc_leeway_s,
            jwks_cache_s=self.oidc_jwks_cache_s,
            jwks_refetch_min_interval_s=self.oidc_jwks_refetch_min_interval_s,
            http_timeout_s=min(5.0, self.rpc_timeout_s),
        )
