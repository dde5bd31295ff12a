"""The Gmail API client the channel needs: async calls, each guarded by retries and the breaker.

Everything talks to Gmail through google-api-python-client (static discovery document, root
URL configurable so tests reach a local fake). The client is blocking (httplib2), so calls run
in worker threads, each with its own connection (httplib2 is not thread-safe), and every call
goes through the email channel's ChannelGuard (retries, then the circuit breaker).

Credentials (production), first match wins:
* GMAIL_SERVICE_ACCOUNT_FILE: a service-account key with domain-wide delegation for the
  gmail.readonly and gmail.send scopes; it impersonates GMAIL_SUPPORT_ADDRESS.
* GMAIL_OAUTH_CLIENT_ID, GMAIL_OAUTH_CLIENT_SECRET, GMAIL_OAUTH_REFRESH_TOKEN: an OAuth client
  and the support mailbox's refresh token (consumer Gmail, or Workspace without delegation).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import dataclass

import google.auth.credentials
import google.auth.exceptions
import google.oauth2.credentials
import google_auth_httplib2
import httplib2
from fte.common.v1 import channel_pb2
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from services.channels.resilience import BREAKERS, BreakerRegistry, ChannelGuard, SendFailed
from services.channels.settings import ChannelSettings
from services.common import channels as channel_names

CHANNEL_NAME = channel_names.name(channel_pb2.CHANNEL_EMAIL)
GMAIL_SCOPES = [
    "https://www.googleapis.com/auth/gmail.readonly",
    "https://www.googleapis.com/auth/gmail.send",
]



def gmail_credentials(settings: ChannelSettings) -> google.auth.credentials.Credentials:
    if settings.gmail_service_account_file:
        return service_account.Credentials.from_service_account_file(
            settings.gmail_service_account_file, scopes=GMAIL_SCOPES, subject=settings.gmail_support_address
        )
    if settings.gmail_oauth_refresh_token.get_secret_value():
        return google.oauth2.credentials.Credentials(
            token=None,
            refresh_token=settings.gmail_oauth_refresh_token.get_secret_value(),
            client_id=settings.gmail_oauth_client_id,
            client_secret=settings.gmail_oauth_client_secret.get_secret_value(),
            token_uri=settings.google_token_uri,
            scopes=GMAIL_SCOPES,
        )
    raise ValueError(
        "Gmail credentials are not configured: set GMAIL_SERVICE_ACCOUNT_FILE, or "
        "GMAIL_OAUTH_CLIENT_ID, GMAIL_OAUTH_CLIENT_SECRET and GMAIL_OAUTH_REFRESH_TOKEN"
    )


def is_transient(exc: BaseException) -> bool:
    """Worth another attempt: throttling (429, and Gmail's 403 rate limits), Google trouble,
    network, and auth failures (a credentials problem is ours to fix; mail waits meanwhile)."""
    if isinstance(exc, HttpError):
        return exc.resp.status in (401, 403, 408, 429) or exc.resp.status >= 500
    return isinstance(
        exc, (TimeoutError, ConnectionError, httplib2.HttpLib2Error, google.auth.exceptions.GoogleAuthError)
    )


class HistoryExpired(Exception):
    """history.list answered 404: the start historyId is older than Gmail keeps."""


@dataclass(frozen=True)
class AddedMessage:
    id: str
    labels: tuple[str, ...]


class GmailApi:
    """The Gmail calls the channel needs, async, each guarded by retries and the breaker."""

    def __init__(
        self,
        settings: ChannelSettings,
        credentials: google.auth.credentials.Credentials | None = None,
        registry: BreakerRegistry = BREAKERS,
    ) -> None:
        self.settings = settings
        self.user = settings.gmail_user_id
        self._credentials = credentials or gmail_credentials(settings)
        self._service = build(
            "gmail",
            "v1",
            http=self._http(),
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": settings.gmail_api_base_url},
        )
        self.guard = ChannelGuard(CHANNEL_NAME, is_transient, settings, registry)

    def _http(self) -> google_auth_httplib2.AuthorizedHttp:
        return google_auth_httplib2.AuthorizedHttp(
            self._credentials, http=httplib2.Http(timeout=self.settings.gmail_timeout_s)
        )

    async def _call(self, operation: str, make_request: Callable[[], object]) -> dict:
        def run() -> dict:
            # A fresh connection per call: httplib2.Http must not be shared across threads.
            return make_request().execute(http=self._http())

        return await self.guard.call(operation, lambda: asyncio.to_thread(run))

    @property
    def _users(self):
        return self._service.users()

    async def current_history_id(self) -> int:
        profile = await self._call("users.getProfile", lambda: self._users.getProfile(userId=self.user))
        return int(profile["historyId"])

    async def added_since(self, start_history_id: int) -> tuple[list[AddedMessage], int]:
        """Messages added since `start_history_id`, oldest first, and the mailbox's historyId now."""
        added: list[AddedMessage] = []
        page_token = None
        latest = start_history_id
        while True:
            try:
                page = await self._call(
                    "users.history.list",
                    lambda token=page_token: self._users.history().list(
                        userId=self.user,
                        startHistoryId=str(start_history_id),
                        historyTypes="messageAdded",
                        maxResults=500,
                        pageToken=token,
                    ),
                )
            except HttpError as exc:
                if exc.resp.status == 404:
                    raise HistoryExpired(str(start_history_id)) from exc
                raise
            for record in page.get("history", []):
                for item in record.get("messagesAdded", []):
                    msg = item.get("message", {})
                    added.append(AddedMessage(msg.get("id", ""), tuple(msg.get("labelIds", []))))
            latest = max(latest, int(page.get("historyId", latest)))
            page_token = page.get("nextPageToken")
            if not page_token:
                return added, latest

    async def recent_message_ids(self, query: str, limit: int) -> list[str]:
        """Newest first, at most `limit` (one page: the resync is bounded on purpose)."""
        page = await self._call(
            "users.messages.list",
            lambda: self._users.messages().list(userId=self.user, q=query, maxResults=limit),
        )
        return [m["id"] for m in page.get("messages", [])][:limit]

    async def get_message(self, message_id: str) -> dict | None:
        """The full message, or None when it no longer exists (deleted since the change)."""
        try:
            return await self._call(
                "users.messages.get",
                lambda: self._users.messages().get(userId=self.user, id=message_id, format="full"),
            )
        except HttpError as exc:
            if exc.resp.status == 404:
                return None
            raise

    async def watch(self, topic_name: str) -> dict:
        """(Re)starts push notifications for new inbox mail to `topic_name`."""
        body = {"topicName": topic_name, "labelIds": ["INBOX"], "labelFilterBehavior": "include"}
        return await self._call("users.watch", lambda: self._users.watch(userId=self.user, body=body))

    async def send(self, raw: bytes, thread_id: str = "") -> dict:
        body: dict[str, str] = {"raw": base64.urlsafe_b64encode(raw).decode()}
        if thread_id:
            body["threadId"] = thread_id
        try:
            return await self._call(
                "users.messages.send", lambda: self._users.messages().send(userId=self.user, body=body)
            )
        except HttpError as exc:
            if is_transient(exc):
                raise
            raise SendFailed(f"gmail refused the message ({exc.resp.status}): {exc.reason}"[:500]) from exc
