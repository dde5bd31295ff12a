"""docs/runbook.md against the alerts and the contracts: every alert's runbook_url names a section
of the runbook (its anchor resolves to a heading, the way GitHub makes anchors), every section's
alert exists, and every gRPC method the runbook calls or names exists in proto/ (with the header the
services require on every grpcurl call).
"""

from __future__ import annotations

import re

from tests.deploy import monitoring as mon

PROTO = mon.ROOT / "proto"


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces → '-'."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    return {github_anchor(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", markdown, re.MULTILINE)}


def proto_methods() -> set[str]:
    """Every `package.Service/Method` in proto/."""
    methods = set()
    for path in PROTO.rglob("*.proto"):
        text = path.read_text()
        package = re.search(r"^package\s+([\w.]+);", text, re.MULTILINE).group(1)
        for service in re.finditer(r"^service\s+(\w+)\s*\{(.*?)^\}", text, re.MULTILINE | re.DOTALL):
            for rpc in re.finditer(r"^\s*rpc\s+(\w+)\s*\(", service.group(2), re.MULTILINE):
                methods.add(f"{package}.{service.group(1)}/{rpc.group(1)}")
    return methods


def runbook_methods(markdown: str) -> set[str]:
    """Every `fte.<pkg>.v1.<Service>/<Method>` the runbook names."""
    return set(re.findall(r"\bfte\.\w+\.v\d+\.\w+/\w+", markdown))


def grpcurl_calls(markdown: str) -> list[str]:
    """Each grpcurl command, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", markdown)
    return [line.strip() for line in joined.splitlines() if re.match(r"\s*(\S+=\$\()?grpcurl\s", line)]


def test_every_alert_links_to_a_section_of_the_runbook():
    runbook = mon.RUNBOOK.read_text()
    headings = anchors(runbook)
    for a in mon.alerts():
        url = a["annotations"]["runbook_url"]
        path, _, anchor = url.partition("#")
        assert (mon.ROOT / path).resolve() == mon.RUNBOOK.resolve(), url
        assert anchor in headings, f"{a['alert']}: #{anchor} is no heading of {path}"
        assert anchor == github_anchor(a["alert"]), f"{a['alert']}: its section is titled after another alert"


def test_every_alert_section_says_what_it_means_what_to_look_at_and_how_to_recover():
    runbook = mon.RUNBOOK.read_text()
    sections = dict(re.findall(r"^## (\w+)\n(.*?)(?=^## |\Z)", runbook, re.MULTILINE | re.DOTALL))
    for a in mon.alerts():
        body = sections[a["alert"]]
        for part in ("**Means:**", "**Look at:**", "**Recover:**"):
            assert part in body, (a["alert"], part)
        steps = re.findall(r"^\d\. ", body.split("**Look at:**")[1].split("**Recover:**")[0], re.MULTILINE)
        assert len(steps) >= 3, (a["alert"], "fewer than three things to look at")
        assert "```sh" in body, (a["alert"], "no command")


def test_every_runbook_section_that_looks_like_an_alert_is_an_alert():
    runbook = mon.RUNBOOK.read_text()
    titled = set(re.findall(r"^## (Fte\w+)\s*$", runbook, re.MULTILINE))
    assert titled == {a["alert"] for a in mon.alerts()}


def test_every_grpc_method_the_runbook_names_exists_in_proto():
    named = runbook_methods(mon.RUNBOOK.read_text())
    assert named, "the runbook names no gRPC method"
    assert named - proto_methods() == set()


def test_every_grpcurl_call_authenticates_and_names_a_real_method():
    calls = grpcurl_calls(mon.RUNBOOK.read_text())
    assert len(calls) >= 5
    methods = proto_methods()
    for call in calls:
        assert '-H "authorization: Bearer $FTE_API_KEY"' in call, call
        method = re.search(r"\s(fte\.\S+/\w+)", call)
        assert method and method.group(1) in methods, call


def test_a_method_that_does_not_exist_is_caught():
    broken = "grpcurl -plaintext -d '{}' 127.0.0.1:50052 fte.handoff.v1.HandoffService/ListEscalation"
    assert runbook_methods(broken) - proto_methods() == {"fte.handoff.v1.HandoffService/ListEscalation"}
    assert "fte.handoff.v1.HandoffService/ListEscalations" in proto_methods()
    assert github_anchor("FteDbPoolSaturated") not in anchors("## FteDbPoolSaturation\n")
