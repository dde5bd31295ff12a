"""`make soak`: the seeds' 24-hour readiness test in miniature (not in CI). Default 30 minutes
(SOAK_MINUTES to change) on the whole product under `make run`'s supervisor (the chaos suite's
stack: tests/chaos/harness.py):

- Locust web-form users (tests/load/locustfile.py: submitters and ticket-page pollers), signed
  WhatsApp webhooks and Gmail pushes, in the proportions of the seeds' 24-hour test (100+ web,
  50+ email, 50+ WhatsApp: half web, a quarter each); one email customer in ten writes again
  through the web form of a host page that vouches for the email: the cross-channel customers;
- a random process kind SIGKILLed every SOAK_KILL_EVERY_S seconds (150; the seeds kill a pod every
  2 hours of 24: twelve kills a run);
- the edge's /health probed every second: uptime;
- at the end, every accepted message is checked in the database and the channels' fakes, and
  then the overload step: SOAK_OVERLOAD_USERS (1,000) Locust users for SOAK_OVERLOAD_S (60) s
  against the edge, counting accepted, refused (503/429) and failed requests, and checking every
  accepted submission is answered once.

Printed, and saved as artifacts/soak/soak-<time>.json: uptime, p95 reply time per channel,
escalation rate, cross-channel identification rate, dead letters, messages lost and doubled.
Exits 1 when a message was lost or doubled.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import sys
import time
from datetime import datetime, timezone

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from devstack import REPO_ROOT
from services.common import topics
from tests.chaos.harness import CHAOS_STACK, KILLED, ChaosStack, Traffic, web_replies
from tests.load.overload import run_overload

ARTIFACTS = REPO_ROOT / "artifacts" / "soak"


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


MINUTES = _env_float("SOAK_MINUTES", 30)
MESSAGES_PER_MINUTE = _env_float("SOAK_MESSAGES_PER_MINUTE", 12)  # WhatsApp + email; web is Locust's
WEB_USERS = int(_env_float("SOAK_WEB_USERS", 8))  # a quarter submit (every 5-10 s), the rest poll
KILL_EVERY_S = _env_float("SOAK_KILL_EVERY_S", 150)
ANSWER_TIMEOUT_S = _env_float("SOAK_ANSWER_TIMEOUT_S", 300)
OVERLOAD_USERS = int(_env_float("SOAK_OVERLOAD_USERS", 1000))
OVERLOAD_S = _env_float("SOAK_OVERLOAD_S", 60)
CROSS_CHANNEL_SHARE = 0.1


def p95(values: list[float]) -> float | None:
    if len(values) < 2:
        return values[0] if values else None
    return statistics.quantiles(values, n=20)[-1]


class Soak:
    def __init__(self, stack: ChaosStack, http: httpx.AsyncClient) -> None:
        self.stack = stack
        self.http = http
        self.traffic = Traffic(stack, http, "soak")
        self.kills: list[dict] = []
        self.probes = {"ok": 0, "down": 0}
        self.cross: list = []  # the cross-channel customers' web messages

    async def uptime(self, until: float) -> None:
        while time.monotonic() < until:
            started = time.monotonic()
            try:
                ok = (await self.http.get("/health", timeout=2)).status_code == 200
            except httpx.HTTPError:
                ok = False
            self.probes["ok" if ok else "down"] += 1
            await asyncio.sleep(max(0.0, 1 - (time.monotonic() - started)))

    async def killer(self, until: float) -> None:
        while True:
            await asyncio.sleep(KILL_EVERY_S * random.uniform(0.7, 1.3))
            if time.monotonic() >= until:
                return
            name = random.choice(KILLED)
            began = time.monotonic()
            print(f"soak: SIGKILL {name}", flush=True)
            await self.stack.kill(name)
            await self.stack.until_restarted()
            self.kills.append({"process": name, "back_after_s": round(time.monotonic() - began, 1)})

    async def customers(self, until: float) -> None:
        """WhatsApp and email customers (half each), one message a customer, plus the
        cross-channel ones: an email customer writing again through a vouching host page."""
        sent = 0
        while time.monotonic() < until:
            channel = ("whatsapp", "email")[sent % 2]
            message = await self.traffic.send(channel, text=random.choice(QUESTIONS))
            if channel == "email" and random.random() < CROSS_CHANNEL_SHARE * 2:
                await asyncio.sleep(random.uniform(5, 20))
                self.cross.append(await self.traffic.send("web", message.address, proven=True,
                                                          text="Following up on my email from earlier."))
            sent += 1
            await asyncio.sleep(60 / MESSAGES_PER_MINUTE)


QUESTIONS = [
    "How do I export my board to CSV?",
    "Can I get a refund for last month?",
    "How many members can a workspace have on the Team plan?",
    "My automation did not run this morning, what happened?",
    "Does Flowboard integrate with GitHub?",
    "I want to talk to a person about our contract.",
]


async def web_outcomes(ticket_ids: list[str]) -> dict:
    """The web tickets' fate, from the database: answered (at least one delivered reply), lost
    (none), doubled (more than one), and the p95 of ticket created → first reply delivered."""
    found = await web_replies(CHAOS_STACK.postgres.admin_dsn, ticket_ids)
    answered = [reply_s for n, reply_s in found.values() if n >= 1]
    return {"accepted": len(ticket_ids), "answered": len(answered), "lost": len(ticket_ids) - len(answered),
            "doubled": sum(1 for n, _ in found.values() if n > 1),
            "p95_reply_s": p95([r for r in answered if r is not None])}


async def until_web_answered(ticket_ids: list[str], timeout_s: float, others: Traffic | None = None) -> dict:
    """Waits (at most `timeout_s`) until every ticket — and every message of `others` — is
    answered, then a few seconds more so a second reply shows; the web tickets' outcome."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:  # `others` is looked at by its watcher meanwhile
        if not (await web_outcomes(ticket_ids))["lost"] and (others is None or others.all_answered()):
            break
        await asyncio.sleep(2)
    await asyncio.sleep(5)
    if others:
        await others.look()
    return await web_outcomes(ticket_ids)


async def database_figures(cross_tickets: list[str]) -> dict:
    conn = await asyncpg.connect(CHAOS_STACK.postgres.admin_dsn)
    try:
        tickets = await conn.fetchrow(
            "SELECT count(*) AS n, count(*) FILTER (WHERE status = 'escalated') AS escalated FROM conversation.tickets")
        identified = await conn.fetchval(
            """SELECT count(*) FROM conversation.tickets t WHERE t.ticket_id = ANY($1::uuid[])
               AND EXISTS (SELECT 1 FROM conversation.messages m
                           WHERE m.customer_id = t.customer_id AND m.channel = 'email')""", cross_tickets)
    finally:
        await conn.close()
    return {
        "tickets": tickets["n"],
        "escalation_rate": round(tickets["escalated"] / tickets["n"], 3) if tickets["n"] else None,
        "cross_channel_customers": len(cross_tickets),
        "cross_channel_identification_rate": round(identified / len(cross_tickets), 3) if cross_tickets else None,
    }


async def dead_letters() -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=CHAOS_STACK.kafka.bootstrap_servers)
    await consumer.start()
    try:
        parts = [TopicPartition(topics.DLQ, p) for p in (consumer.partitions_for_topic(topics.DLQ) or {0})]
        return sum((await consumer.end_offsets(parts)).values())
    finally:
        await consumer.stop()


async def main() -> int:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stack = ChaosStack()
    result: dict = {"minutes": MINUTES, "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    try:
        print(f"soak: starting the stack; then {MINUTES:g} min of traffic, a kill every ~{KILL_EVERY_S:g} s",
              flush=True)
        await stack.start()
        async with httpx.AsyncClient(base_url=stack.edge_url, timeout=30) as http:
            soak = Soak(stack, http)
            until = time.monotonic() + MINUTES * 60
            background = [asyncio.create_task(soak.traffic.pubsub_retries()),
                          asyncio.create_task(soak.traffic.watch(every_s=1))]
            locust = asyncio.create_task(run_overload(stack.edge_url, WEB_USERS, MINUTES * 60, ticket_ids=True))
            await asyncio.gather(soak.uptime(until), soak.killer(until), soak.customers(until))
            web_run = await locust
            print("soak: traffic over; waiting for the last answers", flush=True)
            web = await until_web_answered(web_run.pop("ticket_ids"), ANSWER_TIMEOUT_S, soak.traffic)
            others = soak.traffic.outcome("soak")
            by_channel = {c: [m.answered_at - m.sent_at for m in soak.traffic.messages
                              if m.channel == c and m.answered_at is not None] for c in ("whatsapp", "email")}
            probes = soak.probes["ok"] + soak.probes["down"]
            result.update({
                "uptime": round(soak.probes["ok"] / probes, 5) if probes else None,
                "health_probes": soak.probes,
                "kills": soak.kills,
                "messages": {
                    "web": {**web, "refused": web_run["submit"]["refused"], "failed": web_run["submit"]["failed"]},
                    "whatsapp_email_and_cross_channel": {
                        "sent": others.sent, "accepted": others.accepted, "refused": others.refused,
                        "answered": others.answered, "lost": others.lost, "doubled": others.doubled,
                        "not_once": others.notes},
                },
                "p95_reply_s": {"web_form": web.pop("p95_reply_s"), **{c: p95(t) for c, t in by_channel.items()}},
                "dead_letters": await dead_letters(),
                **await database_figures([m.ticket_id for m in soak.cross if m.status == "accepted"]),
            })
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)

            print(f"soak: overload, {OVERLOAD_USERS} Locust users for {OVERLOAD_S:g} s", flush=True)
            overload = await run_overload(stack.edge_url, OVERLOAD_USERS, OVERLOAD_S, ticket_ids=True)
            answered = await until_web_answered(overload.pop("ticket_ids"), max(ANSWER_TIMEOUT_S, 600))
            result["overload"] = {
                "users": OVERLOAD_USERS, "seconds": OVERLOAD_S,
                "submit": {k: overload["submit"].get(k) for k in
                           ("accepted", "refused", "failed", "other", "statuses", "accepted_p95_s", "refused_p95_s")},
                "poll": {k: overload["poll"].get(k) for k in ("accepted", "refused", "failed", "other")},
                "errors": overload["errors"],
                "accepted_answered_once": answered["answered"] - answered["doubled"],
                "accepted_lost": answered["lost"], "accepted_doubled": answered["doubled"],
                "p95_reply_s": answered["p95_reply_s"], "load_average": overload["load_average"],
            }
            result["lost"] = web["lost"] + others.lost + answered["lost"]
            result["doubled"] = web["doubled"] + others.doubled + answered["doubled"]
    finally:
        await stack.stop()
        path = ARTIFACTS / f"soak-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
        path.write_text(json.dumps(result, indent=2, default=str))
        print(json.dumps(result, indent=2, default=str))
        print(f"soak: saved {path.relative_to(REPO_ROOT)}")
    return 1 if result.get("lost") or result.get("doubled") else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
