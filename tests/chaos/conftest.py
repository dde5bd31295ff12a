"""Prints the chaos table (artifacts/chaos/<profile>.txt) at the end of a run that ran a case."""

from __future__ import annotations

from tests.chaos.harness import ARTIFACTS


def pytest_terminal_summary(terminalreporter) -> None:
    path = ARTIFACTS / "short.txt"
    if path.exists() and path.stat().st_mtime >= terminalreporter._sessionstarttime:
        terminalreporter.write_sep("=", "chaos (short form): every accepted message answered once")
        terminalreporter.write_line(path.read_text())
