"""Every process's Deployment, in every overlay, serves /metrics where `make run` does: the port
in its METRICS_PORT (the edge: its HTTP port), a container port named `metrics` exposed by its
Service, and the prometheus.io/* annotations naming that port and path."""

from __future__ import annotations

import pytest

from devstack.processes import PROCESSES
from tests.deploy import manifests as m

pytestmark = pytest.mark.parametrize("overlay", m.OVERLAYS)


def _env(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def test_each_deployment_serves_metrics_on_its_dev_port_and_is_annotated(overlay):
    docs = m.render(overlay)
    for p in PROCESSES:
        dev_port = int(p.env.get("METRICS_PORT") or p.port)  # notifier, edge: their own port
        d = m.find(docs, "Deployment", p.name)
        container = d["spec"]["template"]["spec"]["containers"][0]
        ports = {q["name"]: q["containerPort"] for q in container.get("ports", [])}
        annotations = d["spec"]["template"]["metadata"].get("annotations", {})
        assert annotations.get("prometheus.io/scrape") == "true", p.name
        assert annotations.get("prometheus.io/path") == "/metrics", p.name
        assert int(annotations["prometheus.io/port"]) == dev_port, p.name
        assert dev_port in ports.values(), (p.name, ports)
        if p.name == "edge":
            continue  # /metrics on its HTTP port
        assert ports["metrics"] == dev_port and _env(container)["METRICS_PORT"] == str(dev_port), p.name
        service = m.find(docs, "Service", p.name)
        assert {"name": "metrics", "port": dev_port, "targetPort": "metrics", "appProtocol": "http"} in \
            service["spec"]["ports"], p.name
