"""The web form's limits (webform/src/limits.json) and the server verdicts its unit tests replay
(webform/tests/unit/server_verdicts.json) are generated from the edge's SupportSubmission model
by webform/scripts/export_limits.py. Changing the model without re-running the script fails here,
so the form's client-side rules can never drift from the server's."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import get_args

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "webform" / "scripts" / "export_limits.py"
FIX = "run: .venv/bin/python webform/scripts/export_limits.py (and commit the result)"


@pytest.fixture(scope="module")
def exporter():
    spec = importlib.util.spec_from_file_location("webform_export_limits", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_limits_json_is_what_the_server_model_produces(exporter):
    expected = exporter.rendered()[exporter.OUT]
    committed = exporter.OUT.read_text(encoding="utf-8")
    assert committed == expected, f"webform/src/limits.json is stale; {FIX}"


def test_committed_server_verdicts_are_what_the_server_model_says(exporter):
    expected = exporter.rendered()[exporter.VERDICTS]
    committed = exporter.VERDICTS.read_text(encoding="utf-8")
    assert committed == expected, f"webform/tests/unit/server_verdicts.json is stale; {FIX}"


def test_limits_carry_every_form_field_and_rule(exporter):
    from services.edge.forms import Category, SupportSubmission

    limits = json.loads(exporter.OUT.read_text(encoding="utf-8"))
    fields = limits["fields"] | limits["hostFields"]
    assert set(fields) == set(SupportSubmission.model_fields)
    assert set(limits["hostFields"]) == {"identity_token"}
    for name, info in SupportSubmission.model_fields.items():
        assert fields[name]["required"] is info.is_required(), name
        for meta in info.metadata:
            for attr, key in (("min_length", "minLength"), ("max_length", "maxLength")):
                if getattr(meta, attr, None) is not None:
                    assert fields[name][key] == getattr(meta, attr), f"{name}.{key}"
    assert fields["category"]["enum"] == list(get_args(Category))
    assert "maxLength" in fields["email"]
    assert limits["stripWhitespace"] is bool(SupportSubmission.model_config.get("str_strip_whitespace"))


def test_check_mode_reports_a_stale_file(exporter, tmp_path, monkeypatch):
    stale = tmp_path / "limits.json"
    stale.write_text("{}\n", encoding="utf-8")
    monkeypatch.setattr(exporter, "OUT", stale)
    monkeypatch.setattr(exporter, "VERDICTS", tmp_path / "verdicts.json")
    monkeypatch.setattr("sys.argv", ["export_limits.py", "--check"])
    assert exporter.main() == 1
    assert stale.read_text(encoding="utf-8") == "{}\n"  # --check writes nothing
