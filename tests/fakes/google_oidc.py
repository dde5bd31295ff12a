"""Google's OIDC signing keys and Pub/Sub push, locally.

Serves the certs documents in both of Google's formats — /oauth2/v1/certs ({kid: X.509 PEM})
and /oauth2/v3/certs (JWKS) — with Google's Cache-Control, for a local RSA key that can be
rotated; mints the RS256 ID tokens a push subscription sends (google-auth's own signer); and
builds push requests exactly as Pub/Sub sends them."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import time
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt
from google.auth import jwt as google_jwt

from tests.fakes.http import FakeServer, Received, Reply

PUSH_SERVICE_ACCOUNT = "gmail-push@flowboard-support.iam.gserviceaccount.com"


@dataclass
class SigningKey:
    kid: str
    private_pem: bytes
    cert_pem: str
    public_numbers: rsa.RSAPublicNumbers

    @classmethod
    def generate(cls) -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, "federated-signon.system.gserviceaccount.com")]
        )
        now = dt.datetime.now(dt.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=14))
            .sign(key, hashes.SHA256())
        )
        return cls(
            kid=secrets.token_hex(20),
            private_pem=key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
            public_numbers=key.public_key().public_numbers(),
        )

    def jwk(self) -> dict:
        def b64(n: int) -> str:
            return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).decode().rstrip("=")

        return {
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": self.kid,
            "n": b64(self.public_numbers.n),
            "e": b64(self.public_numbers.e),
        }


class FakeGoogleCerts(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.key = SigningKey.generate()

    def rotate(self) -> None:
        self.key = SigningKey.generate()

    def handle(self, request: Received) -> Reply:
        cache = {"Cache-Control": "public, max-age=21600, must-revalidate, no-transform"}
        if request.path == "/oauth2/v1/certs":
            return Reply.json(200, {self.key.kid: self.key.cert_pem}, cache)
        if request.path == "/oauth2/v3/certs":
            return Reply.json(200, {"keys": [self.key.jwk()]}, cache)
        return Reply(404, b"Not Found", {"Content-Type": "text/html"})

    def mint(
        self,
        audience: str,
        *,
        issuer: str = "https://accounts.google.com",
        email: str = PUSH_SERVICE_ACCOUNT,
        issued_ago_s: int = 0,
        lifetime_s: int = 3600,
        key: SigningKey | None = None,
        kid: str | None = None,
        claims: dict | None = None,
    ) -> str:
        """An ID token like the one a push subscription sends, signed with the served key (or
        `key`, e.g. an attacker's, announced under `kid`). `claims` are added or replace the
        defaults (a claim set to None is left out): the same signer serves as any OIDC
        provider's, e.g. a company IdP's token with a `roles` claim."""
        key = key or self.key
        signer = crypt.RSASigner.from_string(key.private_pem, key_id=kid or key.kid)
        issued = int(time.time()) - issued_ago_s
        defaults = {
            "aud": audience,
            "azp": "113774264463038321964",
            "email": email,
            "email_verified": True,
            "exp": issued + lifetime_s,
            "iat": issued,
            "iss": issuer,
            "sub": "113774264463038321964",
        }
        claims = {k: v for k, v in {**defaults, **(claims or {})}.items() if v is not None}
        return google_jwt.encode(signer, claims).decode()


def push_body(email_address: str, history_id: int, message_id: str = "") -> bytes:
    """A Pub/Sub push delivery of a Gmail notification, byte for byte in Pub/Sub's shape."""
    message_id = message_id or str(secrets.randbelow(10**16))
    published = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    data = base64.b64encode(
        json.dumps({"emailAddress": email_address, "historyId": history_id}).encode()
    ).decode()
    return json.dumps(
        {
            "message": {
                "data": data,
                "messageId": message_id,
                "message_id": message_id,
                "publishTime": published,
                "publish_time": published,
            },
            "subscription": "projects/flowboard-support/subscriptions/gmail-push",
        }
    ).encode()


def push_headers(token: str | None) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)",
    }
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers
