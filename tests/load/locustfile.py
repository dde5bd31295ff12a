"""Load test of the edge with Locust: web-form submitters and ticket-status pollers.

    locust -f tests/load/locustfile.py --headless -u 20 -r 5 -t 1m --host http://127.0.0.1:8080

against `make run` (or any edge). Users:

- WebFormSubmitter (weight 1): POST /support/submit with a customer question from the agent
  eval set, every 5-10 s, each from a new address. Accepted ticket ids go to a shared pool.
- TicketPoller (weight 3): GET /support/ticket/{id} for a recent ticket from that pool, every
  1-3 s, like the web form's ticket page. The first time a poller sees a ticket answered it
  also reports "submit → reply seen" (request type REPLY): time from the submit to that poll,
  an upper bound of the pipeline's end-to-end time, by up to one polling interval.

Every request carries W3C baggage `synthetic_request=true` (the edge's OpenTelemetry
propagators put it in the trace context, so synthetic traffic can be told apart downstream)
and the User-Agent `flowboard-locust`.

Rate limits: the edge allows 60 POSTs per minute per client IP by default and all Locust
users share 127.0.0.1. 20 users (5 submitters) stay under it; for more, start the stack with
`RATE_LIMIT_PER_IP=100000/minute make run`. A 429 is reported as a failure saying so.
The ticket pool lives in the Locust process: in distributed mode each worker has its own.

`python -m tests.load.overload` runs these users for a while and sorts every answer into accepted,
refused (503 / 429 with Retry-After) and failed (no answer, or another 5xx), as a JSON summary.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
import uuid
from collections import deque
from pathlib import Path

from locust import HttpUser, between, events, task

SYNTHETIC_HEADERS = {"baggage": "synthetic_request=true", "User-Agent": "flowboard-locust"}
_EVAL = Path(__file__).resolve().parents[1] / "agent" / "eval" / "tickets.jsonl"
_FALLBACK = [
    "How do I reset my password? The link never seems to come.",
    "Can I export a board to CSV?",
    "How many members can a workspace have on the Team plan?",
    "My automation did not run this morning, what happened?",
]
_CATEGORIES = ["general", "technical", "billing", "feedback", "bug_report"]
_ANSWERED = {"answered", "escalated", "resolved"}


def _questions() -> list[tuple[str, str]]:
    """(subject, message) pairs the form accepts."""
    try:
        rows = [json.loads(line) for line in _EVAL.read_text().splitlines() if line.strip()]
    except OSError:
        return [("Question about Flowboard", m) for m in _FALLBACK]
    out = []
    for r in rows:
        message = r["message"].strip()
        if len(message) >= 10:
            subject = r["subject"].strip()
            out.append((subject if len(subject) >= 5 else "Question about Flowboard", message[:5000]))
    return out or [("Question about Flowboard", m) for m in _FALLBACK]


QUESTIONS = _questions()
# ticket id → submit time (time.time()), newest last; shared by every user of this process.
TICKETS: dict[str, float] = {}
RECENT: deque[str] = deque(maxlen=200)
# Every ticket id the edge accepted (202), in order: tests/load/overload.py hands them to a caller
# that checks each was answered once.
ACCEPTED: list[str] = []


class WebFormSubmitter(HttpUser):
    weight = 1
    wait_time = between(5, 10)
    host = "http://127.0.0.1:8080"

    @task
    def submit(self) -> None:
        subject, message = random.choice(QUESTIONS)
        form = {
            "name": "Locust Customer",
            "email": f"locust-{uuid.uuid4().hex[:12]}@example.com",
            "subject": subject,
            "category": random.choice(_CATEGORIES),
            "message": message,
        }
        submitted = time.time()
        with self.client.post("/support/submit", json=form, headers=SYNTHETIC_HEADERS,
                              name="POST /support/submit", catch_response=True) as r:
            if r.status_code == 202:
                ticket_id = r.json()["ticket_id"]
                TICKETS[ticket_id] = submitted
                ACCEPTED.append(ticket_id)
                RECENT.append(ticket_id)
                r.success()
            elif r.status_code == 429:
                r.failure("429 rate limited: all users share one IP; start the edge with "
                          "RATE_LIMIT_PER_IP=100000/minute")
            else:
                r.failure(f"HTTP {r.status_code}: {r.text[:200]}")


class TicketPoller(HttpUser):
    weight = 3
    # The web form polls every 1 s at first and backs off to 15 s.
    wait_time = between(1, 3)
    host = "http://127.0.0.1:8080"

    @task
    def poll(self) -> None:
        if not RECENT:
            return  # nothing submitted yet
        ticket_id = random.choice(RECENT)
        with self.client.get(f"/support/ticket/{ticket_id}", headers=SYNTHETIC_HEADERS,
                             name="GET /support/ticket/[id]", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}: {r.text[:200]}")
                return
            r.success()
            status = r.json().get("status")
        submitted = TICKETS.get(ticket_id)
        if status in _ANSWERED and submitted is not None:
            # Reported once per ticket; a customer stops watching once the answer is there.
            del TICKETS[ticket_id]
            with contextlib.suppress(ValueError):
                RECENT.remove(ticket_id)
            events.request.fire(
                request_type="REPLY", name="submit → reply seen",
                response_time=(time.time() - submitted) * 1000, response_length=0,
                exception=None, context={},
            )
