"""The project's own manifests (every overlay in k8s/overlays, rendered by kustomize: manifests.py) on the
real control plane (tests/deploy/cluster.py): the API server accepts every object of every overlay
on a server-side dry run, and the local overlay, applied for real onto kwok's nodes, brings every
Deployment to its replicas Ready, rolls the edge to a new image without going below its
PodDisruptionBudget, and replaces an edge pod that is deleted.

The operators' resource kinds (KEDA's ScaledObject, cert-manager's, CloudNativePG's and Strimzi's)
are not served by a bare control plane. Their CustomResourceDefinitions are stood in for by minimal
ones made here from the kinds the overlays use (group, version, kind; any content accepted), so the
dry run checks that those objects are well-formed Kubernetes objects of a served kind, and the
operators' own schemas are left to kubernetes-validate and the operators themselves.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import yaml

from tests.deploy.cluster import Cluster, wait_for
from tests.deploy.manifests import OVERLAYS, render

# Groups a bare control plane serves (every other one is an operator's).
CORE_GROUPS = {
    "", "apps", "batch", "policy", "autoscaling", "networking.k8s.io", "rbac.authorization.k8s.io",
    "storage.k8s.io", "scheduling.k8s.io", "coordination.k8s.io", "discovery.k8s.io",
    "admissionregistration.k8s.io", "apiextensions.k8s.io", "certificates.k8s.io", "node.k8s.io",
    "flowcontrol.apiserver.k8s.io", "apiregistration.k8s.io", "resource.k8s.io", "events.k8s.io",
}
# Operator kinds that are cluster-wide (every other one is namespaced).
CLUSTER_SCOPED_KINDS = {"ClusterIssuer", "ClusterTriggerAuthentication", "ClusterImageCatalog"}


def group_version(doc: dict) -> tuple[str, str]:
    group, _, version = doc["apiVersion"].rpartition("/")
    return group, version


def plural(kind: str) -> str:
    lower = kind.lower()
    if lower.endswith(("s", "x", "ch", "sh")):
        return lower + "es"
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + "s"


def stand_in_crds(docs: list[dict]) -> list[dict]:
    """A minimal CRD for every kind of a group the bare control plane does not serve."""
    kinds: dict[tuple[str, str], set[str]] = {}
    for doc in docs:
        group, version = group_version(doc)
        if group not in CORE_GROUPS:
            kinds.setdefault((group, doc["kind"]), set()).add(version)
    crds = []
    for (group, kind), versions in sorted(kinds.items()):
        crds.append({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural(kind)}.{group}"},
            "spec": {
                "group": group,
                "names": {"kind": kind, "plural": plural(kind), "singular": kind.lower(), "listKind": kind + "List"},
                "scope": "Cluster" if kind in CLUSTER_SCOPED_KINDS else "Namespaced",
                "versions": [{
                    "name": v, "served": True, "storage": i == 0,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                    "subresources": {"status": {}},
                } for i, v in enumerate(sorted(versions))],
            },
        })
    return crds


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    assert {"local", "production"} <= set(OVERLAYS)
    return {overlay: render(overlay) for overlay in OVERLAYS}


@pytest.fixture(scope="module")
def operator_kinds(kube: Cluster, rendered: dict[str, list[dict]]) -> list[dict]:
    """The stand-in CRDs, installed and Established."""
    crds = stand_in_crds([doc for docs in rendered.values() for doc in docs])
    if crds:
        kube.apply(crds)
        for crd in crds:
            kube.kubectl("wait", "--for=condition=Established", f"crd/{crd['metadata']['name']}", "--timeout=60s")
    return crds


def namespaces_of(docs: list[dict]) -> set[str]:
    return {d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"} | {
        d["metadata"]["namespace"] for d in docs if d["metadata"].get("namespace")}


def test_every_overlay_passes_a_server_side_dry_run(kube: Cluster, rendered: dict[str, list[dict]],
                                                    operator_kinds: list[dict]) -> None:
    for overlay, docs in rendered.items():
        assert docs, f"{overlay} renders no objects"
        # A dry run creates nothing, so the objects inside a namespace the overlay makes would be
        # refused for want of it: the namespaces are made for real first (the same ones `apply`
        # makes; the local overlay's real apply below reuses them).
        for name in sorted(namespaces_of(docs)):
            ns = next((d for d in docs if d["kind"] == "Namespace" and d["metadata"]["name"] == name),
                      {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
            kube.apply(ns)
        done = kube.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(docs), check=False)
        assert done.returncode == 0, f"the {overlay} overlay is refused by the API server:\n{done.stderr}"
        accepted = [line for line in done.stdout.splitlines() if line.endswith("(server dry run)")]
        assert len(accepted) == len(docs), f"{overlay}: {len(docs)} objects, accepted:\n{done.stdout}"


def claims_of(docs: list[dict]) -> list[tuple[str, dict]]:
    """Every PersistentVolumeClaim the overlay asks for: (namespace, spec), from PVCs and from
    StatefulSets' volumeClaimTemplates (one claim per replica)."""
    claims = []
    for d in docs:
        ns = d["metadata"].get("namespace", "default")
        if d["kind"] == "PersistentVolumeClaim":
            claims.append((ns, d["spec"]))
        elif d["kind"] == "StatefulSet":
            for template in d["spec"].get("volumeClaimTemplates") or []:
                claims += [(ns, template["spec"])] * d["spec"].get("replicas", 1)
    return claims


def provide_storage(kube: Cluster, docs: list[dict]) -> None:
    """What a cluster's storage provisioner would do: a default StorageClass and a volume for
    every claim, which the controller manager's volume controller binds (kwok's nodes mount
    nothing, so a hostPath that never exists is enough)."""
    classes = {spec.get("storageClassName") for _, spec in claims_of(docs)} - {None, ""}
    objects = [{
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": name, "annotations": {"storageclass.kubernetes.io/is-default-class":
                                                    "true" if name == "standard" else "false"}},
        "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "Immediate",
    } for name in classes | {"standard"}]
    for i, (_, spec) in enumerate(claims_of(docs)):
        objects.append({
            "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"fake-volume-{i}"},
            "spec": {
                "capacity": {"storage": spec.get("resources", {}).get("requests", {}).get("storage", "1Gi")},
                "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                "storageClassName": spec.get("storageClassName") or "standard",
                "persistentVolumeReclaimPolicy": "Delete",
                "hostPath": {"path": f"/nonexistent/fake-volume-{i}"},
            },
        })
    kube.apply(objects)


def deployments(kube: Cluster, namespaces: set[str]) -> list[dict]:
    return [d for ns in sorted(namespaces) for d in kube.json("deployments", "-n", ns)["items"]]


def ready_pods(kube: Cluster, ns: str, selector: dict[str, str]) -> list[dict]:
    label = ",".join(f"{k}={v}" for k, v in selector.items())
    pods = kube.json("pods", "-n", ns, "-l", label)["items"]
    return [p for p in pods if p["metadata"].get("deletionTimestamp") is None
            and p["status"].get("phase") == "Running"
            and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]


@pytest.fixture(scope="module")
def local(kube: Cluster, rendered: dict[str, list[dict]], operator_kinds: list[dict]) -> Iterator[dict]:
    """The local overlay applied for real, every Deployment rolled out: its edge Deployment."""
    docs = rendered["local"]
    provide_storage(kube, docs)
    namespaces = namespaces_of(docs)
    # The namespaces first (apply sends the objects in the file's order; kustomize puts them first).
    kube.apply(docs)
    # A Deployment an HPA scales has no `replicas` of its own: it starts at 1 and the HPA lifts it
    # to minReplicas (the controller manager's HPA controller does, metrics or not).
    for hpa in [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]:
        target, ns = hpa["spec"]["scaleTargetRef"]["name"], hpa["metadata"].get("namespace", "default")
        floor = hpa["spec"].get("minReplicas", 1)
        wait_for(lambda: kube.json("deployment", target, "-n", ns)["spec"]["replicas"] >= floor,
                 f"the HPA to scale {target} to {floor}", timeout=90)
    deps = deployments(kube, namespaces)
    assert deps, "the local overlay made no Deployment"
    for d in deps:
        kube.kubectl("rollout", "status", f"deployment/{d['metadata']['name']}", "-n", d["metadata"]["namespace"],
                     "--timeout=180s", timeout=200)
    # the in-cluster PostgreSQL, Kafka and Redis too, on the volumes provide_storage made
    for sts in [d for d in docs if d["kind"] == "StatefulSet"]:
        kube.kubectl("rollout", "status", f"statefulset/{sts['metadata']['name']}",
                     "-n", sts["metadata"].get("namespace", "default"), "--timeout=180s", timeout=200)
    edge = [d for d in deps if "edge" in d["metadata"]["name"]]
    assert len(edge) == 1, f"expected one edge Deployment, found {[d['metadata']['name'] for d in deps]}"
    yield edge[0]


def test_every_deployment_of_the_local_overlay_reaches_its_replicas_ready(kube: Cluster, local: dict,
                                                                          rendered: dict[str, list[dict]]) -> None:
    namespaces = namespaces_of(rendered["local"])
    expected = {d["metadata"]["name"] for d in rendered["local"] if d["kind"] == "Deployment"}
    found = deployments(kube, namespaces)
    assert {d["metadata"]["name"] for d in found} == expected
    for d in found:
        name, ns = d["metadata"]["name"], d["metadata"]["namespace"]
        want = d["spec"]["replicas"]
        assert want >= 1, f"{name} runs no replica"
        status = d["status"]
        assert status.get("readyReplicas") == want == status.get("availableReplicas"), f"{name}: {status}"
        assert len(ready_pods(kube, ns, d["spec"]["selector"]["matchLabels"])) == want, name
    # the Jobs that run before the services (migrations, the knowledge seed) completed
    for job in [d for d in rendered["local"] if d["kind"] == "Job"]:
        kube.kubectl("wait", "--for=condition=Complete", f"job/{job['metadata']['name']}",
                     "-n", job["metadata"].get("namespace", "default"), "--timeout=120s")


def pdb_for(kube: Cluster, deployment: dict) -> dict:
    ns = deployment["metadata"]["namespace"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    covering = [p for p in kube.json("pdb", "-n", ns)["items"]
                if all(labels.get(k) == v for k, v in p["spec"]["selector"].get("matchLabels", {}).items())]
    assert len(covering) == 1, f"{deployment['metadata']['name']} is covered by {len(covering)} PDBs"
    return covering[0]


PRODUCTION_EDGE_REPLICAS = 3  # the production overlay's HPA minimum


def test_the_edge_rolls_to_a_new_image_within_its_pdb(kube: Cluster, local: dict) -> None:
    name, ns = local["metadata"]["name"], local["metadata"]["namespace"]
    selector = local["spec"]["selector"]["matchLabels"]
    # With the local overlay's one edge, a budget of "at most one away" asks for nothing; at
    # production's three it keeps two. So the HPA lifts the edge to three, as in production.
    hpas = [h for h in kube.json("hpa", "-n", ns)["items"] if h["spec"]["scaleTargetRef"]["name"] == name]
    assert len(hpas) == 1, f"the edge is scaled by {len(hpas)} HPAs"
    most = max(hpas[0]["spec"]["maxReplicas"], PRODUCTION_EDGE_REPLICAS)
    kube.kubectl("patch", "hpa", hpas[0]["metadata"]["name"], "-n", ns, "--type=merge", "-p",
                 f'{{"spec": {{"minReplicas": {PRODUCTION_EDGE_REPLICAS}, "maxReplicas": {most}}}}}')
    wait_for(lambda: len(ready_pods(kube, ns, selector)) == PRODUCTION_EDGE_REPLICAS,
             f"the HPA to bring the edge to {PRODUCTION_EDGE_REPLICAS} Ready pods", timeout=90)
    budget = pdb_for(kube, local)
    pdb_name = budget["metadata"]["name"]

    def computed() -> dict | None:
        status = kube.json("pdb", pdb_name, "-n", ns)["status"]
        return status if status.get("expectedPods") == PRODUCTION_EDGE_REPLICAS else None
    floor = wait_for(computed, "the disruption controller to count the edge's pods", timeout=30)["desiredHealthy"]
    assert floor >= 1, f"the edge's PDB lets every pod go: {budget['spec']}"
    container = local["spec"]["template"]["spec"]["containers"][0]
    image = container["image"].rsplit(":", 1)[0] + ":rolled"

    seen: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.append(len(ready_pods(kube, ns, selector)))
            stop.wait(0.2)
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        kube.kubectl("set", "image", f"deployment/{name}", f"{container['name']}={image}", "-n", ns)
        kube.kubectl("rollout", "status", f"deployment/{name}", "-n", ns, "--timeout=180s", timeout=200)
    finally:
        stop.set()
        watcher.join()

    assert seen and min(seen) >= floor, f"Ready edge pods during the rollout: {seen}; the PDB wants {floor}"
    pods = ready_pods(kube, ns, selector)
    assert len(pods) == PRODUCTION_EDGE_REPLICAS
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {image}


def test_a_deleted_edge_pod_is_replaced(kube: Cluster, local: dict) -> None:
    ns = local["metadata"]["namespace"]
    selector = local["spec"]["selector"]["matchLabels"]
    replicas = kube.json("deployment", local["metadata"]["name"], "-n", ns)["spec"]["replicas"]
    wait_for(lambda: len(ready_pods(kube, ns, selector)) == replicas, "the edge's pods Ready", timeout=60)
    before = {p["metadata"]["name"] for p in ready_pods(kube, ns, selector)}
    victim = sorted(before)[0]

    kube.kubectl("delete", "pod", victim, "-n", ns, "--wait=true", "--timeout=60s")

    def replaced() -> set[str]:
        now = {p["metadata"]["name"] for p in ready_pods(kube, ns, selector)}
        return now if len(now) == replicas and victim not in now else set()
    after = wait_for(replaced, "a replacement for the deleted edge pod", timeout=60)
    assert len(after - before) == 1
