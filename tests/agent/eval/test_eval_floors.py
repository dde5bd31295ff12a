"""The labelled tickets go through AgentService over real gRPC (the same runner as
`python -m services.agent.eval`), and the floors hold: escalation recall 1.0 on pricing,
refund, legal and human-request; no forbidden content; at least 90% grounded answers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from services.agent.eval import load_tickets, run_eval

ROOT = Path(__file__).resolve().parents[3]


def test_the_labelled_set_covers_every_case_the_issue_lists():
    tickets = load_tickets()
    kinds = Counter(t.kind for t in tickets)
    reasons = Counter(t.expect_escalation for t in tickets)

    assert len(tickets) >= 60
    assert {t.channel for t in tickets} == {"email", "whatsapp", "web_form"}
    assert kinds["answerable"] >= 30 and all(
        t.expect_fact for t in tickets if t.kind == "answerable")
    for kind in ("nonexistent_feature", "prompt_injection", "empty", "non_english"):
        assert kinds[kind] >= 1, kind
    for reason in ("pricing", "refund", "legal", "anger", "human_request", "search_failed", "other"):
        assert reasons[reason] >= 1, reason


async def test_eval_floors_hold(agent, knowledge, conversation):
    report = await run_eval(agent, knowledge, conversation)
    rendered = report.render()
    (ROOT / "artifacts").mkdir(exist_ok=True)
    (ROOT / "artifacts/eval-report.txt").write_text(rendered + "\n")
    print(rendered)

    for reason in ("pricing", "refund", "legal", "human_request"):
        assert report.recall[reason] == 1.0, rendered
    assert report.violations == [], rendered
    assert report.grounded_rate >= 0.9, rendered
