"""Prometheus reaches what it scrapes and nothing else (k8s/components/monitoring, in the production
overlays): the PodMonitors name, for every long-running pod, the container ports that serve
/metrics, and the NetworkPolicy prometheus-scrape opens exactly those ports of exactly those pods
to the `monitoring` namespace through the default-deny ingress — never a gRPC port. Checked on the
rendered manifests, and shown to fail on a copy opened one port too far.
"""

from __future__ import annotations

import copy

import pytest

from tests.deploy import manifests as m

pytestmark = pytest.mark.parametrize("overlay", ["production", "production-operators"])
PROMETHEUS_NAMESPACE = "monitoring"


def port_names(workload: dict) -> set[str]:
    return {p["name"] for _, c in m.containers(workload, init=False) for p in c.get("ports", []) if "name" in p}


def scraped(docs: list[dict], workload: dict) -> set[str]:
    """The named ports of the workload's pods some PodMonitor scrapes."""
    ports = set()
    for monitor in m.by_kind(docs, "PodMonitor"):
        if m.selects(monitor["spec"]["selector"], m.pod_labels(workload)):
            ports |= {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]}
    return ports & port_names(workload)


def admitted_from(docs: list[dict], workload: dict, namespace: str) -> set[str]:
    """The named ports of the workload's pods the NetworkPolicies open to pods of `namespace`
    ("*" for every port)."""
    ports = set()
    for policy in m.by_kind(docs, "NetworkPolicy"):
        if not m.selects(policy["spec"]["podSelector"], m.pod_labels(workload)):
            continue
        for rule in policy["spec"].get("ingress", []):
            if any(peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
                   == namespace for peer in rule.get("from", [])):
                named = {q["port"] for q in rule.get("ports", [])}
                ports |= (named & port_names(workload)) if named else {"*"}
    return ports


def scrape_problems(docs: list[dict]) -> list[str]:
    problems = []
    for w in m.long_running(docs):
        want, got = scraped(docs, w), admitted_from(docs, w, PROMETHEUS_NAMESPACE)
        if want != got:
            problems.append(f"{w['kind']}/{w['metadata']['name']}: scraped on {sorted(want)}, "
                            f"open to Prometheus on {sorted(got)}")
    return problems


def test_every_process_is_scraped_on_its_metrics_port(overlay):
    docs = m.render(overlay)
    from devstack.processes import PROCESSES
    for name in {p.name for p in PROCESSES}:
        want = {"http"} if name == "edge" else {"metrics"}
        assert scraped(docs, m.find(docs, "Deployment", name)) == want, name


def test_prometheus_is_admitted_to_exactly_the_ports_it_scrapes(overlay):
    docs = m.render(overlay)
    assert m.find(docs, "NetworkPolicy", "prometheus-scrape")
    assert scrape_problems(docs) == []
    assert "grpc" not in set().union(*(admitted_from(docs, w, PROMETHEUS_NAMESPACE) for w in m.long_running(docs)))


def test_a_policy_opened_too_far_or_missing_is_reported(overlay):
    docs = m.render(overlay)
    wide = copy.deepcopy(docs)
    m.find(wide, "NetworkPolicy", "prometheus-scrape")["spec"]["ingress"][0]["ports"].append(
        {"protocol": "TCP", "port": "grpc"})
    assert "Deployment/identity: scraped on ['metrics'], open to Prometheus on ['grpc', 'metrics']" \
        in scrape_problems(wide)
    gone = [d for d in docs if not (d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "prometheus-scrape")]
    assert "Deployment/edge: scraped on ['http'], open to Prometheus on []" in scrape_problems(gone)
