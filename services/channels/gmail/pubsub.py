"""Authenticating Pub/Sub push deliveries (Gmail notifications reach the edge this way).

A push subscription with authentication sends `Authorization: Bearer <Google-signed OIDC JWT>`;
it is verified with google-auth against Google's signing keys (`google_certs_url`, cached for
their Cache-Control max-age), the configured audience, Google's issuer and, when configured,
the pushing service account. Subscriptions without OIDC can instead carry a shared secret in
the push URL (`?token=...`). Anything else is refused.

Verification is blocking (google-auth fetches keys with `requests`): call `verify` from a
worker thread.
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import google.auth.exceptions
import google.auth.jwt
import google.auth.transport
import google.auth.transport.requests
import jwt as pyjwt
from google.oauth2 import id_token

from services.channels.settings import ChannelSettings

log = logging.getLogger(__name__)

GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
_BEARER = re.compile(r"^Bearer\s+(\S+)$", re.IGNORECASE)
_DEFAULT_TTL_S = 300.0
_MAX_TTL_S = 24 * 3600.0
# A token naming a key we do not have may mean Google rotated keys: refetch, but not more
# often than this, so forged tokens cannot make us hammer the certs endpoint.
_MIN_REFRESH_INTERVAL_S = 30.0


class PushRejected(Exception):
    """The push is not from our subscription (answer 403)."""


class PushAuthUnavailable(Exception):
    """The signing keys could not be fetched: we cannot tell (answer 503; Pub/Sub retries)."""


@dataclass(frozen=True)
class _Cached:
    response: google.auth.transport.Response
    expires: float


class CachingRequest(google.auth.transport.Request):
    """A google-auth transport that caches successful GETs (the certs document) per URL."""

    def __init__(
        self,
        inner: google.auth.transport.Request | None = None,
        clock: Callable[[], float] = time.monotonic,
        timeout_s: float = 10.0,
    ) -> None:
        self._inner = inner or google.auth.transport.requests.Request()
        self._clock = clock
        self._timeout_s = timeout_s
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()
        self._last_forced: dict[str, float] = {}

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        if method != "GET":
            return self._inner(url, method=method, body=body, headers=headers, timeout=timeout, **kwargs)
        with self._lock:
            hit = self._cache.get(url)
            if hit and hit.expires > self._clock():
                return hit.response
        response = self._inner(
            url, method="GET", headers=headers, timeout=timeout or self._timeout_s, **kwargs
        )
        if response.status == 200:
            with self._lock:
                self._cache[url] = _Cached(response, self._clock() + _max_age(response.headers))
        return response

    def refresh(self, url: str) -> bool:
        """Drops the cached document so the next GET refetches; False when done too recently."""
        with self._lock:
            now = self._clock()
            if now - self._last_forced.get(url, float("-inf")) < _MIN_REFRESH_INTERVAL_S:
                return False
            self._last_forced[url] = now
            self._cache.pop(url, None)
            return True


def _max_age(headers) -> float:
    match = re.search(r"max-age=(\d+)", str(headers.get("cache-control", "")))
    return min(float(match.group(1)), _MAX_TTL_S) if match else _DEFAULT_TTL_S


class PushAuthenticator:
    def __init__(self, settings: ChannelSettings, request: CachingRequest | None = None) -> None:
        self.settings = settings
        self.request = request or CachingRequest()

    def verify(self, authorization: str | None, token_param: str | None) -> str:
        """Returns who pushed ("oidc:<service account>" or "token"); raises PushRejected or
        PushAuthUnavailable."""
        secret = self.settings.pubsub_verification_token.get_secret_value()
        if secret and token_param is not None:
            if hmac.compare_digest(token_param.encode(), secret.encode()):
                return "token"
            raise PushRejected("wrong verification token")
        match = _BEARER.match((authorization or "").strip())
        if not match:
            raise PushRejected("no bearer token")
        if not self.settings.pubsub_audience:
            raise PushRejected("OIDC push tokens are not configured (no pubsub_audience)")
        claims = self._verified_claims(match.group(1))
        if claims.get("iss") not in GOOGLE_ISSUERS:
            raise PushRejected(f"issuer {claims.get('iss')!r} is not Google")
        expected = self.settings.pubsub_service_account_email
        if expected and (claims.get("email") != expected or claims.get("email_verified") is not True):
            raise PushRejected("token is not from the configured push service account")
        return f"oidc:{claims.get('email', '')}"

    def _verified_claims(self, token: str) -> dict:
        url = self.settings.google_certs_url
        for attempt in (1, 2):
            try:
                return dict(
                    id_token.verify_token(
                        token, self.request, audience=self.settings.pubsub_audience, certs_url=url
                    )
                )
            except google.auth.exceptions.TransportError as exc:
                raise PushAuthUnavailable(f"signing keys unavailable: {exc}") from exc
            except (ValueError, google.auth.exceptions.GoogleAuthError, pyjwt.PyJWTError) as exc:
                if attempt == 1 and _unknown_key(exc) and self.request.refresh(url):
                    continue  # keys may have rotated since we cached them
                raise PushRejected(f"invalid token: {exc}") from exc
        raise AssertionError("unreachable")


def _unknown_key(exc: Exception) -> bool:
    text = str(exc)
    return "key id" in text or "signing key" in text
