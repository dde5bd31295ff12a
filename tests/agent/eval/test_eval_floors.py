"""The labelled tickets go through AgentService over real gRPC (the same runner as
`python -m services.agent.eval`), and each set's floors hold (services/agent/eval.py):

- development sets (`tickets`, `holdout`, `fresh`, `fresh2`: the guardrails, the classifier's
  thresholds, the relevance threshold and the offline model were tuned on them): escalation
  recall 1.0 on pricing, refund, legal and human request; no forbidden content; at least 90%
  grounded answers; escalation precision at least 0.9; multi-part coverage and follow-up
  success floors. Passing guards against regressions; it does not show generalisation.
- `blind` (written by an author who never saw the code or the other sets, never tuned on):
  lower floors set before its first run. Its figures are the estimate of how the agent does on
  wording it has never seen.

The same runner also runs against the online path (an OpenAI-compatible model, here the local
fake server): the guardrails run before any model, so their floors hold there too."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from services.agent import intents
from services.agent.eval import (
    BLIND,
    BLIND3,
    BLIND4,
    BLIND_SETS,
    DEV_FLOORS,
    FRESH,
    FRESH2,
    HOLDOUT,
    SETS,
    TICKETS,
    floors_for,
    load_tickets,
    run_eval,
)

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


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def test_the_fresh_and_blind_sets_are_apart_from_everything_tuned():
    fresh = load_tickets(FRESH) + load_tickets(FRESH2)
    blind, blind3, blind4 = load_tickets(BLIND), load_tickets(BLIND3), load_tickets(BLIND4)
    tuned = load_tickets(TICKETS) + load_tickets(HOLDOUT) + fresh
    trained = {_norm(text) for text, _ in intents.load_examples()}

    assert BLIND_SETS == {"blind", "blind3", "blind4"}
    assert min(len(blind), len(blind3), len(blind4)) >= 60 and len(fresh) >= 120
    ids = lambda tickets: {t.id for t in tickets}  # noqa: E731
    assert not ids(tuned) & ids(blind) and not ids(tuned + blind) & ids(blind3)
    assert not ids(tuned + blind + blind3) & ids(blind4)
    # Greetings as short as "hi" are bound to recur; anything of three words or more may not.
    messages = lambda tickets: {_norm(t.message) for t in tickets  # noqa: E731
                                if len(t.message.split()) >= 3}
    # (Two blind sets may share a line as common as "can i talk to a real person pls": none
    # was tuned on.)
    assert not messages(tuned) & messages(blind + blind3 + blind4)
    # No evaluation set leaked into the classifier's training data.
    assert not trained & messages(blind + blind3 + blind4 + fresh)
    for tickets in (load_tickets(FRESH), load_tickets(FRESH2), blind, blind3, blind4):
        kinds = Counter(t.kind for t in tickets)
        assert kinds["multi_part"] >= 5 and kinds["follow_up"] >= 5 and kinds["greeting"] >= 2
        assert all(t.history and t.expect_topic for t in tickets if t.kind == "follow_up")
        assert all(isinstance(t.expect_fact, list) and len(t.expect_fact) >= 2
                   for t in tickets if t.kind == "multi_part")
        reasons = Counter(t.expect_escalation for t in tickets)
        for reason in ("pricing", "refund", "legal", "anger", "human_request"):
            assert reasons[reason] >= 3, reason


@pytest.mark.parametrize("name", list(SETS))
async def test_eval_floors_hold(agent, knowledge, conversation, name):
    report = await run_eval(agent, knowledge, conversation, load_tickets(SETS[name]))
    rendered = report.render()
    (ROOT / "artifacts").mkdir(exist_ok=True)
    report_file = "eval-report.txt" if name == "tickets" else f"eval-report-{name}.txt"
    (ROOT / "artifacts" / report_file).write_text(rendered + "\n")
    print(f"== {name}\n{rendered}")
    floors = floors_for(name)

    for reason, floor in floors.recall.items():
        assert report.recall[reason] is None or report.recall[reason] >= floor, rendered
    assert report.violations == [], rendered
    assert report.grounded_rate >= floors.grounded, rendered
    assert report.overall_precision is not None
    assert report.overall_precision >= floors.precision, rendered
    assert report.floors_missed(floors) == [], rendered


async def test_the_same_eval_runs_against_the_online_model(online_agent, knowledge, conversation):
    """A team with an API key runs the eval against their model the same way; here the
    OpenAI-compatible fake stands in for it. The blocking guardrails decide before any model
    does, so the escalation floors hold whichever model answers."""
    report = await run_eval(online_agent, knowledge, conversation, load_tickets(FRESH))
    rendered = report.render()
    (ROOT / "artifacts" / "eval-report-fresh-online.txt").write_text(rendered + "\n")

    assert report.models == ["gpt-4o-compatible-test"], rendered
    for reason, floor in DEV_FLOORS.recall.items():
        assert report.recall[reason] >= floor, rendered
    assert report.violations == [], rendered
    assert report.multi_part is not None and report.follow_up is not None


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
    assert printed.startswith("== holdout (holdout.jsonl, development)")
    assert f"tickets: {len(load_tickets(HOLDOUT))}" in printed
    assert "overall" in printed and "grounded-answer rate" in printed
    assert list(json.loads(out_file.read_text())) == ["holdout"]


async def test_the_eval_command_prints_the_blind_targets_it_missed_without_failing(
    agent_address, conversation_address, capsys, role_keys
):
    from services.agent.eval import main

    code = await main(["--set", "blind", "--agent-addr", agent_address,
                       "--conversation-addr", conversation_address, "--check",
                       "--api-key", role_keys["agent"]])
    printed = capsys.readouterr().out

    assert code == 0, printed
    assert printed.startswith("== blind (blind.jsonl, blind, never tuned on)")
    assert "blind: targets set before its first run, missed (not a failure):" in printed
    assert "recall[human_request] = 0.600 < 0.8" in printed
