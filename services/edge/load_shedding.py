"""The edge's bounded in-flight limit: past EDGE_MAX_IN_FLIGHT requests being handled in this
process, a request is answered at once with 503, `Retry-After` and a JSON `detail`, and the
connection stays open for the retry.

Why this and not what exists:

- uvicorn's `limit_concurrency` counts open *connections* as well as tasks, so a thousand idle
  keep-alive connections (browsers, a load balancer's pool) would have it refuse everything,
  probes included; its 503 is a plain-text "Service Unavailable" with no `Retry-After`, and it
  cannot spare `/health`, `/ready` and `/metrics`.
- Starlette's `BaseHTTPMiddleware` (`@app.middleware("http")`) runs every request through a
  task group and memory streams: it would add cost to every request served, the opposite of the
  point. This is a plain ASGI middleware wrapping the whole traced app (`build` in
  `__main__.py`): a shed request costs a comparison and two `send`s (~1 µs), with no span,
  routing, validation, rate limiting, Kafka or HTTP metrics.

503, not 429: 429 says "you sent too many", and the web form tells the customer they are rate
limited; 503 + `Retry-After` says the service is busy (RFC 9110 §15.6.4), which the form, Twilio
and Pub/Sub already retry (the form with the same Idempotency-Key, so a retry names the same
ticket). Nothing was published for a shed request, so a retry cannot double anything.

The limit is per process: with EDGE_WORKERS=N the edge holds at most N x EDGE_MAX_IN_FLIGHT.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from services.common.metrics import EDGE_SHED_REQUESTS

# Probes and the scrape answer even when the edge is saturated: an orchestrator must not restart a
# busy edge as a dead one, and the scrape is how operators see the shedding.
ALWAYS_SERVED = ("/health", "/ready", "/metrics")


class LoadShedding:
    """ASGI middleware: at most `max_in_flight` HTTP requests (not counting `always_served`
    paths) inside `app` at once; the others get 503 with `Retry-After: retry_after_s`."""

    def __init__(self, app: ASGIApp, max_in_flight: int, retry_after_s: int,
                 always_served: Iterable[str] = ALWAYS_SERVED) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self._always_served = frozenset(always_served)
        body = json.dumps({"detail": f"the service is busy; retry in {retry_after_s} s"}).encode()
        # Built once: a refusal should cost next to nothing.
        self._start = {
            "type": "http.response.start", "status": 503,
            "headers": [(b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"retry-after", str(retry_after_s).encode())],
        }
        self._body = {"type": "http.response.body", "body": body}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._always_served:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            EDGE_SHED_REQUESTS.inc()
            # The body (if any) is left unread: uvicorn discards it and keeps the connection.
            await send(self._start)
            await send(self._body)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
