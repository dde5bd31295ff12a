"""A local Twilio: the Messages API as the twilio library calls it (POST
/2010-04-01/Accounts/{AccountSid}/Messages.json, HTTP Basic auth, form body, JSON answers and
Twilio's error bodies), and Twilio's side of webhooks (form posts signed over the public URL)."""

from __future__ import annotations

import base64
import re
import secrets
from datetime import datetime, timezone
from email.utils import format_datetime
from urllib.parse import urlencode

import httpx
from twilio.request_validator import RequestValidator

from tests.fakes.http import FakeServer, Received, Reply

_MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC\w+)/Messages\.json$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def twilio_error(status: int, code: int, message: str) -> Reply:
    return Reply.json(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


SERVICE_UNAVAILABLE = twilio_error(503, 20503, "Service Unavailable")
TOO_MANY_REQUESTS = twilio_error(429, 20429, "Too Many Requests")


class FakeTwilio(FakeServer):
    def __init__(self, account_sid: str, auth_token: str) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[dict[str, str]] = []  # what was accepted, in order

    def handle(self, request: Received) -> Reply:
        match = _MESSAGES.match(request.path)
        if request.method != "POST" or not match:
            return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("authorization") != expected or match["sid"] != self.account_sid:
            return twilio_error(401, 20003, "Authenticate")
        form = request.form()
        to, sender, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not _E164.match(to.removeprefix("whatsapp:")):
            return twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if sender.startswith("whatsapp:") != to.startswith("whatsapp:"):
            return twilio_error(400, 63007, "Twilio could not find a Channel with the specified From address")
        if len(body) > 1600:
            return twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        sid = "SM" + secrets.token_hex(16)
        self.messages.append({**form, "Sid": sid})
        now = format_datetime(datetime.now(timezone.utc))
        return Reply.json(
            201,
            {
                "account_sid": self.account_sid,
                "api_version": "2010-04-01",
                "body": body,
                "date_created": now,
                "date_sent": None,
                "date_updated": now,
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "from": sender,
                "messaging_service_sid": None,
                "num_media": "0",
                "num_segments": "1",
                "price": None,
                "price_unit": "USD",
                "sid": sid,
                "status": "queued",
                "subresource_uris": {
                    "media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"
                },
                "to": to,
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            },
        )


def sign(auth_token: str, public_url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature as Twilio computes it: HMAC-SHA1 over the URL it called + sorted params."""
    return RequestValidator(auth_token).compute_signature(public_url, params)


def post_webhook(
    server_url: str,
    public_url: str,
    params: dict[str, str],
    auth_token: str,
    *,
    path: str | None = None,
    signature: str | None = "sign",
    body_override: dict[str, str] | None = None,
) -> httpx.Response:
    """Posts like Twilio: to `server_url` (where the app listens, behind the proxy) a form
    signed over `public_url` (what Twilio was configured with). `path` is what the proxy
    forwards to (default: the public URL's path and query); `signature=None` sends none;
    `body_override` sends a different body than the one signed (tampering)."""
    path_and_query = path.lstrip("/") if path is not None else public_url.split("://", 1)[1].partition("/")[2]
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "TwilioProxy/1.1",
        "I-Twilio-Idempotency-Token": secrets.token_hex(16),
    }
    if signature == "sign":
        headers["X-Twilio-Signature"] = sign(auth_token, public_url, params)
    elif signature is not None:
        headers["X-Twilio-Signature"] = signature
    return httpx.post(
        f"{server_url.rstrip('/')}/{path_and_query}",
        content=urlencode(body_override if body_override is not None else params),
        headers=headers,
        timeout=10,
    )


def inbound_params(
    account_sid: str, sid: str, sender: str, to: str, body: str, profile: str = "Ana"
) -> dict[str, str]:
    """The form Twilio posts for an inbound WhatsApp text message."""
    return {
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ProfileName": profile,
        "MessageType": "text",
        "SmsSid": sid,
        "WaId": sender.removeprefix("whatsapp:+"),
        "SmsStatus": "received",
        "Body": body,
        "To": to,
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "MessageSid": sid,
        "AccountSid": account_sid,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }


def status_params(
    account_sid: str, message: dict[str, str], status: str, error_code: str = ""
) -> dict[str, str]:
    """The form Twilio posts to a message's StatusCallback."""
    params = {
        "ChannelPrefix": "whatsapp",
        "ApiVersion": "2010-04-01",
        "MessageStatus": status,
        "SmsSid": message["Sid"],
        "SmsStatus": status,
        "ChannelInstallSid": "XE" + "0" * 32,
        "To": message["To"],
        "From": message["From"],
        "MessageSid": message["Sid"],
        "AccountSid": account_sid,
        "ChannelToAddress": message["To"].removeprefix("whatsapp:"),
    }
    if error_code:
        params["ErrorCode"] = error_code
    return params
