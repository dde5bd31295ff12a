"""The host page's signed identity token: how a web form sender becomes more than a claim.

A site that knows who is signed in embeds the form with `data-identity-token` = the hex
HMAC-SHA256 of that user's email (trimmed, lower-cased) under a secret it shares with us
(WEBFORM_IDENTITY_SECRET). A valid token proves the email; without one the email and phone on
the form are only what the sender typed."""

from __future__ import annotations

import hashlib
import hmac


def identity_token(email: str, secret: str) -> str:
    """What the host page computes for its signed-in user (also used by tests)."""
    message = email.strip().lower().encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def token_matches(email: str, token: str, secret: str) -> bool:
    # Case-insensitive hex, compared in constant time.
    return hmac.compare_digest(identity_token(email, secret), token.strip().lower())
