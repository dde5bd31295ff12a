"""The Grafana dashboard (k8s/components/monitoring/dashboards/flowboard.json): a dashboard Grafana
loads (decoded by Grafana's own dashboard schema, strictly: deploy/grafana/dashcheck, the Grafana
Foundation SDK's generated types — Grafana itself is AGPL and not run here; panels with unique ids,
a Prometheus datasource variable every query uses), at
the four levels operators watch (channel, agent, system, business), whose every query is valid
PromQL (each becomes a recording rule of a throwaway rules file that `promtool check rules` parses)
and names only metrics the processes export (the catalogue, services/common/metrics.py) or the
named external ones (the edge's prometheus-fastapi-instrumentator, kube-state-metrics). It ships as
a ConfigMap with the grafana_dashboard label in the production overlays.
"""

from __future__ import annotations

import copy
import json

import pytest

from tests.deploy import manifests as m
from tests.deploy import monitoring as mon

LEVELS = ("Channel", "Agent", "System", "Business")


def test_the_dashboard_is_a_grafana_dashboard_with_uniquely_numbered_panels():
    board = mon.dashboard()  # json.loads: valid JSON
    assert board["title"] and board["uid"]
    panels = mon.panels(board)
    assert len([p for p in panels if p["type"] != "row"]) >= 12
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    for p in panels:
        assert {"h", "w", "x", "y"} <= set(p["gridPos"]), p["title"]
        assert p["gridPos"]["x"] + p["gridPos"]["w"] <= 24, p["title"]
        if p["type"] != "row":
            assert p.get("targets"), f"panel {p['title']!r} has no query"


def test_grafanas_dashboard_schema_decodes_every_panel_and_query():
    result = mon.dashcheck(mon.DASHBOARD)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])
    board = mon.dashboard()
    assert summary["panels"] == len([p for p in mon.panels(board) if p["type"] != "row"])
    assert summary["queries"] == len(mon.panel_queries(board))


@pytest.mark.parametrize("change, error", [
    (lambda b: b["panels"][1]["gridPos"].update(w="8"), "gridPos.w"),
    (lambda b: b["panels"][1].update(type="graph"), "no core panel plugin"),
    (lambda b: b["panels"][1]["targets"][0].update(exprr="up"), "unexpected field 'exprr'"),
    (lambda b: b["panels"][1]["options"].pop("legend"), "options.legend"),
    (lambda b: b.update(refresh=30), "refresh"),
])
def test_the_schema_check_rejects_what_grafana_would_not_load(tmp_path, change, error):
    board = copy.deepcopy(mon.dashboard())
    assert board["panels"][1]["type"] == "timeseries" and board["panels"][1]["targets"]
    change(board)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(board))
    result = mon.dashcheck(path)
    assert result.returncode == 1 and error in result.stderr, result.stderr


def test_the_dashboard_has_a_panel_row_per_level():
    rows = [p["title"] for p in mon.panels(mon.dashboard()) if p["type"] == "row"]
    assert [r.split(":")[0] for r in rows] == list(LEVELS), rows


def test_every_query_uses_the_prometheus_datasource_variable():
    board = mon.dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for p in mon.panels(board):
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        for t in p["targets"]:
            assert t.get("datasource", p["datasource"]) == p["datasource"], p["title"]


def test_every_query_is_valid_promql(tmp_path):
    queries = mon.panel_queries(mon.dashboard())
    assert queries
    result = mon.promtool("check", "rules", str(mon.write_recording_rules(tmp_path, queries)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout, result.stdout


def test_an_invalid_query_fails_the_check(tmp_path):
    queries = [*mon.panel_queries(mon.dashboard()), ("broken", 'sum by (channel) (rate(fte_messages_total[$__rate_interval])')]
    result = mon.promtool("check", "rules", str(mon.write_recording_rules(tmp_path, queries)))
    assert result.returncode != 0, result.stdout


def test_every_query_names_only_metrics_the_processes_or_kube_state_metrics_export():
    known = mon.catalogue_sample_names()
    unknown = {where: mon.unknown_metrics(mon.metric_names(expr), known)
               for where, expr in mon.panel_queries(mon.dashboard())}
    assert {w: u for w, u in unknown.items() if u} == {}
    # and every query names at least one metric (an empty extraction would pass anything)
    assert all(mon.metric_names(expr) for _, expr in mon.panel_queries(mon.dashboard()))


def test_every_catalogue_metric_is_on_the_dashboard():
    used = set().union(*(mon.metric_names(e) for _, e in mon.panel_queries(mon.dashboard())))
    families = set(mon.catalogue_families())
    assert len(families) >= 15
    missing = {f for f in families if not any(u == f or u.startswith(f + "_") for u in used)}
    assert missing == set()


@pytest.mark.parametrize("overlay", ["production", "production-operators"])
def test_the_production_overlays_ship_the_dashboard_for_grafanas_sidecar(overlay):
    cm = m.find(m.render(overlay), "ConfigMap", "flowboard-grafana-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["flowboard.json"]) == mon.dashboard()
