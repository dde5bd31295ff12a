"""With Kafka down the edge keeps what it accepts in its outbox (schema `edge`) and answers the
provider success: Twilio does not resend a WhatsApp message the edge refused. Once Kafka is back
the relay publishes the kept messages in order per sender, each once, and the outbox empties.
Only when PostgreSQL is down as well does the edge answer 503 + Retry-After; PostgreSQL down
alone changes nothing for the customer."""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from urllib.parse import urlsplit

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from fte.events.v1 import events_pb2

from devstack import DEFAULT_DATA_ROOT, kafka, migrate
from services.channels import whatsapp
from services.common import topics
from services.edge.app import create_app
from tests.channels.conftest import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_BASE, WHATSAPP_FROM, channel_settings
from tests.e2e.pipeline import free_port
from tests.edge.conftest import edge_settings, serve_edge, valid_form
from tests.fakes.twilio import inbound_params, post_webhook
from tests.relay import Relay

PHONE = "+351912000401"
# This test's own outbox table: every edge of the session on schema `edge` (the e2e pipeline's,
# when it runs first) would relay the rows stored there, to its own Kafka.
OWN_SCHEMA = "edge_outbox_test"


async def _own_outbox(admin_dsn: str, tmp_path) -> str:
    """The edge's migrations applied to schema OWN_SCHEMA, with a role of its own; its DSN."""
    (tmp_path / OWN_SCHEMA).mkdir()
    for sql in (migrate.SCHEMA_DIR / "edge").glob("*.sql"):
        shutil.copy(sql, tmp_path / OWN_SCHEMA / sql.name)
    await migrate.migrate(admin_dsn, schema_dir=tmp_path, services=[OWN_SCHEMA])
    return migrate.service_dsn(admin_dsn, OWN_SCHEMA)


async def _incoming(bootstrap: str, key: str | None = None) -> list[tuple[str, events_pb2.InboundMessage]]:
    """Every (key, message) on fte.tickets.incoming, in each partition's order; with `key`, only
    that key's (the session's broker also holds other tests' records, poison ones included)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(topics.INCOMING, p) for p in range(kafka.topic_partitions()[topics.INCOMING])]
        consumer.assign(parts)
        end = await consumer.end_offsets(parts)
        for tp in parts:
            consumer.seek(tp, 0)
        out: list[tuple[str, events_pb2.InboundMessage]] = []
        seen = 0
        for _ in range(50):
            if seen >= sum(end.values()):
                break
            for records in (await consumer.getmany(*parts, timeout_ms=500)).values():
                seen += len(records)
                out += [(r.key.decode(), events_pb2.InboundMessage.FromString(r.value)) for r in records
                        if key is None or r.key == key.encode()]
        return out
    finally:
        await consumer.stop()


async def _whatsapp(url: str, body: str) -> httpx.Response:
    sid = "SM" + uuid.uuid4().hex
    params = inbound_params(ACCOUNT_SID, sid, f"whatsapp:{PHONE}", WHATSAPP_FROM, body)
    return await asyncio.to_thread(post_webhook, url, f"{PUBLIC_BASE}{whatsapp.INBOUND_PATH}", params, AUTH_TOKEN)


async def test_outbox_takes_what_kafka_cannot_and_relays_it_in_order_once(
        stack, identity_address, conversation_address, service_auth, tmp_path):
    data_dir = DEFAULT_DATA_ROOT / "test-kafka-outage"
    shutil.rmtree(data_dir, ignore_errors=True)
    cfg = kafka.KafkaConfig(data_dir=data_dir, port=free_port(), controller_port=free_port())
    admin = urlsplit(stack.admin_dsn)
    postgres = Relay(admin.hostname, admin.port)
    await postgres.start()
    db = await asyncpg.connect(stack.admin_dsn)
    await kafka.start(cfg)
    try:
        await kafka.ensure_topics(cfg.bootstrap_servers, kafka.topic_partitions(), 1)
        own_dsn = await _own_outbox(stack.admin_dsn, tmp_path)
        waiting = lambda: db.fetchval(f"SELECT count(*) FROM {OWN_SCHEMA}.outbox")  # noqa: E731
        settings = edge_settings(
            stack, identity_address, conversation_address, **service_auth("edge"),
            kafka_bootstrap_servers=cfg.bootstrap_servers, publish_timeout_s=2.0,
            database_url=postgres.dsn(own_dsn), outbox_timeout_s=2.0, relay_poll_s=0.2,
        )
        app = create_app(settings, channel_settings())
        async with serve_edge(settings, app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
            async def submit(email: str) -> httpx.Response:
                return await http.post("/support/submit", json=valid_form(email=email),
                                       headers={"Idempotency-Key": str(uuid.uuid4())})

            before = await submit("before@example.com")
            assert before.status_code == 202
            assert (await http.get("/health")).json()["outbox"] == {"state": "ok", "depth": 0, "oldest_age_s": 0}

            kafka.stop(cfg)
            first = await _whatsapp(url, "first: my board is gone")
            assert first.status_code == 200, first.text
            form = await submit("outage@example.com")
            assert form.status_code == 202, form.text
            # The sender has a message waiting: the next one queues behind it, Kafka or not.
            second = await _whatsapp(url, "second: and the backup too")
            assert second.status_code == 200, second.text
            assert await waiting() == 3
            outbox = (await http.get("/health")).json()["outbox"]
            assert outbox["state"] == "ok" and outbox["depth"] == 3 and outbox["oldest_age_s"] > 0
            # Still taking messages, so still in the Service.
            ready = await http.get("/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"]["kafka"].startswith("unreachable")
            assert ready.json()["checks"]["outbox"] == "ok"

            await postgres.cut()
            refused_form = await submit("refused@example.com")
            assert refused_form.status_code == 503, refused_form.text
            assert refused_form.headers["retry-after"] == "5"
            refused_message = await _whatsapp(url, "refused: nowhere to keep me")
            assert refused_message.status_code == 503
            assert refused_message.headers["retry-after"] == "5"
            assert (await http.get("/health")).json()["outbox"]["depth"] is None
            assert (await http.get("/ready")).status_code == 503
            assert await waiting() == 3

            await postgres.start()
            await kafka.start(cfg)
            deadline = time.monotonic() + 90
            while await waiting():
                assert time.monotonic() < deadline, "the relay never emptied the outbox"
                await asyncio.sleep(0.5)
            assert (await http.get("/health")).json()["outbox"]["depth"] == 0

            # PostgreSQL away while Kafka is up: the customer notices nothing.
            await postgres.cut()
            after = await submit("after@example.com")
            assert after.status_code == 202, after.text
            await postgres.start()

        on_topic = await _incoming(cfg.bootstrap_servers)
        texts = [m.content for k, m in on_topic if k == PHONE]
        # In order, the stored ones once each. A send that timed out is not withdrawn (the
        # producer retries it), so the first message, and the refused one that never reached
        # the outbox, may also land on their own: the same MessageSid, handled once downstream.
        assert list(dict.fromkeys(t for t in texts if not t.startswith("refused")))[:2] == [
            "first: my board is gone", "second: and the backup too"], texts
        assert texts.count("second: and the backup too") == 1, texts
        assert texts.count("first: my board is gone") <= 2, texts
        forms = [m.sender.email for k, m in on_topic if k != PHONE]
        assert {"before@example.com", "outage@example.com", "after@example.com"} <= set(forms)
        assert set(forms) <= {"before@example.com", "outage@example.com", "after@example.com",
                              "refused@example.com"}, forms
        assert forms.count("before@example.com") == forms.count("after@example.com") == 1, forms
        assert forms.count("outage@example.com") <= 2, forms
    finally:
        kafka.stop(cfg)
        await db.close()
        await postgres.cut()
        shutil.rmtree(data_dir, ignore_errors=True)


async def test_edge_starts_and_takes_messages_while_postgresql_is_down(stack):
    # Its outbox is a fallback: an edge (re)started during a PostgreSQL outage serves as usual.
    admin = urlsplit(stack.admin_dsn)
    postgres = Relay(admin.hostname, admin.port)
    await postgres.start()
    await postgres.cut()
    settings = edge_settings(
        stack, "127.0.0.1:1", "127.0.0.1:1",
        database_url=postgres.dsn(migrate.service_dsn(stack.admin_dsn, "edge")), outbox_timeout_s=2.0,
    )
    async with serve_edge(settings) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        outbox = (await http.get("/health")).json()["outbox"]
        assert outbox["state"].startswith("unreachable") and outbox["depth"] is None, outbox
        reply = await http.post("/support/submit", json=valid_form(email="pg-down@example.com"))
        assert reply.status_code == 202, reply.text
    ticket_id = reply.json()["ticket_id"]
    assert ticket_id in {m.ticket_id for _, m in await _incoming(stack.bootstrap_servers, "pg-down@example.com")}
