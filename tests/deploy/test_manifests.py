"""The Kubernetes manifests (k8s/), rendered and checked offline: no cluster, no network.

kustomize renders every overlay; kubernetes-validate checks every built-in resource strictly
against the Kubernetes 1.35 schemas; the custom resources it has no schema for (KEDA, CNPG,
Strimzi) are checked by `custom_resource_problems`; the policy checks hold for every overlay,
and each is shown to fail on a rendered copy broken on purpose. The manifests are also held to
the code: processes, commands and ports (devstack/processes.py), who calls whom (the *_ADDR
settings each process reads), consumer groups and topics (services/, devstack/kafka.py).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError

from tests.deploy import manifests as m

pytestmark = pytest.mark.parametrize("overlay", m.OVERLAYS)


# --- rendering and schema validation -------------------------------------------------------

def test_overlay_renders_with_kustomize(overlay):
    docs = m.render(overlay)
    assert docs, f"{overlay} rendered nothing"
    kinds = {d["kind"] for d in docs}
    assert {"Namespace", "ConfigMap", "Deployment", "Service", "Job", "NetworkPolicy",
            "PodDisruptionBudget", "HorizontalPodAutoscaler", "Ingress"} <= kinds
    assert all(d["metadata"].get("namespace") == "flowboard" for d in docs if d["kind"] != "Namespace")


def test_every_builtin_resource_passes_kubernetes_validate_strict(overlay, tmp_path):
    docs = m.render(overlay)
    builtin = [d for d in docs if (d["apiVersion"], d["kind"]) not in m.CUSTOM_KINDS]
    path = tmp_path / f"{overlay}.yaml"
    path.write_text(yaml.safe_dump_all(builtin))
    cli = Path(sys.executable).parent / "kubernetes-validate"
    result = subprocess.run([str(cli), "--strict", "--quiet", "-k", m.KUBERNETES_VERSION, str(path)],
                            capture_output=True, text=True, timeout=300)
    # Nothing printed: no error, and no document skipped with a "couldn't find schema" warning.
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_custom_resources_are_known_and_complete(overlay):
    docs = m.render(overlay)
    assert m.custom_resource_problems(docs) == []
    for d in docs:
        if (d["apiVersion"], d["kind"]) in m.CUSTOM_KINDS:
            with pytest.raises(SchemaNotFoundError):
                kubernetes_validate.validate(d, m.KUBERNETES_VERSION, strict=True)


# --- policy -----------------------------------------------------------------------------------

def test_every_container_has_probes_resources_and_a_locked_down_security_context(overlay):
    assert m.container_problems(m.render(overlay)) == []


def test_every_service_port_is_named(overlay):
    assert m.service_port_problems(m.render(overlay)) == []


def test_every_long_running_workload_is_covered_by_a_pod_disruption_budget(overlay):
    assert m.pdb_problems(m.render(overlay)) == []


def test_ingress_is_denied_by_default_and_every_workload_has_a_network_policy(overlay):
    assert m.network_policy_problems(m.render(overlay)) == []


def test_only_the_edge_takes_traffic_from_outside_the_namespace(overlay):
    docs = m.render(overlay)
    assert m.outside_ingress_problems(docs) == []
    # ...and the edge does: from the Ingress controller, on its http port.
    assert m.callers_of(docs, "edge", "http") == set()
    edge_policy = m.find(docs, "NetworkPolicy", "edge-from-ingress-controller")
    assert edge_policy["spec"]["ingress"][0]["from"][0]["namespaceSelector"]


def test_no_secret_is_rendered(overlay):
    docs = m.render(overlay)
    assert m.secret_problems(docs) == []
    assert m.by_kind(docs, "Secret") == []
    assert "CHANGE_ME" not in m.render_text(overlay)


# --- the checks fail when they should -----------------------------------------------------------

def test_a_missing_probe_is_reported(overlay):
    docs = m.render(overlay)
    broken = m.without(docs, "Deployment", "identity", ["spec", "template", "spec", "containers", 0, "readinessProbe"])
    assert m.container_problems(broken) == ["Deployment/identity container identity: no readinessProbe"]
    broken = m.without(docs, "Deployment", "worker", ["spec", "template", "spec", "containers", 0, "livenessProbe"])
    assert m.container_problems(broken) == ["Deployment/worker container worker: no livenessProbe"]


def test_a_loosened_security_context_or_missing_limit_is_reported(overlay):
    docs = m.render(overlay)
    broken = m.without(docs, "Job", "migrate", ["spec", "template", "spec", "containers", 0, "securityContext", "readOnlyRootFilesystem"])
    assert m.container_problems(broken) == ["Job/migrate container migrate: root filesystem not read-only"]
    broken = m.without(docs, "Deployment", "agent", ["spec", "template", "spec", "initContainers", 0, "resources", "limits"])
    assert m.container_problems(broken) == ["Deployment/agent initContainer wait-for-schema: no cpu limit",
                                            "Deployment/agent initContainer wait-for-schema: no memory limit"]
    broken = m.render(overlay)
    m.find(broken, "Deployment", "edge")["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]["drop"] = []
    assert m.container_problems(broken) == ["Deployment/edge container edge: capabilities not dropped (drop ALL)"]


def test_an_unnamed_service_port_is_reported(overlay):
    broken = m.without(m.render(overlay), "Service", "conversation", ["spec", "ports", 1, "name"])
    assert m.service_port_problems(broken) == ["Service/conversation: port 50058 has no name"]


def test_a_pdb_that_selects_nothing_is_reported(overlay):
    broken = m.render(overlay)
    m.find(broken, "PodDisruptionBudget", "dispatcher")["spec"]["selector"]["matchLabels"]["app"] = "dispatch"
    assert m.pdb_problems(broken) == ["Deployment/dispatcher: no PodDisruptionBudget selects its pods"]


def test_a_workload_without_network_policy_or_default_deny_is_reported(overlay):
    docs = m.render(overlay)
    broken = [d for d in docs if not (d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "default-deny-ingress")]
    problems = m.network_policy_problems(broken)
    assert problems[0].startswith("no default-deny ingress NetworkPolicy")
    assert "Deployment/worker: no NetworkPolicy selects its pods" in problems


def test_outside_traffic_to_anything_but_the_edge_is_reported(overlay):
    broken = m.render(overlay)
    m.find(broken, "NetworkPolicy", "identity-from-callers")["spec"]["ingress"].append(
        {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]})
    assert m.outside_ingress_problems(broken) == [
        "NetworkPolicy/identity-from-callers admits ingress-nginx to Deployment/identity"]
    broken = m.render(overlay)
    del m.find(broken, "NetworkPolicy", "dispatcher-from-callers")["spec"]["ingress"][0]["from"]
    assert m.outside_ingress_problems(broken) == [
        "NetworkPolicy/dispatcher-from-callers admits anyone to Deployment/dispatcher"]


def test_a_rendered_secret_is_reported(overlay):
    example = yaml.safe_load((m.K8S / "base" / "secret.example.yaml").read_text())
    assert m.secret_problems([*m.render(overlay), example]) == ["Secret/flowboard-secrets is rendered with data"]


def test_strict_validation_rejects_an_unknown_field(overlay):
    docs = m.render(overlay)
    broken = m.find(docs, "Deployment", "access")
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["grpcc"] = {"port": 50056}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, m.KUBERNETES_VERSION, strict=True)


def test_a_broken_custom_resource_is_reported(overlay):
    docs = m.render(overlay)
    custom = [d for d in docs if (d["apiVersion"], d["kind"]) in m.CUSTOM_KINDS]
    if not custom:
        pytest.skip(f"{overlay} renders no custom resources")
    broken = [d for d in docs if d not in custom] + [
        {**d, "spec": {k: v for k, v in d["spec"].items() if k not in ("scaleTargetRef", "partitions", "instances", "roles", "kafka")}}
        for d in custom]
    problems = m.custom_resource_problems(broken)
    assert len(problems) >= len(custom), problems
