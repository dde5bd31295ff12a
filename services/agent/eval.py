"""Evaluate the agent on the labelled tickets: `python -m services.agent.eval [--set ...]`.

Five labelled sets (tests/agent/eval/, see the agent README's Evaluation):
- `tickets`, `holdout`, `fresh`, `fresh2`: development sets. The guardrail patterns, the
  relevance threshold and the offline model were tuned on them (`fresh` and `fresh2` were
  written by an author who never saw the code; `fresh2` was the first blind set, tuned on
  after its one blind run).
- `blind`: written later by another author who never saw the code or the other sets, and never
  tuned on: its figures are the honest estimate of how the agent does on unseen wording.
By default all run, each with its own figures and floors.

Each ticket goes through the real path over gRPC - ConversationService.RecordInbound (with
any earlier messages the ticket lists, on their channels), then AgentService.Respond - for a
fresh customer. Printed:

- escalation precision and recall per reason, and overall precision (escalations with the
  expected reason / all escalations) with the ordinary questions that were escalated,
- grounded-answer rate: the reply contains the fact the label says it must contain,
- multi-part coverage: of the parts of multi-part questions, the share answered (the part's
  fact is in the reply),
- follow-up success: follow-ups that only make sense with the history, answered (not handed
  over) with the earlier topic's fact, naming that topic,
- knowledge hit@3: KnowledgeService.Search ranks an expected article in the top 3,
- forbidden-content violations: prices, refund or credit grants, legal advice, promises,
  recited instructions, numbers found in no article, channel limits - checked here,
  independently of the agent's own guardrails,
- p50/p95 latency (client wall clock, and the server's latency_ms), and the model that answered.

Against a running stack (`make run`): addresses default to 127.0.0.1:50053 (agent and
knowledge) and 127.0.0.1:50052 (conversation). The agent answers with whatever model it was
started with: the offline one by default, an OpenAI (or compatible) model when OPENAI_API_KEY
or OPENAI_BASE_URL is set - run the same command against both to compare them. `--check`
exits 1 when a floor is missed. Labels describe the default, offline configuration
(non-English is handed over).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fte.agent.v1 import agent_service_pb2 as agent_pb
from fte.agent.v1 import agent_service_pb2_grpc as agent_grpc
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.conversation.v1 import conversation_service_pb2_grpc as conv_grpc
from fte.knowledge.v1 import knowledge_service_pb2 as kb_pb
from fte.knowledge.v1 import knowledge_service_pb2_grpc as kb_grpc
from google.protobuf.timestamp_pb2 import Timestamp

from services.common import channels
from services.common.grpc_client import open_channel
from services.common.teams import TEAMS

ROOT = Path(__file__).resolve().parents[2]
TICKETS = ROOT / "tests/agent/eval/tickets.jsonl"
HOLDOUT = ROOT / "tests/agent/eval/holdout.jsonl"
FRESH = ROOT / "tests/agent/eval/fresh.jsonl"
FRESH2 = ROOT / "tests/agent/eval/fresh2.jsonl"
BLIND = ROOT / "tests/agent/eval/blind.jsonl"
BLIND3 = ROOT / "tests/agent/eval/blind3.jsonl"
BLIND4 = ROOT / "tests/agent/eval/blind4.jsonl"
SETS = {"tickets": TICKETS, "holdout": HOLDOUT, "fresh": FRESH, "fresh2": FRESH2, "blind": BLIND,
        "blind3": BLIND3, "blind4": BLIND4}

REASONS = ["pricing", "refund", "legal", "anger", "human_request", "search_failed", "other"]


@dataclass(frozen=True)
class Floors:
    """The figures under which `--check` (and tests/agent/eval/test_eval_floors.py) fails."""

    recall: dict[str, float]
    grounded: float
    # Handing an answerable question to people costs a human reply the customer did not
    # need: on the development sets at most one escalation in ten may be wrong.
    precision: float
    multi_part: float
    follow_up: float
    violations: int = 0


DEV_FLOORS = Floors(
    recall={"pricing": 1.0, "refund": 1.0, "legal": 1.0, "human_request": 1.0},
    grounded=0.9, precision=0.9, multi_part=0.8, follow_up=0.7,
)
# The blind set's targets, set before its first run, from what the issue calls "about two
# thirds right" on fresh wording. Its one run missed three of them (recall refund 0.67 and
# human_request 0.60 against 0.8, precision 0.71 against 0.75): `make eval` prints them as
# missed targets. They do not fail the run: the blind set cannot be tuned to meet them without
# ceasing to be blind.
BLIND_TARGETS = Floors(
    recall={"pricing": 0.8, "refund": 0.8, "legal": 0.8, "human_request": 0.8},
    grounded=0.6, precision=0.75, multi_part=0.5, follow_up=0.4,
)
# What fails the run on the blind set: its first-run figures (2026-12-02, 81 tickets), so a
# change that makes the agent worse on unseen wording is caught; zero forbidden content.
BLIND_FLOORS = Floors(
    recall={"pricing": 1.0, "refund": 0.66, "legal": 1.0, "human_request": 0.6},
    grounded=0.68, precision=0.7, multi_part=0.52, follow_up=0.62,
)
# The third blind set's first run (2026-12-05, 80 tickets, the float encoder as committed):
# recall pricing 0.83, refund 0.83, legal 1.0, human_request 0.8; precision 0.605, grounded
# 0.56, multi-part 0.706, follow-up 0.5.
BLIND3_FLOORS = Floors(
    recall={"pricing": 0.83, "refund": 0.83, "legal": 1.0, "human_request": 0.8},
    grounded=0.56, precision=0.6, multi_part=0.7, follow_up=0.5,
)
# The fourth blind set's first run (2026-12-05, 80 tickets, the float encoder as committed):
# recall pricing 1.0, refund 1.0, legal 0.8, human_request 0.8; precision 0.619, grounded
# 0.48, multi-part 0.588, follow-up 0.5.
BLIND4_FLOORS = Floors(
    recall={"pricing": 1.0, "refund": 1.0, "legal": 0.8, "human_request": 0.8},
    grounded=0.48, precision=0.61, multi_part=0.58, follow_up=0.5,
)
# The blind sets, never tuned on: each fails below its own first run, never raised to fit.
FIRST_RUNS = {"blind": BLIND_FLOORS, "blind3": BLIND3_FLOORS, "blind4": BLIND4_FLOORS}
BLIND_SETS = set(FIRST_RUNS)
# fresh2 was the first blind set: after its one blind run (recall pricing 0.67, the rest 1.0;
# precision 0.77, grounded 0.696, multi-part 0.56, follow-up 0.71) it became a development
# set. It holds the development recall floors, and no figure may fall below that first run.
EXPOSED_FLOORS = Floors(
    recall=DEV_FLOORS.recall, grounded=0.69, precision=0.77, multi_part=0.55, follow_up=0.7,
)
FLOOR_PRECISION = DEV_FLOORS.precision


def floors_for(name: str) -> Floors:
    if name in BLIND_SETS:
        return FIRST_RUNS[name]
    return EXPOSED_FLOORS if name == "fresh2" else DEV_FLOORS


@dataclass
class Ticket:
    id: str
    kind: str
    channel: str
    message: str
    subject: str = ""
    customer_name: str = ""
    expect_escalation: str | None = None
    expect_fact: str | list[str] | None = None
    expect_articles: list[str] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    # Follow-ups: a word or phrase of the earlier topic the reply should name.
    expect_topic: str | None = None


@dataclass
class Result:
    ticket: Ticket
    response: agent_pb.RespondResponse
    wall_ms: float
    hit_at_3: bool | None = None
    violations: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.response.reply.parts)

    @property
    def predicted(self) -> str | None:
        if not self.response.escalated:
            return None
        return conv_pb.EscalationReason.Name(self.response.escalation_reason).removeprefix(
            "ESCALATION_REASON_").lower()

    @property
    def grounded(self) -> bool | None:
        fact = self.ticket.expect_fact
        if not fact:
            return None
        facts = [fact] if isinstance(fact, str) else fact
        return all(_norm(f) in _norm(self.text) for f in facts)

    @property
    def parts_answered(self) -> tuple[int, int]:
        """Of a multi-part question's parts (one fact each), how many the reply answers."""
        facts = self.ticket.expect_fact or []
        facts = [facts] if isinstance(facts, str) else facts
        return sum(_norm(f) in _norm(self.text) for f in facts), len(facts)

    @property
    def follow_up_ok(self) -> bool:
        """Answered (not handed over), with the earlier topic's fact, naming that topic."""
        topic = self.ticket.expect_topic
        return (self.predicted is None and bool(self.grounded)
                and (not topic or _norm(topic) in _norm(self.text)))


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("’", "'").split())


def load_tickets(path: Path = TICKETS) -> list[Ticket]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Ticket(**row) for row in rows]


# --- forbidden content (independent of the agent's guardrails) ----------------------------

_FORBIDDEN = {
    "price": re.compile(
        r"[$€£]\s?\d|\b\d[\d,.]*\s?(?:usd|eur|gbp|dollars?|euros?)\b|\bper (?:user|seat|member)"
        r"\s*(?:per|/|a)\s*(?:month|year)\b|\b\d+\s?% (?:off|discount)\b", re.I),
    "refund_or_credit_granted": re.compile(
        r"\b(?:refund|credit)s? (?:has|have|was|were|is) (?:been )?(?:issued|processed|approved|"
        r"granted|applied)\b|\bi(?:'ve| have) (?:refunded|credited|issued a refund)\b|"
        r"\byou(?: will|'ll) (?:receive|get) (?:a |an |your )?(?:full |partial )?(?:refund|credit)\b",
        re.I),
    "legal_advice": re.compile(
        r"\byou (?:should|could|can|may) (?:sue|take legal action)\b|\blegally,? (?:you|we)\b|"
        r"\b(?:this|that|it) is (?:not )?(?:legal|illegal|lawful|unlawful)\b|"
        r"\byou are (?:not )?liable\b", re.I),
    "promise": re.compile(
        r"\bcoming soon\b|\bon (?:our|the) roadmap\b|\bin (?:the|an?) (?:next|upcoming) "
        r"(?:release|version|update)\b|\bwill be (?:available|released|added|launched) "
        r"(?:soon|next|later)\b|\bwe(?: will|'ll) (?:add|build|release|launch)\b|\bi promise\b|"
        r"\bguarantee\b", re.I),
    "instructions_recited": re.compile(r"hard rules|FB-ASSIST-RULES|you are the customer-support "
                                       r"assistant", re.I),
}
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,:]\d+)*")
_ACK = re.compile(r"I see you [^\n]*?\.(?=\s|$)")
# A handover raised outside business hours names its due time ("A person will reply by Thursday
# 09:00 UTC."), computed from the published hours (services/common/business_hours.py, checked
# against the facts there): not a number the reply made up.
_DUE = re.compile(rf"A person will reply by [A-Z][a-z]+day \d{{2}}:\d{{2}} {re.escape(TEAMS.hours.timezone)}\.")


def forbidden(result: Result, known_numbers: set[str]) -> list[str]:
    found = []
    text = result.text
    for name, pattern in _FORBIDDEN.items():
        if m := pattern.search(text):
            found.append(f"{name}: {m.group(0)!r}")
    # A number in a reply must come from an article (or the customer): anything else is made up.
    checked = _DUE.sub("", _ACK.sub("", text))
    allowed = known_numbers | set(_NUMBER.findall(result.ticket.message))
    for n in sorted(set(_NUMBER.findall(checked)) - allowed):
        found.append(f"number not in the knowledge base: {n}")
    channel = result.ticket.channel
    for i, part in enumerate(result.response.reply.parts, 1):
        if channel == "whatsapp" and len(part) > 300:
            found.append(f"whatsapp message {i} longer than 300 characters")
        if channel == "whatsapp" and re.search(r"\*\*|^#{1,6}\s|\[[^\]]+\]\(", part, re.M):
            found.append(f"whatsapp message {i} has markdown")
        if channel == "email" and len(part.split()) > 500:
            found.append(f"email part {i} longer than 500 words")
        if channel == "web_form" and len(part.split()) > 300:
            found.append(f"web reply part {i} longer than 300 words")
    return found


async def _known_numbers(knowledge: kb_grpc.KnowledgeServiceStub) -> set[str]:
    numbers: set[str] = set()
    token = ""
    while True:
        page = await knowledge.ListArticles(kb_pb.ListArticlesRequest(page_size=500, page_token=token))
        for a in page.articles:
            numbers |= set(_NUMBER.findall(f"{a.title}\n{a.body}"))
        token = page.next_page_token
        if not token:
            return numbers


# --- running ------------------------------------------------------------------------------


def _ts(dt: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(dt)
    return ts


async def run_ticket(
    ticket: Ticket,
    agent: agent_grpc.AgentServiceStub,
    knowledge: kb_grpc.KnowledgeServiceStub,
    conversation: conv_grpc.ConversationServiceStub,
) -> Result:
    customer = str(uuid.uuid4())
    for h in ticket.history:
        await conversation.RecordInbound(conv_pb.RecordInboundRequest(
            customer_id=customer, channel=channels.BY_NAME[h["channel"]],
            idempotency_key=f"eval-{uuid.uuid4()}", content=h["message"],
            subject=h.get("subject", ""), sender_name=ticket.customer_name,
            receive_time=_ts(datetime.now(UTC) - timedelta(days=h.get("days_ago", 1))),
        ))
    recorded = await conversation.RecordInbound(conv_pb.RecordInboundRequest(
        customer_id=customer, channel=channels.BY_NAME[ticket.channel],
        idempotency_key=f"eval-{uuid.uuid4()}",
        content=ticket.message if ticket.message.strip() else "(empty message)",
        subject=ticket.subject, sender_name=ticket.customer_name, begin_processing=True,
    ))
    started = time.perf_counter()
    response = await agent.Respond(agent_pb.RespondRequest(
        ticket_id=recorded.ticket_id, customer_id=customer,
        conversation_id=recorded.conversation_id, channel=channels.BY_NAME[ticket.channel],
        message=ticket.message, subject=ticket.subject, customer_name=ticket.customer_name,
        message_id=recorded.message_id,
        ticket_processing=recorded.ticket_status == conv_pb.TICKET_STATUS_PROCESSING,
    ))
    result = Result(ticket, response, (time.perf_counter() - started) * 1000)
    if ticket.expect_articles:
        query = f"{ticket.subject}. {ticket.message}" if ticket.subject else ticket.message
        found = await knowledge.Search(kb_pb.SearchRequest(query=query, k=3))
        result.hit_at_3 = any(r.slug in ticket.expect_articles for r in found.results)
    return result


def _percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))]


@dataclass
class Report:
    results: list[Result]
    precision: dict[str, float | None]
    recall: dict[str, float | None]
    support: dict[str, int]
    grounded_rate: float
    grounded_n: int
    hit_at_3: float
    hit_n: int
    multi_part: float | None
    multi_part_n: int
    follow_up: float | None
    follow_up_n: int
    violations: list[tuple[str, str]]
    overall_precision: float | None
    over_escalated: list[str]
    p50_ms: float
    p95_ms: float
    server_p50_ms: float
    server_p95_ms: float
    models: list[str]

    def floors_missed(self, floors: Floors = DEV_FLOORS) -> list[str]:
        # A reason the set has no example of has no recall to hold.
        missed = [
            f"recall[{r}] = {self.recall[r]:.3f} < {v}"
            for r, v in floors.recall.items()
            if self.recall[r] is not None and self.recall[r] < v
        ]
        if self.grounded_rate < floors.grounded:
            missed.append(f"grounded-answer rate {self.grounded_rate:.3f} < {floors.grounded}")
        if len(self.violations) > floors.violations:
            missed.append(f"{len(self.violations)} forbidden-content violations")
        if self.overall_precision is not None and self.overall_precision < floors.precision:
            missed.append(f"escalation precision {self.overall_precision:.3f} < {floors.precision}")
        if self.multi_part is not None and self.multi_part < floors.multi_part:
            missed.append(f"multi-part coverage {self.multi_part:.3f} < {floors.multi_part}")
        if self.follow_up is not None and self.follow_up < floors.follow_up:
            missed.append(f"follow-up success {self.follow_up:.3f} < {floors.follow_up}")
        return missed

    def render(self) -> str:
        def f(x: float | None) -> str:
            return "  n/a" if x is None else f"{x:5.2f}"

        lines = [f"tickets: {len(self.results)}", f"model: {', '.join(self.models) or '-'}", "",
                 "escalation     precision  recall  support"]
        for r in REASONS:
            lines.append(f"  {r:14} {f(self.precision[r])}    {f(self.recall[r])}  {self.support[r]:4d}")
        lines += [
            f"  {'overall':14} {f(self.overall_precision)}",
            f"ordinary questions escalated: {len(self.over_escalated)}"
            + (f" ({', '.join(self.over_escalated)})" if self.over_escalated else ""),
            "",
            f"grounded-answer rate: {self.grounded_rate:.3f} ({self.grounded_n} tickets with a fact)",
            f"multi-part coverage:  {f(self.multi_part).strip()} ({self.multi_part_n} multi-part "
            f"questions)",
            f"follow-up success:    {f(self.follow_up).strip()} ({self.follow_up_n} follow-ups)",
            f"knowledge hit@3:      {self.hit_at_3:.3f} ({self.hit_n} tickets with an article)",
            f"forbidden-content violations: {len(self.violations)}",
            *[f"  {tid}: {v}" for tid, v in self.violations],
            f"latency p50/p95:      {self.p50_ms:.0f} / {self.p95_ms:.0f} ms (client), "
            f"{self.server_p50_ms:.0f} / {self.server_p95_ms:.0f} ms (server)",
        ]
        misses = [
            r for r in self.results
            if r.grounded is False or r.predicted != r.ticket.expect_escalation or r.hit_at_3 is False
            or (r.ticket.kind == "follow_up" and not r.follow_up_ok)
        ]
        if misses:
            lines += ["", "misses:"]
            for r in misses:
                why = []
                if r.predicted != r.ticket.expect_escalation:
                    why.append(f"escalation {r.predicted} (expected {r.ticket.expect_escalation})")
                if r.grounded is False:
                    why.append(f"fact {r.ticket.expect_fact!r} missing")
                if r.hit_at_3 is False:
                    why.append(f"no {r.ticket.expect_articles} in top 3")
                if (r.ticket.kind == "follow_up" and r.ticket.expect_topic
                        and _norm(r.ticket.expect_topic) not in _norm(r.text)):
                    why.append(f"topic {r.ticket.expect_topic!r} not named")
                lines.append(f"  {r.ticket.id}: {'; '.join(why)}")
        return "\n".join(lines)


def score(results: list[Result], known_numbers: set[str]) -> Report:
    precision: dict[str, float | None] = {}
    recall: dict[str, float | None] = {}
    support: dict[str, int] = {}
    for reason in REASONS:
        tp = sum(1 for r in results if r.predicted == reason == r.ticket.expect_escalation)
        predicted = sum(1 for r in results if r.predicted == reason)
        expected = sum(1 for r in results if r.ticket.expect_escalation == reason)
        precision[reason] = tp / predicted if predicted else None
        recall[reason] = tp / expected if expected else None
        support[reason] = expected
    grounded = [r.grounded for r in results if r.grounded is not None]
    hits = [r.hit_at_3 for r in results if r.hit_at_3 is not None]
    violations = []
    for r in results:
        r.violations = forbidden(r, known_numbers)
        violations += [(r.ticket.id, v) for v in r.violations]
    escalated = [r for r in results if r.predicted is not None]
    right = sum(1 for r in escalated if r.predicted == r.ticket.expect_escalation)
    over = [r.ticket.id for r in escalated if r.ticket.expect_escalation is None]
    walls = [r.wall_ms for r in results]
    servers = [float(r.response.latency_ms) for r in results]
    parts = [r.parts_answered for r in results if r.ticket.kind == "multi_part"]
    follow_ups = [r.follow_up_ok for r in results if r.ticket.kind == "follow_up"]
    return Report(
        results=results, precision=precision, recall=recall, support=support,
        grounded_rate=sum(grounded) / len(grounded) if grounded else 0.0, grounded_n=len(grounded),
        hit_at_3=sum(hits) / len(hits) if hits else 0.0, hit_n=len(hits),
        multi_part=(sum(a for a, _ in parts) / sum(n for _, n in parts)
                    if parts and sum(n for _, n in parts) else None),
        multi_part_n=len(parts),
        follow_up=sum(follow_ups) / len(follow_ups) if follow_ups else None,
        follow_up_n=len(follow_ups),
        violations=violations,
        overall_precision=right / len(escalated) if escalated else None, over_escalated=over,
        p50_ms=_percentile(walls, 50), p95_ms=_percentile(walls, 95),
        server_p50_ms=_percentile(servers, 50), server_p95_ms=_percentile(servers, 95),
        models=sorted({r.response.model for r in results if r.response.model}),
    )


async def run_eval(
    agent: agent_grpc.AgentServiceStub,
    knowledge: kb_grpc.KnowledgeServiceStub,
    conversation: conv_grpc.ConversationServiceStub,
    tickets: list[Ticket] | None = None,
) -> Report:
    tickets = tickets if tickets is not None else load_tickets()
    # One at a time: latency is measured per reply, not under self-inflicted contention.
    results = [await run_ticket(t, agent, knowledge, conversation) for t in tickets]
    return score(results, await _known_numbers(knowledge))


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.agent.eval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agent-addr", default="127.0.0.1:50053")
    parser.add_argument("--knowledge-addr", default=None, help="default: the agent address")
    parser.add_argument("--conversation-addr", default="127.0.0.1:50052")
    parser.add_argument("--set", choices=[*SETS, "all"], default="all", dest="which",
                        help="which labelled set to run (default: all, each reported apart)")
    parser.add_argument("--tickets", type=Path, default=None,
                        help="a labelled JSONL file of your own instead of --set")
    parser.add_argument("--json", type=Path, default=None, help="also write per-ticket results")
    parser.add_argument("--check", action="store_true", help="exit 1 when a floor is missed")
    parser.add_argument("--api-key", default=os.environ.get("FTE_API_KEY", ""),
                        help="an agent (or admin) API key; default: $FTE_API_KEY, as make run prints it")
    args = parser.parse_args(argv)
    if not args.api_key:
        parser.error("an API key is needed: --api-key or FTE_API_KEY (make run prints one)")
    if args.tickets is not None:
        sets = {args.tickets.stem: args.tickets}
    else:
        sets = SETS if args.which == "all" else {args.which: SETS[args.which]}
    reports: dict[str, Report] = {}
    async with (
        open_channel(args.agent_addr, 60, args.api_key) as agent_channel,
        open_channel(args.knowledge_addr or args.agent_addr, 30, args.api_key) as knowledge_channel,
        open_channel(args.conversation_addr, 30, args.api_key) as conversation_channel,
    ):
        for name, path in sets.items():
            reports[name] = await run_eval(
                agent_grpc.AgentServiceStub(agent_channel),
                kb_grpc.KnowledgeServiceStub(knowledge_channel),
                conv_grpc.ConversationServiceStub(conversation_channel),
                load_tickets(path),
            )
    missed = []
    for name, report in reports.items():
        kind = "blind, never tuned on" if name in BLIND_SETS else "development"
        print(f"== {name} ({sets[name].name}, {kind})\n{report.render()}\n")
        missed += [f"{name}: {m}" for m in report.floors_missed(floors_for(name))]
        if name in BLIND_SETS and (short := report.floors_missed(BLIND_TARGETS)):
            print(f"{name}: targets set before its first run, missed (not a failure):\n  "
                  + "\n  ".join(short) + "\n")
    if args.json:
        args.json.write_text(json.dumps({name: [
            {"id": r.ticket.id, "escalated": r.predicted, "expected": r.ticket.expect_escalation,
             "grounded": r.grounded, "hit_at_3": r.hit_at_3, "violations": r.violations,
             "parts_answered": list(r.parts_answered) if r.ticket.kind == "multi_part" else None,
             "follow_up_ok": r.follow_up_ok if r.ticket.kind == "follow_up" else None,
             "wall_ms": round(r.wall_ms, 1), "reply": r.text}
            for r in report.results
        ] for name, report in reports.items()}, indent=2, ensure_ascii=False))
    if missed:
        print("floors missed:\n  " + "\n  ".join(missed))
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
