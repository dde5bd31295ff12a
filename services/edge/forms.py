"""The web support form's contract. The same limits drive validation here and, through the
OpenAPI schema, in the web form."""

from __future__ import annotations

from typing import Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

Category = Literal["general", "technical", "billing", "feedback", "bug_report"]


class SupportSubmission(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=2, max_length=100)
    email: EmailStr = Field(max_length=254)
    subject: str = Field(min_length=5, max_length=200)
    category: Category
    message: str = Field(min_length=10, max_length=5000)
    phone: str | None = Field(default=None, max_length=32)
    # The host page's signed identity token for its signed-in user (hex HMAC-SHA256 of the
    # email): it turns the email from a claim into a proof. Absent: the email is a claim.
    identity_token: str | None = Field(default=None, max_length=128)

    @field_validator("phone")
    @classmethod
    def _phone_is_a_number(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            parsed = phonenumbers.parse(value, None if value.startswith("+") else "US")
        except phonenumbers.NumberParseException as exc:
            raise ValueError("not a phone number; use international format like +351912345678") from exc
        if not phonenumbers.is_valid_number(parsed):
            raise ValueError("not a valid phone number")
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class SubmissionAccepted(BaseModel):
    ticket_id: str
    message: str
    expected_response_time: str


class TicketMessage(BaseModel):
    role: str
    channel: str
    content: str
    time: str


class TicketView(BaseModel):
    ticket_id: str
    # received (not stored yet), open, processing, answered, escalated, resolved
    status: str
    subject: str = ""
    messages: list[TicketMessage] = []
    created_at: str | None = None
    updated_at: str | None = None
