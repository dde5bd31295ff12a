"""A local chat webhook (Slack's incoming webhooks and the like): accepts JSON POSTs on any path,
keeps the bodies it accepted, and can be told to fail (`fail`, from FakeServer)."""

from __future__ import annotations

import threading

from tests.fakes.http import FakeServer, Received, Reply


class FakeWebhook(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.accepted: list[Received] = []  # answered 200, in order (scripted failures are not here)
        self._accepted_lock = threading.Lock()

    def handle(self, request: Received) -> Reply:
        if request.method != "POST":
            return Reply(405)
        if "application/json" not in request.headers.get("content-type", ""):
            return Reply(400, b"invalid_payload")
        try:
            body = request.json()
        except ValueError:
            return Reply(400, b"invalid_payload")
        if not isinstance(body, dict) or not body.get("text"):
            return Reply(400, b"no_text")  # what Slack answers a body without text
        with self._accepted_lock:
            self.accepted.append(request)
        return Reply(200, b"ok", {"Content-Type": "text/plain"})

    def hook_url(self, path: str = "/hooks/team") -> str:
        return f"{self.url}{path}"

    def bodies(self, path: str | None = None) -> list[dict]:
        """The JSON bodies accepted (on `path`), in order."""
        with self._accepted_lock:
            return [r.json() for r in self.accepted if path is None or r.path == path]
