"""Rendering the kustomize overlays and the checks the deploy tests make on what they render.

Each check is a function from the rendered documents to a list of problems (empty: fine), so a
test can run it on a deliberately broken copy and see it report.
"""

from __future__ import annotations

import copy
import functools
import re
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
KUSTOMIZE = ROOT / ".cache" / "bin" / "kustomize"
OVERLAYS = ("local", "production", "production-operators")
KUBERNETES_VERSION = "1.35.0"
IMAGE = "flowboard-fte"

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}
# Kinds that kubernetes-validate has no schema for: validated by `custom_resource_problems`.
CUSTOM_KINDS = {
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("postgresql.cnpg.io/v1", "Cluster"),
    ("kafka.strimzi.io/v1beta2", "Kafka"),
    ("kafka.strimzi.io/v1beta2", "KafkaNodePool"),
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
}
# Ingress from outside the namespace that is not customer traffic: operators driving the pods
# they manage (CloudNativePG's instance manager), Prometheus scraping the `metrics` ports
# (tests/deploy/test_scraping.py holds that one to the scraped ports). (policy name, namespace it admits)
OPERATOR_INGRESS = {("flowboard-pg", "cnpg-system"), ("prometheus-scrape", "monitoring")}


@functools.cache
def _build(overlay: str) -> str:
    if not KUSTOMIZE.exists():
        raise RuntimeError(f"{KUSTOMIZE} is missing: `make {KUSTOMIZE.relative_to(ROOT)}` builds it")
    result = subprocess.run([str(KUSTOMIZE), "build", str(K8S / "overlays" / overlay)],
                            capture_output=True, text=True, timeout=120)
    if result.returncode:
        raise RuntimeError(f"kustomize build {overlay} failed:\n{result.stderr}")
    return result.stdout


@functools.cache
def _parsed(overlay: str) -> tuple[dict, ...]:
    return tuple(d for d in yaml.load_all(_build(overlay), Loader=yaml.CSafeLoader) if d)


def render(overlay: str) -> list[dict]:
    """The overlay's documents, a fresh copy each call (tests may break them)."""
    return copy.deepcopy(list(_parsed(overlay)))


def render_text(overlay: str) -> str:
    return _build(overlay)


def by_kind(docs: Iterable[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def find(docs: Iterable[dict], kind: str, name: str) -> dict:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def pod_spec(workload: dict) -> dict:
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def pod_labels(workload: dict) -> dict:
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["metadata"].get("labels", {})


def containers(workload: dict, *, init: bool = True) -> Iterator[tuple[str, dict]]:
    spec = pod_spec(workload)
    for c in spec.get("containers", []):
        yield "container", c
    if init:
        for c in spec.get("initContainers", []):
            yield "initContainer", c


def _where(workload: dict, role: str, c: dict) -> str:
    return f"{workload['kind']}/{workload['metadata']['name']} {role} {c['name']}"


def container_problems(docs: list[dict]) -> list[str]:
    """Every container (init and Job containers too): requests and limits, non-root, read-only
    root filesystem, no privilege escalation, ALL capabilities dropped, seccomp RuntimeDefault;
    the long-running ones (Deployments, StatefulSets) also a liveness and a readiness probe;
    the project's image runs as uid 10001."""
    problems = []
    for w in (d for d in docs if d["kind"] in WORKLOAD_KINDS):
        pod = pod_spec(w)
        pod_sc = pod.get("securityContext", {})
        for role, c in containers(w):
            where = _where(w, role, c)
            sc = c.get("securityContext", {})
            resources = c.get("resources", {})
            for kind in ("requests", "limits"):
                for res in ("cpu", "memory"):
                    if res not in resources.get(kind, {}):
                        problems.append(f"{where}: no {res} {kind[:-1]}")
            if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
                problems.append(f"{where}: not runAsNonRoot")
            if sc.get("runAsUser", pod_sc.get("runAsUser")) in (None, 0):
                problems.append(f"{where}: no non-zero runAsUser")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: root filesystem not read-only")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation not false")
            if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                problems.append(f"{where}: capabilities not dropped (drop ALL)")
            seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {}))
            if seccomp.get("type") != "RuntimeDefault":
                problems.append(f"{where}: seccompProfile not RuntimeDefault")
            if c["image"].split("/")[-1].split(":")[0] == IMAGE and sc.get("runAsUser", pod_sc.get("runAsUser")) != 10001:
                problems.append(f"{where}: the project's image runs as uid 10001")
            if role == "container" and w["kind"] in ("Deployment", "StatefulSet", "DaemonSet"):
                for probe in ("livenessProbe", "readinessProbe"):
                    if probe not in c:
                        problems.append(f"{where}: no {probe}")
    return problems


def service_port_problems(docs: list[dict]) -> list[str]:
    """Every Service port has a name; a port named grpc says appProtocol grpc."""
    problems = []
    for s in by_kind(docs, "Service"):
        for p in s["spec"].get("ports", []):
            name = p.get("name")
            if not name:
                problems.append(f"Service/{s['metadata']['name']}: port {p['port']} has no name")
            elif name == "grpc" and p.get("appProtocol") != "grpc":
                problems.append(f"Service/{s['metadata']['name']}: grpc port without appProtocol grpc")
    return problems


def selects(selector: dict, labels: dict) -> bool:
    """A label selector (matchLabels and matchExpressions) against a set of labels."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def long_running(docs: list[dict]) -> list[dict]:
    return [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]


def pdb_problems(docs: list[dict]) -> list[str]:
    """Every Deployment and StatefulSet is covered by a PodDisruptionBudget whose selector
    matches its pods, and that budget lets at least one pod go (or a drain never finishes)."""
    problems = []
    pdbs = by_kind(docs, "PodDisruptionBudget")
    for w in long_running(docs):
        covering = [p for p in pdbs if selects(p["spec"]["selector"], pod_labels(w))]
        if not covering:
            problems.append(f"{w['kind']}/{w['metadata']['name']}: no PodDisruptionBudget selects its pods")
        for p in covering:
            replicas = w["spec"].get("replicas", 1)
            if p["spec"].get("minAvailable") not in (None, 0) and p["spec"]["minAvailable"] >= replicas:
                problems.append(f"PodDisruptionBudget/{p['metadata']['name']}: blocks every eviction")
    return problems


def _ingress_policies(docs: list[dict]) -> list[dict]:
    return [p for p in by_kind(docs, "NetworkPolicy")
            if "Ingress" in p["spec"].get("policyTypes", ["Ingress"])]


def network_policy_problems(docs: list[dict]) -> list[str]:
    """Ingress is denied by default in the namespace, and every Deployment and StatefulSet is
    selected by an ingress policy (so what reaches it is decided, not left open)."""
    problems = []
    policies = _ingress_policies(docs)
    if not any(p["spec"]["podSelector"] == {} and not p["spec"].get("ingress") for p in policies):
        problems.append("no default-deny ingress NetworkPolicy (podSelector {}, no ingress rules)")
    for w in long_running(docs):
        if not any(selects(p["spec"]["podSelector"], pod_labels(w)) for p in policies):
            problems.append(f"{w['kind']}/{w['metadata']['name']}: no NetworkPolicy selects its pods")
    return problems


def outside_ingress_problems(docs: list[dict]) -> list[str]:
    """Only the edge takes traffic from outside the namespace: no other workload is selected by
    a policy admitting another namespace, an IP block or anyone (an ingress rule without
    `from`). Operators driving their own pods (OPERATOR_INGRESS) are the named exception."""
    problems = []
    for p in _ingress_policies(docs):
        for rule in p["spec"].get("ingress", []):
            peers = rule.get("from")
            outside = ["anyone"] if not peers else [
                (peer.get("namespaceSelector", {}).get("matchLabels", {})
                 .get("kubernetes.io/metadata.name", "any namespace") if "namespaceSelector" in peer
                 else f"ipBlock {peer['ipBlock'].get('cidr')}")
                for peer in peers if "namespaceSelector" in peer or "ipBlock" in peer
            ]
            for source in outside:
                if (p["metadata"]["name"], source) in OPERATOR_INGRESS:
                    continue
                for w in long_running(docs):
                    if selects(p["spec"]["podSelector"], pod_labels(w)) and w["metadata"]["name"] != "edge":
                        problems.append(f"NetworkPolicy/{p['metadata']['name']} admits {source} "
                                        f"to {w['kind']}/{w['metadata']['name']}")
    return problems


def callers_of(docs: list[dict], app: str, port: str) -> set[str]:
    """The `app` labels of the pods the NetworkPolicies admit to `app`'s named `port`."""
    target = find(docs, "Deployment", app)
    callers: set[str] = set()
    for p in _ingress_policies(docs):
        if not selects(p["spec"]["podSelector"], pod_labels(target)):
            continue
        for rule in p["spec"].get("ingress", []):
            ports = {q.get("port") for q in rule.get("ports", [])}
            if ports and port not in ports:
                continue
            for peer in rule.get("from", []):
                if set(peer) == {"podSelector"}:
                    callers.add(peer["podSelector"].get("matchLabels", {}).get("app", "*"))
    return callers


def secret_problems(docs: list[dict]) -> list[str]:
    """No Secret with content in what is rendered: secrets are made by hand (SECRETS.md)."""
    return [f"Secret/{s['metadata']['name']} is rendered with data"
            for s in by_kind(docs, "Secret") if s.get("data") or s.get("stringData")]


def _get(doc: dict, path: str):
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


_REQUIRED = {
    "ScaledObject": ["spec.scaleTargetRef.name", "spec.minReplicaCount", "spec.maxReplicaCount",
                     "spec.triggers"],
    "Cluster": ["spec.instances", "spec.storage.size", "spec.imageName",
                "spec.bootstrap.initdb.database", "spec.bootstrap.initdb.owner"],
    "Kafka": ["spec.kafka.listeners", "spec.entityOperator.topicOperator"],
    "KafkaNodePool": ["metadata.labels", "spec.replicas", "spec.roles", "spec.storage.type"],
    "KafkaTopic": ["metadata.labels", "spec.partitions", "spec.replicas"],
    "PrometheusRule": ["spec.groups"],
    "PodMonitor": ["spec.selector", "spec.podMetricsEndpoints"],
}


def custom_resource_problems(docs: list[dict]) -> list[str]:
    """What kubernetes-validate cannot check (it has no CRD schemas): the custom resources'
    apiVersion/kind are the ones we know, their required fields are there, and they point at
    things that exist (a ScaledObject's Deployment, a node pool's or topic's Kafka, a PodMonitor's
    pods and their port)."""
    problems = []
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for d in docs:
        key = (d["apiVersion"], d["kind"])
        if "." not in d["apiVersion"].split("/")[0] or d["apiVersion"].split("/")[0].endswith(".k8s.io"):
            continue  # core and k8s.io groups: kubernetes-validate's job
        where = f"{d['kind']}/{d['metadata']['name']}"
        if key not in CUSTOM_KINDS:
            problems.append(f"{where}: unknown custom resource {d['apiVersion']}")
            continue
        for path in _REQUIRED[d["kind"]]:
            if _get(d, path) in (None, "", []):  # `{}` is a value (topicOperator: {})
                problems.append(f"{where}: {path} is missing")
        spec = d.get("spec") or {}
        if d["kind"] == "ScaledObject":
            target = _get(d, "spec.scaleTargetRef.name")
            if target and ("Deployment", target) not in names:
                problems.append(f"{where}: scales Deployment {target}, which is not rendered")
            if not 1 <= spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 0):
                problems.append(f"{where}: replica range {spec.get('minReplicaCount')}..{spec.get('maxReplicaCount')}")
            for t in spec.get("triggers") or []:
                if t.get("type") != "kafka":
                    problems.append(f"{where}: trigger {t.get('type')} is not kafka")
                for field in ("bootstrapServers", "consumerGroup", "topic", "lagThreshold"):
                    if not t.get("metadata", {}).get(field):
                        problems.append(f"{where}: kafka trigger without {field}")
        if d["kind"] in ("KafkaNodePool", "KafkaTopic"):
            cluster = d["metadata"].get("labels", {}).get("strimzi.io/cluster")
            if ("Kafka", cluster) not in names:
                problems.append(f"{where}: strimzi.io/cluster {cluster!r} is not a rendered Kafka")
        if d["kind"] == "KafkaNodePool" and not set(spec.get("roles", [])) <= {"controller", "broker"}:
            problems.append(f"{where}: roles {spec['roles']}")
        if d["kind"] == "Kafka":
            for listener in _get(d, "spec.kafka.listeners") or []:
                for field in ("name", "port", "type", "tls"):
                    if field not in listener:
                        problems.append(f"{where}: listener without {field}")
        if d["kind"] == "PrometheusRule":
            for group in spec.get("groups") or []:
                for rule in group.get("rules") or []:
                    if not rule.get("expr") or bool(rule.get("alert")) == bool(rule.get("record")):
                        problems.append(f"{where}: group {group.get('name')}: a rule needs an expr and "
                                        f"one of alert / record: {rule}")
        if d["kind"] == "PodMonitor" and spec.get("selector"):
            pods = [w for w in docs if w["kind"] in ("Deployment", "StatefulSet")
                    and selects(spec["selector"], pod_labels(w))]
            if not pods:
                problems.append(f"{where}: selects no rendered pods")
            ports = {p.get("name") for w in pods for _, c in containers(w, init=False) for p in c.get("ports", [])}
            for endpoint in spec.get("podMetricsEndpoints") or []:
                if endpoint.get("port") not in ports:
                    problems.append(f"{where}: no selected pod has a port named {endpoint.get('port')!r}")
        if d["kind"] == "Cluster":
            sql = " ".join(_get(d, "spec.bootstrap.initdb.postInitApplicationSQL") or [])
            if not re.search(r"CREATE EXTENSION .*\bvector\b", sql, re.IGNORECASE):
                problems.append(f"{where}: pgvector is not created at bootstrap")
    return problems


def without(docs: list[dict], kind: str, name: str, path: list) -> list[dict]:
    """A copy of `docs` with the field at `path` of one document deleted."""
    broken = copy.deepcopy(docs)
    node = find(broken, kind, name)
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return broken
