"""The chaos suite's stack and traffic: `python -m devstack run` — the supervisor `make run`
uses, restarting what crashes — over a PostgreSQL and a Kafka this harness owns (so it can stop
them), PostgreSQL reached through a TCP relay (so the network to it can be cut), and the outside
world's fakes (Twilio, Gmail + Google's OIDC keys), which can answer 503 for a while.

Each case sends a burst of mixed traffic — web-form submits, signed WhatsApp webhooks, emails
that Gmail announces by Pub/Sub push — a third before the fault, a third during it, a third after,
then waits for the answers. The verdict: every accepted message gets exactly one reply (an answer
or a handover), none twice, none lost.

"Accepted" is what the customer was told: a 2xx from the edge for the form and WhatsApp (Twilio
does not resend a message the edge refused: a refusal is counted apart), and every email (Gmail
holds the mail; Pub/Sub retries a refused push, and so does this harness, every 2 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import time
import uuid
from email.utils import parseaddr
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field

import asyncpg
import httpx

from devstack import DEFAULT_DATA_ROOT, REPO_ROOT, kafka, postgres
from devstack.stack import StackConfig, down
from services.edge.identity_token import identity_token
from tests.e2e.channel_loop import (
    callback_query,
    customer_email,
    new_email_address,
    new_message_sid,
    new_phone,
    post_whatsapp,
    push_gmail,
)
from tests.e2e.conftest import E2E_ENV, SUPPORT_ADDRESS, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, ChannelFakes
from tests.e2e.pipeline import pipeline_processes
from tests.fakes.gmail import BACKEND_ERROR, FakeGmail
from tests.fakes.google_oidc import FakeGoogleCerts
from tests.fakes.twilio import SERVICE_UNAVAILABLE, FakeTwilio
from tests.ports import WORKER, free_port, stack_port
from tests.relay import Relay

CHAOS_ROOT = DEFAULT_DATA_ROOT / ("test-chaos" + (f"-{WORKER}" if WORKER else ""))
ARTIFACTS = REPO_ROOT / "artifacts" / "chaos"
CHAOS_STACK = StackConfig(
    postgres=postgres.PostgresConfig(data_dir=CHAOS_ROOT / "postgres", port=stack_port(15492)),
    kafka=kafka.KafkaConfig(data_dir=CHAOS_ROOT / "kafka", port=stack_port(19152),
                            controller_port=stack_port(19153)),
)
# The subject of the email telling a web-form customer their ticket has a reply
# (services/channels/web.py web_reply_notification).
NOTICE_SUBJECT = "We replied"
# The process kinds the suite kills, one case each.
KILLED = ("edge", "worker", "dispatcher", "identity", "conversation", "agent", "notifier")


@dataclass(frozen=True)
class Profile:
    """How hard a run pushes: `make chaos` (full) or the short form `make test` runs."""

    name: str
    messages: int  # per case, a third before, during and after the fault
    outage_s: float  # Kafka / PostgreSQL stopped, network cut
    channel_outage_s: float  # a channel API answering 503
    answer_timeout_s: float  # after the last message, until every accepted one is answered


FULL = Profile("full", messages=60, outage_s=30, channel_outage_s=60, answer_timeout_s=300)
SHORT = Profile("short", messages=9, outage_s=6, channel_outage_s=8, answer_timeout_s=240)


@dataclass
class Message:
    channel: str  # web | whatsapp | email
    address: str  # the customer's email or phone: one message per customer
    sent_at: float
    status: str = "pending"  # accepted | refused (what the customer was told)
    ticket_id: str = ""  # web form
    pushed: bool = True  # email: Pub/Sub's push was taken (else it is pushed again)
    answered_at: float | None = None
    replies: int = 0


@dataclass
class Outcome:
    fault: str
    sent: int
    accepted: int
    refused: int
    answered: int
    lost: int
    doubled: int
    worst_reply_s: float | None
    notes: list[str] = field(default_factory=list)

    def row(self) -> tuple[str, ...]:
        worst = f"{self.worst_reply_s:.1f} s" if self.worst_reply_s is not None else "-"
        return (self.fault, str(self.sent), str(self.accepted), str(self.refused), str(self.answered),
                str(self.lost), str(self.doubled), worst)


HEADER = ("fault", "sent", "accepted", "refused", "answered", "lost", "doubled", "worst reply")


def table(outcomes: list[Outcome]) -> str:
    rows = [HEADER, *(o.row() for o in outcomes)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def write_table(outcomes: list[Outcome], profile: Profile) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{profile.name}.txt").write_text(table(outcomes) + "\n")
    (ARTIFACTS / f"{profile.name}.json").write_text(json.dumps(
        {"profile": asdict(profile), "outcomes": [asdict(o) for o in outcomes]}, indent=2))


class ChaosStack:
    """The whole product under `python -m devstack run`, and the handles to hurt it."""

    def __init__(self) -> None:
        self.specs = pipeline_processes()
        edge = next(p for p in self.specs if p.name == "edge")
        self.edge_url = f"http://127.0.0.1:{edge.port}"
        self.state_file = CHAOS_ROOT / "processes.json"
        self.log_path = ARTIFACTS / "devstack.log"
        self.relay = Relay("127.0.0.1", CHAOS_STACK.postgres.port)
        self.fakes: ChannelFakes | None = None
        self._exit = contextlib.ExitStack()
        self._run: asyncio.subprocess.Process | None = None

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        down(CHAOS_STACK)
        # A fresh PostgreSQL and Kafka every run: an earlier run's Gmail checkpoint (a historyId
        # of another fake mailbox) would hide every new mail, its tickets would skew the figures.
        shutil.rmtree(CHAOS_ROOT, ignore_errors=True)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await asyncio.gather(postgres.start(CHAOS_STACK.postgres), kafka.start(CHAOS_STACK.kafka))
        await self.relay.start()
        twilio = self._exit.enter_context(FakeTwilio(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN))
        gmail = self._exit.enter_context(FakeGmail(SUPPORT_ADDRESS))
        google = self._exit.enter_context(FakeGoogleCerts())
        self.fakes = ChannelFakes(twilio, gmail, google, self.edge_url)
        moved = {p.name: {"port": p.port, "env": {k: v for k, v in p.env.items() if k == "METRICS_PORT"}}
                 for p in self.specs}
        self.state_file.unlink(missing_ok=True)
        env = {
            **os.environ, **E2E_ENV, **self.fakes.env(),
            "DATABASE_URL": self.admin_dsn_via_relay,
            "KAFKA_BOOTSTRAP_SERVERS": CHAOS_STACK.kafka.bootstrap_servers,
            "RATE_LIMIT_STORAGE_URI": "memory://",
            "FTE_DATA_DIR": str(CHAOS_ROOT / "devstack"),
            "FTE_JAEGER_OTLP_PORT": str(free_port()), "FTE_JAEGER_PORT": str(free_port()),
            "FTE_JAEGER_GRPC_PORT": str(free_port()),
            "FTE_DEVSTACK_PROCESSES": "tests.chaos.processes:PROCESSES",
            "FTE_CHAOS_PORTS": json.dumps(moved),
            "FTE_DEVSTACK_STATE": str(self.state_file),
            # Restarts come quickly: the suite measures what is lost, not how long a backoff is.
            "FTE_DEVSTACK_BACKOFF_INITIAL_S": "0.5", "FTE_DEVSTACK_BACKOFF_MAX_S": "4",
            "PYTHONPATH": f"{REPO_ROOT}:{REPO_ROOT}/gen/python",
        }
        log = open(self.log_path, "wb")
        self._run = await asyncio.create_subprocess_exec(
            str(REPO_ROOT / ".venv/bin/python"), "-m", "devstack", "run", cwd=REPO_ROOT, env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        await self._until(self._all_up, 300, "every process is up under `devstack run`")

    async def stop(self) -> None:
        if self._run and self._run.returncode is None:
            os.killpg(self._run.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self._run.wait(), 60)
            except asyncio.TimeoutError:
                os.killpg(self._run.pid, signal.SIGKILL)
                await self._run.wait()
        with contextlib.suppress(Exception):
            await self.relay.cut()
        self._exit.close()
        down(CHAOS_STACK)

    @property
    def admin_dsn_direct(self) -> str:
        """What the harness itself reads the database with: not through the relay it cuts."""
        return CHAOS_STACK.postgres.admin_dsn

    @property
    def admin_dsn_via_relay(self) -> str:
        return CHAOS_STACK.postgres.admin_dsn.replace(f":{CHAOS_STACK.postgres.port}/", f":{self.relay.port}/")

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    async def _until(self, check: Callable[[], Awaitable[bool] | bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._run and self._run.returncode is not None:
                raise RuntimeError(f"devstack run exited ({self._run.returncode}):\n{self.log_tail()}")
            result = check()
            if await result if asyncio.iscoroutine(result) else result:
                return
            await asyncio.sleep(0.25)
        raise TimeoutError(f"not within {timeout:.0f}s: {what}\n{self.log_tail()}")

    # ------------------------------------------------------------------ the supervisor's view

    def processes(self) -> dict[str, dict]:
        try:
            return json.loads(self.state_file.read_text())["processes"]
        except (OSError, ValueError, KeyError):
            return {}

    def _all_up(self) -> bool:
        procs = self.processes()
        return (len(procs) == len(self.specs) and all(p["state"] == "running" for p in procs.values())
                and "all processes up" in (self.log_path.read_text(errors="replace") if self.log_path.exists() else ""))

    async def kill(self, name: str) -> None:
        """SIGKILL to the process (its group: anything it started too), as an OOM kill would;
        the supervisor restarts it."""
        before = self.processes()[name]
        os.killpg(before["pid"], signal.SIGKILL)
        self._killed = (name, before["pid"], before["restarts"])

    async def until_restarted(self, timeout: float = 180) -> None:
        name, pid, restarts = self._killed

        async def back() -> bool:
            now = self.processes().get(name, {})
            if not (now.get("state") == "running" and now.get("pid") not in (None, pid)
                    and now.get("restarts", 0) > restarts):
                return False
            port = next(p.port for p in self.specs if p.name == name)
            if port is None:
                return True
            with contextlib.suppress(OSError):
                _, w = await asyncio.open_connection("127.0.0.1", port)
                w.close()
                return True
            return False

        await self._until(back, timeout, f"the supervisor restarts {name}")

    # ------------------------------------------------------------------ the servers

    async def stop_kafka(self) -> None:
        await asyncio.to_thread(kafka.stop, CHAOS_STACK.kafka)

    async def start_kafka(self) -> None:
        await kafka.start(CHAOS_STACK.kafka)

    async def stop_postgres(self) -> None:
        await asyncio.to_thread(postgres.stop, CHAOS_STACK.postgres)

    async def start_postgres(self) -> None:
        await postgres.start(CHAOS_STACK.postgres)

    async def cut_postgres_network(self) -> None:
        await self.relay.cut()

    async def restore_postgres_network(self) -> None:
        await self.relay.start()

    def channels_fail(self) -> None:
        """Twilio's Messages API and Gmail's send answer 503 until `channels_recover`."""
        assert self.fakes
        self.fakes.twilio.fail("POST", r"/Messages\.json$", SERVICE_UNAVAILABLE, times=10**9)
        self.fakes.gmail.fail("POST", r"/messages/send$", BACKEND_ERROR, times=10**9)

    def channels_recover(self) -> None:
        assert self.fakes
        self.fakes.twilio.recover()
        self.fakes.gmail.recover()


# ---------------------------------------------------------------------- traffic


class Traffic:
    """Customers writing in, each once, round-robin over the channels."""

    CHANNELS = ("web", "whatsapp", "email")

    def __init__(self, stack: ChaosStack, http: httpx.AsyncClient, label: str) -> None:
        self.stack = stack
        self.http = http
        self.label = label
        self.messages: list[Message] = []
        self._pushing = asyncio.Event()

    async def burst(self, n: int) -> None:
        await asyncio.gather(*(self.send(self.CHANNELS[(len(self.messages) + i) % 3]) for i in range(n)))

    async def send(self, channel: str, address: str = "", *, proven: bool = False,
                   text: str = "How do I export my board to CSV?") -> Message:
        """One customer message on `channel`, from `address` (a new customer when empty).
        `proven`: a web form sent from a host page that vouches for the email (identity token)."""
        fakes = self.stack.fakes
        assert fakes
        if channel == "web":
            m = Message("web", address or new_email_address(f"chaos-{self.label}"), time.monotonic())
            self.messages.append(m)
            form = {"name": "Chaos Customer", "email": m.address, "subject": "A question",
                    "category": "general", "message": text}
            if proven:
                form["identity_token"] = identity_token(m.address, E2E_ENV["WEBFORM_IDENTITY_SECRET"])
            try:
                r = await self.http.post("/support/submit", headers={"Idempotency-Key": str(uuid.uuid4())}, json=form)
            except httpx.HTTPError:
                m.status = "refused"
                return m
            m.status = "accepted" if r.status_code == 202 else "refused"
            m.ticket_id = r.json().get("ticket_id", "") if r.status_code == 202 else ""
        elif channel == "whatsapp":
            m = Message("whatsapp", address or new_phone(), time.monotonic())
            self.messages.append(m)
            try:
                r = await post_whatsapp(fakes, m.address, text, sid=new_message_sid())
            except httpx.HTTPError:
                m.status = "refused"
                return m
            m.status = "accepted" if r.status_code == 200 else "refused"
        else:
            m = Message("email", address or new_email_address(f"chaos-{self.label}"), time.monotonic(),
                        status="accepted")
            self.messages.append(m)
            fakes.gmail.deliver(customer_email(m.address, "A question", text))
            m.pushed = await self._push()
        return m

    async def _push(self) -> bool:
        try:
            return (await push_gmail(self.stack.fakes, self.http)).status_code in (200, 204)
        except httpx.HTTPError:
            return False

    async def watch(self, every_s: float = 0.5) -> None:
        """Looks every `every_s` seconds, so a reply's time is when it came (give or take that),
        not when someone next looked."""
        while True:
            await self.look()
            await asyncio.sleep(every_s)

    async def pubsub_retries(self) -> None:
        """Pub/Sub: a refused push is delivered again until it is taken."""
        while True:
            await asyncio.sleep(2)
            pending = [m for m in self.messages if m.channel == "email" and not m.pushed]
            if pending and await self._push():
                for m in pending:
                    m.pushed = True

    # ------------------------------------------------------------------ what came back

    async def look(self) -> None:
        """Counts each accepted message's replies, as its customer would see them: the web
        ticket's delivered replies (and email notices), the WhatsApp replies (by reply id) and
        the emails sent to the address. An address writes once per channel."""
        fakes = self.stack.fakes
        assert fakes
        web = [m for m in self.messages if m.channel == "web" and m.status == "accepted"]
        outbound = await web_replies(self.stack.admin_dsn_direct, [m.ticket_id for m in web])
        whatsapp: dict[str, set[str]] = {}
        for sent in list(fakes.twilio.messages):
            whatsapp.setdefault(sent.get("To", "").removeprefix("whatsapp:"), set()).add(
                callback_query(sent)["reply_id"])
        # Emails sent: answers to emails, and notices of a web ticket's reply ("We replied: …").
        emails: dict[str, int] = {}
        notices: dict[str, int] = {}
        for sent in list(fakes.gmail.sent):
            to = parseaddr(str(sent.mime["To"]))[1]
            kind = notices if str(sent.mime["Subject"]).startswith(NOTICE_SUBJECT) else emails
            kind[to] = kind.get(to, 0) + 1
        now = time.monotonic()
        for m in self.messages:
            if m.status != "accepted":
                continue
            if m.channel == "web":
                # The reply on the ticket page, announced by one email notice (a notice sent
                # twice is a reply sent twice). An address writes once on the web form.
                m.replies = max(outbound.get(m.ticket_id, (0, None))[0], notices.get(m.address, 0))
            elif m.channel == "whatsapp":
                m.replies = len(whatsapp.get(m.address, ()))
            else:
                m.replies = emails.get(m.address, 0)
            if m.replies and m.answered_at is None:
                m.answered_at = now

    def all_answered(self) -> bool:
        return all(m.replies >= 1 for m in self.messages if m.status == "accepted")

    def outcome(self, fault: str) -> Outcome:
        accepted = [m for m in self.messages if m.status == "accepted"]
        answered = [m for m in accepted if m.replies >= 1]
        latencies = [m.answered_at - m.sent_at for m in answered if m.answered_at is not None]
        return Outcome(
            fault=fault, sent=len(self.messages), accepted=len(accepted),
            refused=sum(1 for m in self.messages if m.status == "refused"),
            answered=len(answered), lost=len(accepted) - len(answered),
            doubled=sum(1 for m in accepted if m.replies > 1),
            worst_reply_s=max(latencies) if latencies else None,
            notes=[f"{m.channel} {m.address}: {m.replies} replies" for m in accepted if m.replies != 1],
        )


async def web_replies(admin_dsn: str, ticket_ids: list[str]) -> dict[str, tuple[int, float | None]]:
    """Per web ticket (the ticket page is where a web customer reads them): its delivered
    replies, and the seconds from the ticket's creation to the first (None: no reply yet).
    {} while the database cannot be reached."""
    if not ticket_ids:
        return {}
    with contextlib.suppress(OSError, asyncpg.PostgresError, asyncio.TimeoutError):
        conn = await asyncpg.connect(admin_dsn, timeout=5)
        try:
            rows = await conn.fetch(
                """SELECT t.ticket_id::text AS t, count(m.*) AS n,
                          extract(epoch FROM min(m.delivery_update_time) - t.create_time)::float8 AS reply_s
                   FROM conversation.tickets t LEFT JOIN conversation.messages m
                     ON m.ticket_id = t.ticket_id AND m.direction = 'outbound' AND m.delivery_status = 'delivered'
                   WHERE t.ticket_id = ANY($1::uuid[]) GROUP BY t.ticket_id, t.create_time""", ticket_ids)
        finally:
            await conn.close()
        return {r["t"]: (r["n"], r["reply_s"]) for r in rows}
    return {}


# ---------------------------------------------------------------------- faults


@dataclass(frozen=True)
class Fault:
    name: str
    start: Callable[[ChaosStack], Awaitable[None]]
    end: Callable[[ChaosStack], Awaitable[None]]
    lasts: Callable[[Profile], float] = lambda profile: 0.0


def kill(name: str) -> Fault:
    return Fault(f"SIGKILL {name}", lambda s: s.kill(name), lambda s: s.until_restarted())


async def _noop(stack: ChaosStack) -> None:
    return None


def _sync(fn: Callable[[ChaosStack], None]) -> Callable[[ChaosStack], Awaitable[None]]:
    async def run(stack: ChaosStack) -> None:
        fn(stack)
    return run


FAULTS: tuple[Fault, ...] = (
    *(kill(name) for name in KILLED),
    Fault("Kafka broker stopped", ChaosStack.stop_kafka, ChaosStack.start_kafka, lambda p: p.outage_s),
    Fault("PostgreSQL stopped", ChaosStack.stop_postgres, ChaosStack.start_postgres, lambda p: p.outage_s),
    Fault("channel APIs answer 503", _sync(ChaosStack.channels_fail), _sync(ChaosStack.channels_recover),
          lambda p: p.channel_outage_s),
    Fault("network to PostgreSQL cut", ChaosStack.cut_postgres_network, ChaosStack.restore_postgres_network,
          lambda p: p.outage_s),
)


async def run_case(stack: ChaosStack, fault: Fault, profile: Profile) -> Outcome:
    """A burst in three thirds around the fault; then every accepted message's replies counted
    until all are answered (or the time is up), and once more a few seconds later, so a reply
    sent twice shows."""
    label = fault.name.lower().replace(" ", "-")
    third = max(1, profile.messages // 3)
    async with httpx.AsyncClient(base_url=stack.edge_url, timeout=30) as http:
        traffic = Traffic(stack, http, label)
        background = [asyncio.create_task(traffic.pubsub_retries()), asyncio.create_task(traffic.watch())]
        try:
            await traffic.burst(third)
            await fault.start(stack)
            began = time.monotonic()
            await traffic.burst(third)
            await asyncio.sleep(max(0.0, fault.lasts(profile) - (time.monotonic() - began)))
            await fault.end(stack)
            await traffic.burst(profile.messages - 2 * third)
            deadline = time.monotonic() + profile.answer_timeout_s
            while time.monotonic() < deadline:
                await traffic.look()
                if traffic.all_answered() and all(m.pushed for m in traffic.messages):
                    break
                await asyncio.sleep(0.5)
            await asyncio.sleep(5)  # a second copy of a reply would come within the retry delays
            await traffic.look()
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
    outcome = traffic.outcome(fault.name)
    (ARTIFACTS / f"{label}.json").write_text(json.dumps(
        {"outcome": asdict(outcome), "messages": [asdict(m) for m in traffic.messages]}, indent=2))
    return outcome
