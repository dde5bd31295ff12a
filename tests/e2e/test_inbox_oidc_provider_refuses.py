"""The e2e identity provider (the inbox's company sign-in) keeps PKCE's promise: a code is
traded only with the verifier whose S256 is the challenge, and only once; an unknown client or
a redirect off the edge's origin gets an error page, never a redirect with a code."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.fakes.oidc_provider import s256


def _authorize(client: httpx.Client, oidc, verifier: str, **override) -> httpx.Response:
    params = {"response_type": "code", "client_id": oidc.client_id, "redirect_uri": f"{oidc.app_origin}/inbox/",
              "scope": "openid profile email", "state": "st-1", "code_challenge": s256(verifier),
              "code_challenge_method": "S256", **override}
    return client.get(f"{oidc.url}/authorize", params=params)


def _exchange(client: httpx.Client, oidc, code: str, verifier: str) -> httpx.Response:
    return client.post(f"{oidc.url}/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": f"{oidc.app_origin}/inbox/",
        "client_id": oidc.client_id, "code_verifier": verifier}, headers={"Origin": oidc.app_origin})


def test_a_wrong_code_verifier_gets_no_token_and_spends_the_code(channel_fakes):
    oidc = channel_fakes.oidc
    verifier = secrets.token_urlsafe(48)
    with httpx.Client(timeout=10) as client:
        answer = _authorize(client, oidc, verifier)
        assert answer.status_code == 302
        back = urlsplit(answer.headers["location"])
        assert f"{back.scheme}://{back.netloc}{back.path}" == f"{oidc.app_origin}/inbox/"
        query = parse_qs(back.query)
        assert query["state"] == ["st-1"]
        code = query["code"][0]

        refused = _exchange(client, oidc, code, secrets.token_urlsafe(48))
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_grant"
        assert "id_token" not in refused.json() and "access_token" not in refused.json()
        assert refused.headers["access-control-allow-origin"] == oidc.app_origin
        # The code is spent: the right verifier is too late now.
        assert _exchange(client, oidc, code, verifier).json()["error"] == "invalid_grant"

        # A fresh sign-in with the right verifier gets tokens the access service would accept.
        code = parse_qs(urlsplit(_authorize(client, oidc, verifier).headers["location"]).query)["code"][0]
        granted = _exchange(client, oidc, code, verifier)
        assert granted.status_code == 200, granted.text
        keys = KeySet.import_key_set(client.get(f"{oidc.url}/jwks").json())
        claims = jwt.decode(granted.json()["id_token"], keys, algorithms=["RS256"]).claims
        assert claims["iss"] == oidc.issuer and claims["aud"] == oidc.client_id
        assert (claims["sub"], claims["email"], claims["roles"]) == (oidc.user.sub, oidc.user.email, ["agent"])
        assert _exchange(client, oidc, code, verifier).status_code == 400  # single use


def test_an_unknown_client_or_a_foreign_redirect_gets_an_error_page(channel_fakes):
    oidc = channel_fakes.oidc
    with httpx.Client(timeout=10) as client:
        for override in ({"client_id": "someone-else"}, {"redirect_uri": "http://127.0.0.1:1/inbox/"},
                         {"redirect_uri": "https://evil.example/inbox/"}):
            answer = _authorize(client, oidc, "v" * 43, **override)
            assert answer.status_code == 400, override
            assert "location" not in answer.headers
            assert answer.headers["content-type"].startswith("text/html")
        discovery = client.get(f"{oidc.url}/.well-known/openid-configuration", headers={"Origin": oidc.app_origin})
        assert discovery.json()["token_endpoint"] == f"{oidc.issuer}/token"
        assert discovery.headers["access-control-allow-origin"] == oidc.app_origin
