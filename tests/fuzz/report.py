"""How many inputs a fuzz target tried and what came back, said three ways: a printed line, a
JSON file under artifacts/fuzz/ (kept by CI with the other artifacts), and a user property
`fuzz` on the test's report, which tests/conftest.py's terminal summary prints (pytest hides
prints without -s, and under xdist only the reports reach the controller)."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from dataclasses import dataclass, field

from devstack import REPO_ROOT

ARTIFACTS = REPO_ROOT / "artifacts" / "fuzz"


@dataclass
class FuzzTally:
    """Outcomes of one fuzz target (e.g. one RPC's malformed requests); thread-safe, since
    hypothesis may run in a worker thread while the servers answer on the event loop."""

    target: str
    # Targets of one group (e.g. every RPC's typed requests) share one line in the summary.
    group: str = ""
    outcomes: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, outcome: str) -> None:
        with self._lock:
            self.outcomes[outcome] += 1

    @property
    def tried(self) -> int:
        return sum(self.outcomes.values())

    def line(self) -> str:
        seen = ", ".join(f"{name} {n}" for name, n in self.outcomes.most_common())
        return f"fuzz {self.target}: {self.tried} inputs tried; seen: {seen or 'nothing'}"

    def report(self, record_property) -> str:
        """Prints, writes artifacts/fuzz/<target>.json and records the `fuzz` property."""
        summary = {"target": self.target, "group": self.group or self.target, "inputs_tried": self.tried, "outcomes": dict(self.outcomes)}
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "-", self.target).strip("-")
        (ARTIFACTS / f"{name}.json").write_text(json.dumps(summary, indent=2) + "\n")
        record_property("fuzz", summary)
        print(self.line())
        return self.line()


def summary_lines(summaries: list[dict]) -> list[str]:
    """One line per group: targets, inputs tried, outcomes seen (for the terminal summary)."""
    groups: dict[str, tuple[int, int, Counter[str]]] = {}
    for s in summaries:
        targets, tried, outcomes = groups.get(s["group"], (0, 0, Counter()))
        groups[s["group"]] = (targets + 1, tried + s["inputs_tried"], outcomes + Counter(s["outcomes"]))
    lines = []
    for group, (targets, tried, outcomes) in sorted(groups.items()):
        seen = ", ".join(f"{name} {n}" for name, n in outcomes.most_common())
        over = f" over {targets} targets" if targets > 1 else ""
        lines.append(f"{group}: {tried} inputs tried{over}; seen: {seen or 'nothing'}")
    return lines
