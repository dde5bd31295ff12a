"""The company facts fixed replies state (team addresses, first-reply time, the support team's
name), read once from company.toml so each is written in one place and checked against the
product facts by a test, instead of being repeated in the strings that use it."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

COMPANY_FILE = Path(__file__).with_name("company.toml")


@dataclass(frozen=True)
class Company:
    escalation_first_reply: str
    sales_email: str
    billing_email: str
    legal_email: str
    support_name: str


def load(path: Path = COMPANY_FILE) -> Company:
    """The file's [facts] and [names] as one Company; a missing or unknown key is a TypeError."""
    with path.open("rb") as f:
        data = tomllib.load(f)
    return Company(**data["facts"], **data["names"])


COMPANY = load()
