"""API keys with no I/O: make one, take one apart, hash and verify its secret.

A key reads `fte_<key id>_<secret>`: the key id (16 hex characters, public, in listings and audit
records) finds the one stored hash to verify; the secret (32 random bytes, URL-safe base64) is
shown once and stored only as an argon2id hash. argon2 is slow on purpose (about 64 MiB and tens
of milliseconds per check), so callers run `verify_secret` and `hash_secret` off the event loop.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from services.common.errors import InvalidArgument

PREFIX = "fte"
ROLES = ("viewer", "agent", "admin", "service")
MAX_NAME_LENGTH = 200

_KEY_ID = re.compile(r"^[0-9a-f]{16}$")
_KEY = re.compile(r"^fte_(?P<key_id>[0-9a-f]{16})_(?P<secret>[A-Za-z0-9_-]{43})$")
# RFC 9106's second recommended option (the library's default): 64 MiB, 3 passes, 4 lanes.
_HASHER = PasswordHasher()


@dataclass(frozen=True)
class ParsedKey:
    key_id: str
    secret: str

    def __repr__(self) -> str:  # a logged object must never show the secret
        return f"ParsedKey(key_id={self.key_id!r}, secret=<redacted>)"


def new_key() -> tuple[str, ParsedKey]:
    """A fresh key: (the whole credential to hand out once, its parts)."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return f"{PREFIX}_{key_id}_{secret}", ParsedKey(key_id, secret)


def looks_like_key(credential: str) -> bool:
    return credential.startswith(f"{PREFIX}_")


def parse(credential: str) -> ParsedKey | None:
    """The key's parts, or None when it is not shaped like a key this service makes."""
    match = _KEY.match(credential)
    return ParsedKey(match["key_id"], match["secret"]) if match else None


def check_key_id(key_id: str) -> str:
    key_id = key_id.strip()
    if not key_id:
        raise InvalidArgument("key_id: required")
    if not _KEY_ID.match(key_id):
        raise InvalidArgument(f"key_id: {key_id[:40]!r} is not a key id (16 lowercase hex characters)")
    return key_id


def check_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise InvalidArgument("name: required (say what the key is for, e.g. \"ops laptop\")")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument(f"name: at most {MAX_NAME_LENGTH} characters, got {len(name)}")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidArgument(f"role: {role!r} is not one of {', '.join(ROLES)}")
    return role


def hash_secret(secret: str) -> str:
    return _HASHER.hash(secret)


def verify_secret(secret_hash: str, secret: str) -> bool:
    try:
        return _HASHER.verify(secret_hash, secret)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
