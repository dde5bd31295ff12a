"""The labelled tickets go through AgentService over real gRPC (the same runner as
`python -m services.agent.eval`), and the floors hold on both sets: escalation recall 1.0 on
pricing, refund, legal and human-request; no forbidden content; at least 90% grounded answers;
escalation precision at least 0.9 (ordinary questions are answered, not handed over).

`tickets.jsonl` is the set the guardrail patterns and the relevance threshold were tuned on.
`holdout.jsonl` shares no ticket or message with it, but it is a second development set, not a
blind one: the guardrails and the offline model were tuned to its wordings after its first run.
Passing here guards against regressions on both sets; it does not show that the agent
generalises (that needs a set from someone who did not tune the agent)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from services.agent.eval import FLOOR_PRECISION, HOLDOUT, SETS, TICKETS, load_tickets, run_eval

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


def test_the_holdout_is_unseen_and_covers_the_floored_reasons():
    tuned, holdout = load_tickets(TICKETS), load_tickets(HOLDOUT)
    norm = lambda text: " ".join(text.lower().split())  # noqa: E731

    assert len(holdout) >= 20
    assert not {t.id for t in tuned} & {t.id for t in holdout}
    assert not {norm(t.message) for t in tuned} & {norm(t.message) for t in holdout}
    assert {t.channel for t in holdout} == {"email", "whatsapp", "web_form"}
    reasons = Counter(t.expect_escalation for t in holdout)
    for reason in ("pricing", "refund", "legal", "human_request"):
        assert reasons[reason] >= 1, reason
    assert sum(1 for t in holdout if t.expect_escalation is None) >= 15


@pytest.mark.parametrize("name", list(SETS))
async def test_eval_floors_hold(agent, knowledge, conversation, name):
    report = await run_eval(agent, knowledge, conversation, load_tickets(SETS[name]))
    rendered = report.render()
    (ROOT / "artifacts").mkdir(exist_ok=True)
    report_file = "eval-report.txt" if name == "tickets" else f"eval-report-{name}.txt"
    (ROOT / "artifacts" / report_file).write_text(rendered + "\n")
    print(f"== {name}\n{rendered}")

    for reason in ("pricing", "refund", "legal", "human_request"):
        assert report.recall[reason] == 1.0, rendered
    assert report.violations == [], rendered
    assert report.grounded_rate >= 0.9, rendered
    assert report.overall_precision is not None
    assert report.overall_precision >= FLOOR_PRECISION, rendered
    assert report.floors_missed() == [], rendered


async def test_the_eval_command_runs_the_holdout_and_prints_its_figures(
    agent_address, conversation_address, capsys, tmp_path, role_keys
):
    from services.agent.eval import main

    out_file = tmp_path / "holdout.json"
    code = await main(["--set", "holdout", "--agent-addr", agent_address,
                       "--conversation-addr", conversation_address, "--json", str(out_file),
                       "--check", "--api-key", role_keys["agent"]])
    printed = capsys.readouterr().out

    assert code == 0, printed
    assert printed.startswith("== holdout (holdout.jsonl)")
    assert f"tickets: {len(load_tickets(HOLDOUT))}" in printed
    assert "overall" in printed and "grounded-answer rate" in printed
    assert list(json.loads(out_file.read_text())) == ["holdout"]
