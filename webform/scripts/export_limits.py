"""Write webform/src/limits.json from the edge's SupportSubmission model, so the form's
client-side rules and the server's validation come from one place. Also writes
webform/tests/unit/server_verdicts.json: probe values with the server's verdict on each, which
the unit tests replay through the form's validation to prove both sides agree.

Run:  PYTHONPATH=/work/main:/work/main/gen/python /work/main/.venv/bin/python webform/scripts/export_limits.py
      (--check: exit 1 if a committed file differs, write nothing)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

WEBFORM = Path(__file__).resolve().parents[1]
_REPO = WEBFORM.parent
for _p in (_REPO, _REPO / "gen" / "python"):  # so it runs without PYTHONPATH too
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))
OUT = WEBFORM / "src" / "limits.json"
VERDICTS = WEBFORM / "tests" / "unit" / "server_verdicts.json"
# Fields the host page supplies (the identity token), not form controls.
HOST_FIELDS = ("identity_token",)


def _string_schema(prop: dict[str, Any]) -> dict[str, Any]:
    """The non-null branch of an optional field (`anyOf: [{type: string}, {type: null}]`)."""
    for branch in prop.get("anyOf", []):
        if branch.get("type") != "null":
            return {**prop, **branch}
    return prop


def build_limits() -> dict[str, Any]:
    from services.edge.forms import SupportSubmission

    schema = SupportSubmission.model_json_schema()
    required = set(schema.get("required", []))
    fields: dict[str, Any] = {}
    host_fields: dict[str, Any] = {}
    for name, raw in schema["properties"].items():
        prop = _string_schema(raw)
        rule: dict[str, Any] = {"required": name in required}
        for key in ("minLength", "maxLength", "format", "enum"):
            if key in prop:
                rule[key] = prop[key]
        (host_fields if name in HOST_FIELDS else fields)[name] = rule
    config = SupportSubmission.model_config
    return {
        "_generated_by": "webform/scripts/export_limits.py from services.edge.forms.SupportSubmission; do not edit",
        # pydantic strips surrounding whitespace before checking lengths; the form does the same.
        "stripWhitespace": bool(config.get("str_strip_whitespace", False)),
        "fields": fields,
        # Set by the embedding page (the <script> tag's data-*), never typed by the customer.
        "hostFields": host_fields,
    }


_VALID = {
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "subject": "Cannot export my board",
    "category": "technical",
    "message": "The export button does nothing when I click it.",
}
# Not stripped by pydantic (Rust's trim is Unicode White_Space): BOM, zero-width space.
_NOT_STRIPPED = ["\ufeff", "\u200b"]
# Stripped by pydantic, and some of them not by JavaScript's String.prototype.trim (U+0085).
_STRIPPED = [" ", "\t", "\n", "\u00a0", "\u0085", "\u2003", "\u3000"]

_EMAILS = [
    "ada@example.com", "ADA@Example.COM", "first.last+tag@sub.example.co.uk", "a@b.co", "ä@bücher.de",
    "  ada@example.com  ", "ada@example", "ada@localhost", "ada@foo.test", "ada@foo.invalid",
    "ada@foo.local", "ada@onion.onion", "ada@example.123", "a..b@example.com", ".ada@example.com",
    "ada.@example.com", "ada@-example.com", "ada@example-.com", "ada@exa_mple.com", "a b@example.com",
    '"a b"@example.com', "ada@[192.0.2.1]", "ada@@example.com", "@example.com", "ada@", "ada",
    "ada@example..com", "x" * 65 + "@example.com", "ada@" + "a" * 64 + ".com",
]
_PHONES = [
    "+351912345678", "+1 650 253 0000", "(650) 253-0000", "+44 20 7946 0958", "   ", "abc",
    "123", "+1 (650) 253-0000 ext", "+" + "1" * 16, "1" * 33,
]


def _probes() -> list[tuple[str, str]]:
    fields = build_limits()["fields"]
    probes: list[tuple[str, str]] = []
    for name, rule in fields.items():
        lo, hi = rule.get("minLength"), rule.get("maxLength")
        if name in ("email", "category"):
            continue
        for n in sorted({x for x in (lo and lo - 1, lo, hi, hi and hi + 1) if x}):
            probes.append((name, "a" * n))
            probes.append((name, "\U0001f600" * n))  # one code point, two UTF-16 units
        probes.append((name, ""))
        probes.append((name, "   "))
        if lo:
            probes += [(name, ws + "a" * lo + ws) for ws in _STRIPPED]
            probes += [(name, ws + "a" * (lo - 1) + ws) for ws in _STRIPPED]
            probes += [(name, ch + "a" * (lo - 1)) for ch in _NOT_STRIPPED]
        if hi:
            probes.append((name, " " + "a" * hi + " "))
    probes += [("category", c) for c in fields["category"]["enum"]]
    probes += [("category", c) for c in ("", "Billing", "other", " billing ")]
    probes += [("email", e) for e in _EMAILS]
    probes += [("email", "")]
    probes += [("phone", p) for p in _PHONES]
    return probes


def build_verdicts() -> dict[str, Any]:
    from pydantic import ValidationError

    from services.edge.forms import SupportSubmission

    cases = []
    for field, value in _probes():
        try:
            SupportSubmission.model_validate({**_VALID, field: value})
            accepted = True
        except ValidationError as err:
            accepted = not any(e["loc"][:1] == (field,) for e in err.errors())
        cases.append({"field": field, "value": value, "accepted": accepted})
    return {
        "_generated_by": "webform/scripts/export_limits.py: the edge's verdict on each probe; do not edit",
        "valid": _VALID,
        "cases": cases,
    }


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=True) + "\n"


def rendered() -> dict[Path, str]:
    return {OUT: _dump(build_limits()), VERDICTS: _dump(build_verdicts())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed files only")
    args = parser.parse_args()
    stale = []
    for path, text in rendered().items():
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current == text:
            continue
        if args.check:
            stale.append(path)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        for path in stale:
            print(f"{path} is stale: run webform/scripts/export_limits.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
