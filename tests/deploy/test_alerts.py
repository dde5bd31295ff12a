"""The alerts (k8s/components/monitoring/prometheusrule.yaml) with promtool: the PrometheusRule's
spec is a valid rules file, its unit tests (alerts_test.yaml) pass — each alert fires on series
that should fire it and stays silent on series just on the other side of its threshold — and a
copy with any one threshold moved makes them fail. Every alert names only metrics the processes
export (the catalogue, services/common/metrics.py) or kube-state-metrics', and says how bad it is,
what it means and where its runbook section is. The production overlays render the rule.
"""

from __future__ import annotations

import copy

import pytest
import yaml

from tests.deploy import manifests as m
from tests.deploy import monitoring as mon

# The seeds' thresholds, by alert: each must appear in its expression.
THRESHOLDS = {
    "FteEscalationRateHigh": "> 0.25",
    "FteReplyLatencyHigh": "> 3",
    "FtePodCrashLooping": "> 3",
    "FteConsumerLagHigh": "> 100",
    "FteDbPoolSaturated": "> 0.8",
    "FteDeadLetters": "> 0",
    "FteFirstReplyPromiseBreached": "> 0",
    "FteEdgeOutboxBacklog": "> 300",
    "FteEdgeShedding": "> 0.1",
}
# A threshold moved the wrong way, per alert; alerts_test.yaml must notice each one.
MOVED = {
    "FteEscalationRateHigh": ("> 0.25", "> 0.23"),    # 24% would fire
    "FteReplyLatencyHigh": ("> 3", "> 3.5"),          # 3.33 s would not
    "FtePodCrashLooping": ("> 3", "> 2"),             # 3 restarts would fire
    "FteConsumerLagHigh": ("> 100", "> 99"),          # 100 would fire
    "FteDbPoolSaturated": ("> 0.8", "> 0.9"),         # 90% would not
    "FteDeadLetters": ("[15m]", "[5m]"),              # resolved too early: the window shrank
    "FteFirstReplyPromiseBreached": ('promise="breached"', 'promise="kept"'),  # the wrong outcome
    "FteEdgeOutboxBacklog": ("> 300", "> 240"),       # 5 minutes would fire
    "FteEdgeShedding": ("> 0.1", "> 0.01"),           # the trickle would fire
}


def _check_and_test(tmp_path, spec=None):
    rules = mon.write_rules(tmp_path, spec)
    check = mon.promtool("check", "rules", str(rules))
    tests = mon.write_alert_tests(tmp_path)
    result = mon.promtool("test", "rules", str(tests), cwd=tmp_path)
    return check, result


def test_the_rules_pass_promtool_check_rules(tmp_path):
    rules = mon.write_rules(tmp_path)
    result = mon.promtool("check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(mon.alerts())} rules found" in result.stdout, result.stdout


def test_every_alert_fires_when_it_should_and_only_then(tmp_path):
    _, result = _check_and_test(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout, result.stdout


def test_every_alert_is_unit_tested():
    tested = set()
    for group in yaml.safe_load(mon.ALERT_TESTS.read_text())["tests"]:
        for case in group.get("alert_rule_test", []):
            if case.get("exp_alerts"):
                tested.add(case["alertname"])
    assert {a["alert"] for a in mon.alerts()} <= tested, "alerts never seen firing in alerts_test.yaml"


@pytest.mark.parametrize("alert", sorted(MOVED))
def test_a_moved_threshold_makes_the_unit_tests_fail(tmp_path, alert):
    spec = copy.deepcopy(mon.rules_spec())
    rule = next(a for a in mon.alerts(spec) if a["alert"] == alert)
    old, new = MOVED[alert]
    assert old in rule["expr"], rule["expr"]
    rule["expr"] = rule["expr"].replace(old, new)
    check, result = _check_and_test(tmp_path, spec)
    assert check.returncode == 0, check.stdout + check.stderr  # still valid rules...
    assert result.returncode != 0, result.stdout                # ...that the tests reject
    assert alert in result.stdout + result.stderr, result.stdout + result.stderr


def test_a_broken_expression_fails_promtool_check_rules(tmp_path):
    spec = copy.deepcopy(mon.rules_spec())
    mon.alerts(spec)[0]["expr"] = "sum(rate(fte_messages_total[30m]) > "
    result = mon.promtool("check", "rules", str(mon.write_rules(tmp_path, spec)))
    assert result.returncode != 0, result.stdout


def test_the_seeds_thresholds_are_the_alerts_thresholds():
    exprs = {a["alert"]: " ".join(a["expr"].split()) for a in mon.alerts()}
    assert set(exprs) == set(THRESHOLDS)
    for alert, threshold in THRESHOLDS.items():
        assert exprs[alert].endswith(threshold) or f"{threshold} or" in exprs[alert], (alert, exprs[alert])


def test_every_alert_has_a_severity_a_summary_a_description_and_a_runbook():
    for a in mon.alerts():
        assert a.get("labels", {}).get("severity") in ("warning", "critical"), a["alert"]
        for key in ("summary", "description", "runbook_url"):
            assert a.get("annotations", {}).get(key), (a["alert"], key)
        assert a["annotations"]["runbook_url"].startswith("docs/runbook.md#"), a["alert"]


def test_every_alert_names_only_metrics_the_processes_or_kube_state_metrics_export():
    known = mon.catalogue_sample_names()
    for a in mon.alerts():
        names = mon.metric_names(a["expr"])
        assert names, (a["alert"], a["expr"])
        assert mon.unknown_metrics(names, known) == set(), a["alert"]


def test_an_unknown_metric_is_reported():
    known = mon.catalogue_sample_names()
    names = mon.metric_names('sum(rate(fte_mesages_total{outcome="escalated"}[5m])) / sum(rate(fte_messages_total[5m]))')
    assert mon.unknown_metrics(names, known) == {"fte_mesages_total"}
    # the catalogue's histograms and counters by their sample names; the instrumentator's and kube_*
    assert mon.unknown_metrics({"fte_reply_latency_seconds_bucket", "fte_dead_letters_total",
                                "http_requests_total", "kube_pod_container_status_restarts_total"}, known) == set()
    # family names are no series: a histogram's or a counter's name alone selects nothing
    assert mon.unknown_metrics({"fte_reply_latency_seconds", "fte_dead_letters"}, known) == {
        "fte_reply_latency_seconds", "fte_dead_letters"}


@pytest.mark.parametrize("overlay", ["production", "production-operators"])
def test_the_production_overlays_render_the_rule_and_the_scrape_config(overlay):
    docs = m.render(overlay)
    rule = m.find(docs, "PrometheusRule", "flowboard-alerts")
    assert rule["metadata"]["namespace"] == "flowboard"
    assert rule["spec"] == mon.rules_spec()
    monitors = m.by_kind(docs, "PodMonitor")
    scraped = {(w["metadata"]["name"], port)
               for w in m.by_kind(docs, "Deployment")
               for pm in monitors if m.selects(pm["spec"]["selector"], m.pod_labels(w))
               for ep in pm["spec"]["podMetricsEndpoints"]
               for port in [ep["port"]]
               if any(p.get("name") == port for _, c in m.containers(w, init=False) for p in c.get("ports", []))}
    # the edge on its HTTP port; every process with a `metrics` port on it
    assert ("edge", "http") in scraped
    with_metrics = {w["metadata"]["name"] for w in m.by_kind(docs, "Deployment")
                    for _, c in m.containers(w, init=False) for p in c.get("ports", []) if p.get("name") == "metrics"}
    assert with_metrics <= {name for name, port in scraped if port == "metrics"}
    assert with_metrics, "no Deployment has a metrics port"


def test_the_local_overlay_has_no_monitoring():
    docs = m.render("local")
    assert not [d for d in docs if d["apiVersion"].startswith("monitoring.coreos.com/")]
