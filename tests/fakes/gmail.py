"""A local Gmail API (v1, the paths google-api-python-client calls) with an in-memory mailbox,
its history, and Google's OAuth token endpoint.

Messages are stored as RFC 822 bytes and served as Gmail does for format=full: a MIME tree of
parts with headers, base64url body data for text parts, attachment ids for attachments. Sent
mail lands in the mailbox with the SENT label and its own history record, as in Gmail, so the
ingest has to skip it. A startHistoryId older than the kept history answers 404."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import itertools
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from email.message import Message

from tests.fakes.http import FakeServer, Received, Reply

_USER = r"^/gmail/v1/users/(?P<user>[^/]+)"


def google_error(status: int, message: str, reason: str, state: str) -> Reply:
    return Reply.json(
        status,
        {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": "global", "reason": reason}],
                "status": state,
            }
        },
    )


NOT_FOUND = google_error(404, "Requested entity was not found.", "notFound", "NOT_FOUND")
BACKEND_ERROR = google_error(503, "The service is currently unavailable.", "backendError", "UNAVAILABLE")
UNAUTHENTICATED = google_error(
    401,
    "Request had invalid authentication credentials. Expected OAuth 2 access token.",
    "authError",
    "UNAUTHENTICATED",
)


@dataclass
class StoredMessage:
    id: str
    thread_id: str
    raw: bytes
    labels: list[str]
    internal_ms: int
    history_id: int


@dataclass
class SentMessage:
    id: str
    thread_id: str
    request_thread_id: str | None
    mime: Message = field(repr=False)


def gmail_payload(msg: Message, part_id: str = "") -> dict:
    """One MIME part as Gmail's MessagePart: headers decoded, body data base64url (no padding)."""
    headers = [{"name": k, "value": str(v)} for k, v in msg.items()]
    mime = msg.get_content_type()
    if msg.is_multipart():
        subparts = msg.get_payload()
        return {
            "partId": part_id,
            "mimeType": mime,
            "filename": "",
            "headers": headers,
            "body": {"size": 0},
            "parts": [
                gmail_payload(p, f"{part_id}.{i}" if part_id else str(i)) for i, p in enumerate(subparts)
            ],
        }
    data = msg.get_payload(decode=True) or b""
    filename = msg.get_filename() or ""
    body: dict = {"size": len(data)}
    if filename:
        body["attachmentId"] = "ANGjdJ" + hashlib.sha256(data).hexdigest()[:40]
    elif data:
        body["data"] = base64.urlsafe_b64encode(data).decode().rstrip("=")
    return {"partId": part_id, "mimeType": mime, "filename": filename, "headers": headers, "body": body}


class FakeGmail(FakeServer):
    def __init__(
        self,
        address: str,
        *,
        client_id: str = "client-id.apps.googleusercontent.com",
        client_secret: str = "client-secret",
        refresh_token: str = "1//refresh-token",
    ) -> None:
        super().__init__()
        self.address = address
        self.client_id, self.client_secret, self.refresh_token = client_id, client_secret, refresh_token
        self.access_tokens: set[str] = set()
        self.messages: dict[str, StoredMessage] = {}
        self.sent: list[SentMessage] = []
        self._history: list[tuple[int, str]] = []  # (history id, message id added)
        self._history_id = 10_000
        self._oldest_kept = 0
        self._ids = itertools.count(0x18C0FFEE0000)
        self._state = threading.Lock()

    # -- mailbox control (test side)

    @property
    def history_id(self) -> int:
        return self._history_id

    def deliver(self, mime: Message | bytes, thread_id: str | None = None, labels=("INBOX", "UNREAD")) -> str:
        """A message arrives in the mailbox (a new history record). Returns its Gmail id."""
        raw = mime if isinstance(mime, bytes) else mime.as_bytes()
        return self._add(raw, thread_id, list(labels))

    def expire_history(self) -> None:
        """Gmail no longer has history before now: older startHistoryIds answer 404."""
        self._oldest_kept = self._history_id

    def _add(self, raw: bytes, thread_id: str | None, labels: list[str]) -> str:
        with self._state:
            message_id = format(next(self._ids), "x")
            self._history_id += 7  # Gmail history ids grow, not by one
            self.messages[message_id] = StoredMessage(
                message_id, thread_id or message_id, raw, labels, int(time.time() * 1000), self._history_id
            )
            self._history.append((self._history_id, message_id))
            return message_id

    # -- HTTP

    def handle(self, request: Received) -> Reply:
        if request.path == "/token":
            return self._token(request)
        user = re.match(_USER, request.path)
        if not user:
            return NOT_FOUND
        if request.headers.get("authorization", "").removeprefix("Bearer ") not in self.access_tokens:
            return UNAUTHENTICATED
        if user["user"] not in ("me", self.address):
            return google_error(403, "Delegation denied", "forbidden", "PERMISSION_DENIED")
        rest = request.path[user.end() :]
        if request.method == "GET" and rest == "/profile":
            return Reply.json(
                200,
                {
                    "emailAddress": self.address,
                    "messagesTotal": len(self.messages),
                    "threadsTotal": len({m.thread_id for m in self.messages.values()}),
                    "historyId": str(self._history_id),
                },
            )
        if request.method == "POST" and rest == "/watch":
            body = request.json()
            if not re.fullmatch(r"projects/[^/]+/topics/[^/]+", body.get("topicName", "")):
                return google_error(400, "Invalid topicName", "invalidArgument", "INVALID_ARGUMENT")
            expiration = int((time.time() + 7 * 86400) * 1000)
            return Reply.json(200, {"historyId": str(self._history_id), "expiration": str(expiration)})
        if request.method == "GET" and rest == "/history":
            return self._history_list(request)
        if request.method == "GET" and rest == "/messages":
            return self._messages_list(request)
        if request.method == "POST" and rest == "/messages/send":
            return self._send(request)
        match = re.fullmatch(r"/messages/(\w+)", rest)
        if request.method == "GET" and match:
            return self._get(match[1], request.param("format", "full"))
        return NOT_FOUND

    def _token(self, request: Received) -> Reply:
        form = request.form()
        if (
            form.get("grant_type") != "refresh_token"
            or form.get("refresh_token") != self.refresh_token
            or form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return Reply.json(400, {"error": "invalid_grant", "error_description": "Bad Request"})
        token = "ya29.fake-" + secrets.token_urlsafe(16)
        self.access_tokens.add(token)
        return Reply.json(
            200,
            {
                "access_token": token,
                "expires_in": 3599,
                "scope": form.get("scope", ""),
                "token_type": "Bearer",
            },
        )

    def _history_list(self, request: Received) -> Reply:
        start = request.param("startHistoryId")
        if not start or not start.isdigit():
            return google_error(400, "Invalid startHistoryId", "invalidArgument", "INVALID_ARGUMENT")
        if int(start) < self._oldest_kept:
            return NOT_FOUND
        page_size = int(request.param("maxResults", "100"))
        offset = int(request.param("pageToken", "0") or 0)
        with self._state:
            records = [(h, m) for h, m in self._history if h > int(start)]
            current = self._history_id
        page = records[offset : offset + page_size]
        body: dict = {"historyId": str(current)}
        if page:
            body["history"] = [
                {
                    "id": str(h),
                    "messages": [{"id": m, "threadId": self.messages[m].thread_id}],
                    "messagesAdded": [
                        {
                            "message": {
                                "id": m,
                                "threadId": self.messages[m].thread_id,
                                "labelIds": self.messages[m].labels,
                            }
                        }
                    ],
                }
                for h, m in page
            ]
        if offset + page_size < len(records):
            body["nextPageToken"] = str(offset + page_size)
        return Reply.json(200, body)

    def _messages_list(self, request: Received) -> Reply:
        query = request.param("q", "") or ""
        limit = int(request.param("maxResults", "100"))
        newest_first = sorted(self.messages.values(), key=lambda m: m.history_id, reverse=True)
        if "in:inbox" in query:
            newest_first = [m for m in newest_first if "INBOX" in m.labels]
        days = re.search(r"newer_than:(\d+)d", query)
        if days:
            cutoff = (time.time() - int(days[1]) * 86400) * 1000
            newest_first = [m for m in newest_first if m.internal_ms >= cutoff]
        chosen = newest_first[:limit]
        body: dict = {"resultSizeEstimate": len(chosen)}
        if chosen:
            body["messages"] = [{"id": m.id, "threadId": m.thread_id} for m in chosen]
        return Reply.json(200, body)

    def _get(self, message_id: str, fmt: str) -> Reply:
        stored = self.messages.get(message_id)
        if stored is None:
            return NOT_FOUND
        parsed = email.message_from_bytes(stored.raw, policy=email.policy.default)
        resource = {
            "id": stored.id,
            "threadId": stored.thread_id,
            "labelIds": stored.labels,
            "snippet": "",
            "sizeEstimate": len(stored.raw),
            "historyId": str(stored.history_id),
            "internalDate": str(stored.internal_ms),
        }
        if fmt == "raw":
            resource["raw"] = base64.urlsafe_b64encode(stored.raw).decode()
        else:
            resource["payload"] = gmail_payload(parsed)
        return Reply.json(200, resource)

    def _send(self, request: Received) -> Reply:
        body = request.json()
        try:
            raw = base64.urlsafe_b64decode(body["raw"] + "=" * (-len(body["raw"]) % 4))
        except (KeyError, ValueError):
            return google_error(
                400,
                "'raw' RFC822 payload message string or uploading message via /upload/* URL required",
                "invalidArgument",
                "INVALID_ARGUMENT",
            )
        mime = email.message_from_bytes(raw, policy=email.policy.default)
        if not mime["To"]:
            return google_error(400, "Invalid To header", "invalidArgument", "INVALID_ARGUMENT")
        thread_id = body.get("threadId")
        if thread_id and not any(m.thread_id == thread_id for m in self.messages.values()):
            return NOT_FOUND
        message_id = self._add(raw, thread_id, ["SENT"])
        stored = self.messages[message_id]
        self.sent.append(SentMessage(message_id, stored.thread_id, thread_id, mime))
        return Reply.json(200, {"id": message_id, "threadId": stored.thread_id, "labelIds": ["SENT"]})
