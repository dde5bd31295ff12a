"""What a one-time link code sent back by a customer looks like, and how it is kept out of
stored text (issue 12: verified linking across channels).

A message that is just a code ("123456", "123 456", "the code is 123456", "Code: 123-456.")
is a code reply. The inbound worker stores such a message with the code replaced by
`REDACTED`, and the agent hands the model the redacted text (the code itself goes only to
IdentityService.ConfirmLink), so no conversation row, model prompt or tool-call record holds
it. Pure functions: no I/O.
"""

from __future__ import annotations

import re

REDACTED = "[one-time code]"

_CODE = r"\d{3}[ -]?\d{3,5}"
# The whole message, give or take a greeting, a "the code is" and closing punctuation.
_CODE_REPLY = re.compile(
    r"^\s*(?:(?:hi|hello|hey|ok|okay|thanks|sure)[,!.]?\s+)?"
    r"(?:(?:here(?:'s| is)\s+)?(?:the\s+|my\s+)?(?:verification\s+|one[- ]time\s+|link\s+|"
    r"security\s+)?code(?:\s+is)?\s*[:=-]?\s*)?"
    rf"(?P<code>{_CODE}|{re.escape(REDACTED)})"
    r"\s*[.!]?\s*(?:thanks?(?: you)?[.!]?)?\s*$",
    re.IGNORECASE,
)


def code_reply(text: str) -> str | None:
    """The code (digits only) when the whole message is a code reply; None otherwise. A
    message already redacted answers None: the code is gone."""
    match = _CODE_REPLY.match(text or "")
    if match is None or match.group("code") == REDACTED:
        return None
    return re.sub(r"[ -]", "", match.group("code"))


def is_code_reply(text: str) -> bool:
    """A code reply, with the code still in it or already redacted."""
    return _CODE_REPLY.match(text or "") is not None


def redact(text: str) -> str:
    """The message as it may be stored or shown to a model: a code reply's code replaced by
    REDACTED; any other message unchanged."""
    match = _CODE_REPLY.match(text or "")
    if match is None or match.group("code") == REDACTED:
        return text
    return text[: match.start("code")] + REDACTED + text[match.end("code"):]
