"""Past EDGE_MAX_IN_FLIGHT requests in hand, the edge refuses at once with 503 + Retry-After and a
JSON detail, keeps the connection, still answers its probes and /metrics, publishes nothing for a
refused submission, and every submission it accepted is on Kafka. The edge runs for real, as
`python -m services.edge` builds it (`build`: traced, the limit outermost), under uvicorn against
the test Kafka. Submissions whose bodies are still arriving hold the places, so
the edge is saturated for as long as the test wants, without depending on how fast anything is."""

from __future__ import annotations

import asyncio
import json
import uuid
from urllib.parse import urlsplit

import httpx
from fte.events.v1 import events_pb2

from services.common import topics
from services.edge.__main__ import build
from tests.e2e.probes import read_topic
from tests.edge.conftest import edge_settings, serve_edge, valid_form
from tests.observability.scrape import parse
from tests.polling import until

LIMIT = 2
RETRY_AFTER_S = 3


class HeldSubmission:
    """A POST /support/submit whose body is only half sent: inside the edge, waiting for the rest."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rest: bytes) -> None:
        self.reader, self.writer, self.rest = reader, writer, rest

    @classmethod
    async def start(cls, port: int, form: dict) -> HeldSubmission:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = json.dumps(form).encode()
        writer.write(b"POST /support/submit HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
        await writer.drain()
        return cls(reader, writer, body[10:])

    async def finish(self) -> tuple[int, dict]:
        self.writer.write(self.rest)
        status, _, body = await read_response(self.reader)
        self.writer.close()
        return status, json.loads(body)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(head[0].split(" ", 2)[1]), headers, body


def form(tag: str, i: int | str) -> dict:
    return valid_form(email=f"shed-{tag}-{i}@example.com")


def assert_refused(reply: httpx.Response) -> None:
    assert reply.status_code == 503, reply.text
    assert reply.headers["retry-after"] == str(RETRY_AFTER_S)
    assert reply.headers["content-type"] == "application/json"
    assert "busy" in reply.json()["detail"]


async def test_past_the_in_flight_limit_the_edge_refuses_at_once_and_loses_nothing(
        stack, identity_address, conversation_address):
    settings = edge_settings(stack, identity_address, conversation_address,
                             edge_max_in_flight=LIMIT, edge_shed_retry_after_s=RETRY_AFTER_S)
    tag = uuid.uuid4().hex[:8]
    accepted: list[str] = []  # ticket ids answered 202
    refused: list[str] = []  # emails answered 503
    async with serve_edge(settings, build(settings)) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        port = urlsplit(url).port
        held = [await HeldSubmission.start(port, form(tag, f"held-{i}")) for i in range(LIMIT)]

        # Once the edge has read both held requests' headers, every other one is refused; one
        # sent before that may still be let in (and must then be on Kafka like any other).
        async def refused_once():
            email = f"shed-{tag}-probe-{uuid.uuid4().hex[:6]}@example.com"
            reply = await http.post("/support/submit", json=valid_form(email=email))
            if reply.status_code == 202:
                accepted.append(reply.json()["ticket_id"])
                return None
            assert_refused(reply)
            refused.append(email)
            return reply

        await until(refused_once, "a submission refused while two are held", timeout=30, every=0.05)

        # Saturated: a burst is refused whole, each at once with Retry-After and no connection lost.
        burst = await asyncio.gather(*(http.post("/support/submit", json=form(tag, i)) for i in range(20)))
        for i, reply in enumerate(burst):
            assert_refused(reply)
            refused.append(form(tag, i)["email"])

        # The probes and the scrape are never refused.
        assert (await http.get("/health")).status_code == 200
        ready = await http.get("/ready")
        assert ready.status_code == 200, ready.text
        scraped = parse((await http.get("/metrics")).text)
        assert scraped.value("fte_edge_shed_requests_total") >= 21

        # A refusal keeps the connection: the next request on it is answered.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = json.dumps(form(tag, "same-connection")).encode()
        writer.write(b"POST /support/submit HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body)
        status, headers, _ = await read_response(reader)
        assert (status, headers["retry-after"]) == (503, str(RETRY_AFTER_S))
        assert headers.get("connection") != "close"
        refused.append(form(tag, "same-connection")["email"])
        writer.write(b"GET /health HTTP/1.1\r\nHost: edge\r\n\r\n")
        status, _, _ = await read_response(reader)
        assert status == 200
        writer.close()

        # The held submissions complete normally once their bodies arrive.
        for h in held:
            status, answer = await h.finish()
            assert status == 202, answer
            accepted.append(answer["ticket_id"])

        # Unsaturated again, many at once: each accepted or refused, never a failed connection.
        emails = [form(tag, f"later-{i}")["email"] for i in range(40)]
        later = await asyncio.gather(*(http.post("/support/submit", json=valid_form(email=e)) for e in emails))
        for email, reply in zip(emails, later):
            if reply.status_code == 202:
                accepted.append(reply.json()["ticket_id"])
            else:
                assert_refused(reply)
                refused.append(email)
        assert any(r.status_code == 202 for r in later)

    mine = [events_pb2.InboundMessage.FromString(r.value)
            for r in await read_topic(stack.bootstrap_servers, topics.INCOMING, key_prefix=f"shed-{tag}-")]
    assert sorted(e.ticket_id for e in mine) == sorted(accepted)
    assert not {e.sender.email for e in mine} & set(refused)
