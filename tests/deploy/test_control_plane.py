"""The control plane the deploy tests stand on does what a cluster does, with a Deployment of our
own (no k8s/ manifests needed): replicas come up Ready on kwok's nodes, an image change rolls out
without ever dropping below the PodDisruptionBudget, a deleted pod is replaced, and the API
server's own validation turns a broken object away on a server-side dry run."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
import yaml

from tests.deploy.cluster import FAKE_NODES, Cluster, wait_for

REPLICAS = 3
MIN_AVAILABLE = 2


def deployment(name: str, image: str, replicas: int = REPLICAS) -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas, "selector": {"matchLabels": labels},
            # never below the PDB while rolling: one extra pod at a time, none taken away first
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{
                    "name": "app", "image": image,  # kwok's nodes never pull it
                    "ports": [{"name": "grpc", "containerPort": 50051}],
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                                  "limits": {"cpu": "500m", "memory": "128Mi"}},
                }]},
            },
        },
    }


def pdb(name: str) -> dict:
    return {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name},
        "spec": {"minAvailable": MIN_AVAILABLE, "selector": {"matchLabels": {"app": name}}},
    }


@pytest.fixture
def ns(kube: Cluster) -> Iterator[str]:
    """A namespace of the test's own, deleted afterwards (without waiting for it to go)."""
    name = "t-" + uuid.uuid4().hex[:8]
    kube.kubectl("create", "namespace", name)
    wait_for(lambda: kube.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode == 0,
             f"namespace {name}'s default service account", timeout=30)
    yield name
    kube.kubectl("delete", "namespace", name, "--wait=false", check=False)


def ready_pods(kube: Cluster, ns: str, app: str) -> list[dict]:
    pods = kube.json("pods", "-n", ns, "-l", f"app={app}")["items"]
    return [p for p in pods if p["metadata"].get("deletionTimestamp") is None
            and p["status"].get("phase") == "Running"
            and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]


def test_a_deployment_of_three_reaches_three_ready_replicas_on_kwok_nodes(kube: Cluster, ns: str) -> None:
    kube.apply(deployment("echo", "registry.invalid/fte/echo:1"), "-n", ns)
    kube.kubectl("rollout", "status", "deployment/echo", "-n", ns, "--timeout=120s")

    status = kube.json("deployment", "echo", "-n", ns)["status"]
    assert (status.get("readyReplicas"), status.get("availableReplicas")) == (REPLICAS, REPLICAS), status
    pods = ready_pods(kube, ns, "echo")
    assert len(pods) == REPLICAS
    # scheduled by the real scheduler onto kwok's nodes, and given pod IPs by kwok
    assert {p["spec"]["nodeName"] for p in pods} <= set(FAKE_NODES)
    assert all(p["status"].get("podIP") for p in pods)
    # owned through a ReplicaSet: the controller manager did the work
    assert {p["metadata"]["ownerReferences"][0]["kind"] for p in pods} == {"ReplicaSet"}


def test_set_image_rolls_out_without_dropping_below_the_pdb(kube: Cluster, ns: str) -> None:
    kube.apply([deployment("echo", "registry.invalid/fte/echo:1"), pdb("echo")], "-n", ns)
    kube.kubectl("rollout", "status", "deployment/echo", "-n", ns, "--timeout=120s")
    wait_for(lambda: kube.json("pdb", "echo", "-n", ns)["status"].get("disruptionsAllowed") == 1,
             "the PDB to allow one disruption", timeout=30)

    # Watch the number of Ready pods while the rollout runs in kubectl.
    seen: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.append(len(ready_pods(kube, ns, "echo")))
            stop.wait(0.2)
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        kube.kubectl("set", "image", "deployment/echo", "app=registry.invalid/fte/echo:2", "-n", ns)
        kube.kubectl("rollout", "status", "deployment/echo", "-n", ns, "--timeout=180s", timeout=200)
    finally:
        stop.set()
        watcher.join()

    assert seen and min(seen) >= MIN_AVAILABLE, f"Ready pods during the rollout: {seen}"
    pods = ready_pods(kube, ns, "echo")
    assert len(pods) == REPLICAS
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"registry.invalid/fte/echo:2"}
    history = kube.kubectl("rollout", "history", "deployment/echo", "-n", ns).stdout
    assert "2" in history.split()
    budget = kube.json("pdb", "echo", "-n", ns)["status"]
    assert budget["currentHealthy"] >= budget["desiredHealthy"] == MIN_AVAILABLE


def test_a_deleted_pod_is_replaced(kube: Cluster, ns: str) -> None:
    kube.apply([deployment("echo", "registry.invalid/fte/echo:1"), pdb("echo")], "-n", ns)
    kube.kubectl("rollout", "status", "deployment/echo", "-n", ns, "--timeout=120s")
    before = {p["metadata"]["name"] for p in ready_pods(kube, ns, "echo")}
    victim = sorted(before)[0]

    kube.kubectl("delete", "pod", victim, "-n", ns, "--wait=true", "--timeout=60s")

    def replaced() -> set[str]:
        now = {p["metadata"]["name"] for p in ready_pods(kube, ns, "echo")}
        return now if len(now) == REPLICAS and victim not in now else set()
    after = wait_for(replaced, "a replacement for the deleted pod", timeout=60)
    assert len(after - before) == 1


def test_a_server_side_dry_run_rejects_an_invalid_object_with_a_clear_error(kube: Cluster, ns: str) -> None:
    broken = deployment("broken", "registry.invalid/fte/echo:1")
    broken["spec"]["selector"]["matchLabels"] = {"app": "something-else"}  # matches no pod it makes
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["name"] = "a-port-name-far-too-long"

    done = kube.kubectl("apply", "--dry-run=server", "-n", ns, "-f", "-", input=yaml.safe_dump(broken), check=False)

    assert done.returncode != 0
    # every problem, each with its field and why
    assert 'The Deployment "broken" is invalid' in done.stderr, done.stderr
    assert "* spec.template.metadata.labels: Invalid value" in done.stderr, done.stderr
    assert "`selector` does not match template `labels`" in done.stderr, done.stderr
    assert ('* spec.template.spec.containers[0].ports[0].name: Invalid value: "a-port-name-far-too-long": '
            "must be no more than 15 characters") in done.stderr, done.stderr
    # nothing was stored
    assert kube.kubectl("get", "deployment", "broken", "-n", ns, check=False).returncode != 0

    # ... while a valid object passes the same dry run and is not stored either
    ok = kube.kubectl("apply", "--dry-run=server", "-n", ns, "-f", "-",
                      input=yaml.safe_dump(deployment("fine", "registry.invalid/fte/echo:1")))
    assert "(server dry run)" in ok.stdout
    assert kube.kubectl("get", "deployment", "fine", "-n", ns, check=False).returncode != 0
