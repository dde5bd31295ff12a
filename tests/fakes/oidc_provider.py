"""The company's identity provider, locally: an OpenID Connect provider for the inbox's
redirect sign-in (authorization code + PKCE S256, a public client).

Serves its discovery document, its JWKS (`/jwks`), an authorization endpoint that consents at
once as the configured person (back to `redirect_uri` with a `code` and the same `state`; an
unknown client or a redirect off the edge's origin gets an error page, never a redirect), and a
token endpoint that trades a code once, only with the verifier whose S256 is the challenge,
for an id token and an access token (RS256, FakeGoogleCerts' signer: `iss`, `aud` = the client
id, `sub`, `email`, `name`, `roles`, `exp`). Discovery and token answer CORS for the edge's
origin: the browser calls them from the inbox. 127.0.0.1 only."""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from tests.fakes.google_oidc import FakeGoogleCerts
from tests.fakes.http import Received, Reply


@dataclass(frozen=True)
class OidcUser:
    sub: str
    email: str
    name: str
    roles: list[str] = field(default_factory=lambda: ["agent"])


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None


class FakeOidcProvider(FakeGoogleCerts):
    def __init__(self, client_id: str, app_origin: str, user: OidcUser) -> None:
        super().__init__()
        self.client_id = client_id
        self.app_origin = app_origin.rstrip("/")  # the edge: redirects go there, CORS allows it
        self.user = user
        self._codes: dict[str, _Grant] = {}
        self._codes_lock = threading.Lock()

    @property
    def issuer(self) -> str:
        return self.url

    def handle(self, request: Received) -> Reply:
        cors = {"Access-Control-Allow-Origin": self.app_origin, "Vary": "Origin"}
        if request.method == "OPTIONS" and request.path in ("/.well-known/openid-configuration", "/token"):
            return Reply(204, b"", {**cors, "Access-Control-Allow-Methods": "GET, POST",
                                    "Access-Control-Allow-Headers": "Content-Type, Accept",
                                    "Access-Control-Max-Age": "600"})
        if request.method == "GET" and request.path == "/.well-known/openid-configuration":
            return Reply.json(200, self.discovery(), cors)
        if request.method == "GET" and request.path == "/jwks":
            return Reply.json(200, {"keys": [self.key.jwk()]})
        if request.method == "GET" and request.path == "/authorize":
            return self._authorize(request)
        if request.method == "POST" and request.path == "/token":
            reply = self._token(request)
            reply.headers.update({**cors, "Cache-Control": "no-store"})
            return reply
        return Reply(404, b"Not Found", {"Content-Type": "text/html"})

    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code"],
            "token_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": ["openid", "profile", "email"],
        }

    def _authorize(self, request: Received) -> Reply:
        client_id, redirect_uri = request.param("client_id", ""), request.param("redirect_uri", "")
        # Never redirect for an unknown client or a foreign redirect URI: an error page instead.
        if client_id != self.client_id:
            return _error_page(f"unknown client_id {client_id!r}")
        parts = urlsplit(redirect_uri)
        if f"{parts.scheme}://{parts.netloc}" != self.app_origin or parts.fragment:
            return _error_page(f"redirect_uri {redirect_uri!r} is not registered for this client")
        state = request.param("state")
        back = {"state": state} if state is not None else {}
        if request.param("response_type") != "code":
            return _redirect(redirect_uri, {"error": "unsupported_response_type", **back})
        challenge = request.param("code_challenge", "")
        if request.param("code_challenge_method") != "S256" or not challenge:
            return _redirect(redirect_uri, {"error": "invalid_request",
                                            "error_description": "PKCE with S256 is required", **back})
        code = secrets.token_urlsafe(32)
        with self._codes_lock:
            self._codes[code] = _Grant(client_id, redirect_uri, challenge, request.param("nonce"))
        return _redirect(redirect_uri, {"code": code, **back})

    def _token(self, request: Received) -> Reply:
        form = request.form()
        if form.get("grant_type") != "authorization_code":
            return _token_error("unsupported_grant_type", "only authorization_code")
        with self._codes_lock:
            grant = self._codes.pop(form.get("code", ""), None)  # single use, spent by any attempt
        if grant is None:
            return _token_error("invalid_grant", "unknown or used code")
        if form.get("client_id") != grant.client_id:
            return _token_error("invalid_grant", "the code was issued to another client")
        if form.get("redirect_uri") != grant.redirect_uri:
            return _token_error("invalid_grant", "redirect_uri does not match the authorization request")
        if not secrets.compare_digest(s256(form.get("code_verifier", "")), grant.challenge):
            return _token_error("invalid_grant", "code_verifier does not match the code_challenge")
        return Reply.json(200, {
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": "openid profile email",
            "id_token": self.mint_for(grant.client_id, nonce=grant.nonce),
            "access_token": self.mint_for(grant.client_id),
        })

    def mint_for(self, audience: str, *, nonce: str | None = None) -> str:
        """A token for the configured person, from this provider."""
        return self.mint(audience, issuer=self.issuer, email=self.user.email, claims={
            "sub": self.user.sub, "azp": self.client_id, "name": self.user.name,
            "roles": list(self.user.roles), "nonce": nonce,
        })


def _redirect(uri: str, params: dict[str, str]) -> Reply:
    sep = "&" if "?" in uri else "?"
    return Reply(302, b"", {"Location": f"{uri}{sep}{urlencode(params)}", "Cache-Control": "no-store"})


def _error_page(message: str) -> Reply:
    body = f"<!doctype html><title>Sign-in error</title><h1>Sign-in error</h1><p>{html.escape(message)}</p>"
    return Reply(400, body.encode(), {"Content-Type": "text/html; charset=utf-8"})


def _token_error(error: str, description: str) -> Reply:
    return Reply.json(400, {"error": error, "error_description": description})
