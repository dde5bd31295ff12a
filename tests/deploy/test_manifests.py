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
    # without the policies that select every pod (prometheus-scrape: the production overlays')
    broken = [d for d in docs if not (d["kind"] == "NetworkPolicy"
                                      and d["metadata"]["name"] in ("default-deny-ingress", "prometheus-scrape"))]
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
    if overlay == "local":
        # No KEDA and no operators in a local cluster: it must render none, so none can break.
        assert custom == []
        return
    assert custom
    broken = [d for d in docs if d not in custom] + [
        {**d, "spec": {k: v for k, v in d["spec"].items() if k not in ("scaleTargetRef", "partitions", "instances", "roles", "kafka",
                                                            "groups", "podMetricsEndpoints")}}
        for d in custom]
    problems = m.custom_resource_problems(broken)
    assert len(problems) >= len(custom), problems


# --- the manifests match the code ---------------------------------------------------------------

# The process (devstack/processes.py) each package runs in: the agent's process serves
# KnowledgeService too.
PROCESS_PACKAGES = {"access": ["access"], "identity": ["identity"], "conversation": ["conversation"],
                    "agent": ["agent", "knowledge"], "worker": ["inbound"], "dispatcher": ["channels"],
                    "notifier": ["handoff"], "edge": ["edge"]}
# Which process serves the address in each *_ADDR setting (the config's advertise_as).
ADDR_SERVER = {"access": "access", "identity": "identity", "conversation": "conversation",
               "agent": "agent", "knowledge": "agent", "dispatcher": "dispatcher"}
# gRPC servers whose methods carry access rules ask AccessService who their callers are
# (services/common/grpc_server.py RemoteGate): every server but access itself (its own gate)
# and the dispatcher (health only, no rules).
ASKS_ACCESS = {"identity", "conversation", "agent"}


def callers_in_code() -> dict[str, set[str]]:
    """server process → the processes whose code calls it (their `settings.<x>_addr`)."""
    callers: dict[str, set[str]] = {}
    for process, packages in PROCESS_PACKAGES.items():
        for package in packages:
            for path in (m.ROOT / "services" / package).rglob("*.py"):
                for addr in re.findall(r"settings\.(\w+)_addr\b", path.read_text()):
                    callers.setdefault(ADDR_SERVER[addr], set()).add(process)
    for process in ASKS_ACCESS:
        callers.setdefault("access", set()).add(process)
    return callers


def test_network_policies_admit_exactly_the_callers_the_code_has(overlay):
    docs = m.render(overlay)
    from_code = callers_in_code()
    assert set(from_code) == {"access", "identity", "conversation", "agent", "dispatcher"}
    for server, callers in from_code.items():
        assert m.callers_of(docs, server, "grpc") == callers, server


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def secret_key(env: dict, name: str) -> str | None:
    return env.get(name, {}).get("valueFrom", {}).get("secretKeyRef", {}).get("key")


def test_one_deployment_per_process_with_its_command_port_database_role_and_service_key(overlay):
    from devstack.processes import PROCESSES

    docs = m.render(overlay)
    for p in PROCESSES:
        d = m.find(docs, "Deployment", p.name)
        c = d["spec"]["template"]["spec"]["containers"][0]
        assert c["image"].split("/")[-1].split(":")[0] == m.IMAGE
        assert c["command"] == ["python", *p.args], p.name
        env = env_of(c)
        assert {"configMapRef": {"name": "flowboard-config"}} in c["envFrom"]
        if p.port:
            assert env[p.port_env]["value"] == str(p.port)
            assert p.port in [q["containerPort"] for q in c["ports"]]
            service = m.find(docs, "Service", p.name)
            assert p.port in [q["port"] for q in service["spec"]["ports"]]
            if p.port_env == "GRPC_PORT":
                assert c["livenessProbe"]["grpc"]["port"] == c["readinessProbe"]["grpc"]["port"] == p.port
        assert secret_key(env, "DATABASE_URL") == (f"{p.schema.upper()}_DATABASE_URL" if p.schema else None)
        assert secret_key(env, "SERVICE_KEY") == (
            f"SERVICE_KEY_{p.service_identity.upper()}" if p.service_identity else None), p.name
        # A schema owner waits for its schema before it starts; not the edge, which serves
        # without PostgreSQL (its schema holds only the outbox it needs while Kafka is away).
        inits = d["spec"]["template"]["spec"].get("initContainers", [])
        waits = p.schema is not None and p.name != "edge"
        assert [i["name"] for i in inits] == (["wait-for-schema"] if waits else []), p.name
        if waits:
            assert env_of(inits[0])["SCHEMA"]["value"] == p.schema
    # The edge's probes are the edge's real health paths.
    edge = m.find(docs, "Deployment", "edge")["spec"]["template"]["spec"]["containers"][0]
    assert (edge["livenessProbe"]["httpGet"]["path"], edge["readinessProbe"]["httpGet"]["path"]) == ("/health", "/ready")
    from services.edge.app import create_app
    from services.edge.settings import EdgeSettings
    paths = {getattr(r, "path", None) for r in create_app(EdgeSettings()).routes}
    assert {"/health", "/ready", "/metrics"} <= paths


def test_setup_jobs_run_the_real_migration_and_seed_commands(overlay):
    from devstack import migrate
    from devstack.processes import SETUP

    docs = m.render(overlay)
    job = m.find(docs, "Job", "migrate")["spec"]["template"]["spec"]["containers"][0]
    assert job["command"] == ["python", "-m", "devstack.migrate"]
    env = env_of(job)
    assert secret_key(env, "DATABASE_URL") == "ADMIN_DATABASE_URL"
    for service in migrate.SERVICES:
        assert secret_key(env, f"FTE_{service.upper()}_DB_PASSWORD") == f"FTE_{service.upper()}_DB_PASSWORD"
    seed = next(s for s in SETUP if s.name == "seed-knowledge")
    job = m.find(docs, "Job", "seed-knowledge")["spec"]["template"]["spec"]
    assert job["containers"][0]["command"] == ["python", *seed.args]
    assert secret_key(env_of(job["containers"][0]), "DATABASE_URL") == f"{seed.schema.upper()}_DATABASE_URL"
    assert [i["name"] for i in job["initContainers"]] == ["wait-for-schema"]
    # The admin URL goes to the migrate Job and nowhere else.
    holders = [w["metadata"]["name"] for w in docs if w["kind"] in m.WORKLOAD_KINDS
               for _, c in m.containers(w) if secret_key(env_of(c), "DATABASE_URL") == "ADMIN_DATABASE_URL"]
    assert holders == ["migrate"]


def test_every_secret_key_used_is_in_the_template(overlay):
    template = yaml.safe_load((m.K8S / "base" / "secret.example.yaml").read_text())["stringData"]
    docs = m.render(overlay)
    used = {ref["secretKeyRef"]["key"] for w in docs if w["kind"] in m.WORKLOAD_KINDS
            for _, c in m.containers(w) for e in c.get("env", [])
            for ref in [e.get("valueFrom", {})] if "secretKeyRef" in ref}
    assert used and used <= set(template), used - set(template)


def script_topics() -> dict[str, int]:
    script = (m.K8S / "base" / "scripts" / "kafka-topics.sh").read_text()
    return {name: int(n) for name, n in re.findall(r"^create (\S+) (\d+)$", script, re.MULTILINE)}


def test_topics_are_every_topic_the_code_uses(overlay):
    from devstack.kafka import DEFAULT_TOPIC_PARTITIONS

    topics = script_topics()
    assert set(topics) == set(DEFAULT_TOPIC_PARTITIONS)
    # The dead-letter topics keep their single partition (replayed in order).
    assert all(topics[t] == DEFAULT_TOPIC_PARTITIONS[t] == 1 for t in DEFAULT_TOPIC_PARTITIONS if t.endswith("dlq"))
    docs = m.render(overlay)
    strimzi = {t["spec"]["topicName"]: t["spec"]["partitions"] for t in m.by_kind(docs, "KafkaTopic")}
    if strimzi:
        assert strimzi == topics
        assert not [j for j in m.by_kind(docs, "Job") if j["metadata"]["name"] == "kafka-topics"]
    else:
        m.find(docs, "Job", "kafka-topics")


def test_keda_scales_on_the_groups_and_topics_the_consumers_use(overlay):
    from services.channels.outbound_dispatcher import DispatcherSettings
    from services.common import channels, topics
    from services.inbound.worker import WorkerSettings

    docs = m.render(overlay)
    scaled = {s["metadata"]["name"]: s for s in m.by_kind(docs, "ScaledObject")}
    if overlay == "local":
        assert scaled == {}  # no KEDA on a local cluster
        return
    config = m.find(docs, "ConfigMap", "flowboard-config")["data"]
    partitions = script_topics()

    def triggers(name):
        return {(t["metadata"]["consumerGroup"], t["metadata"]["topic"]) for t in scaled[name]["spec"]["triggers"]}

    assert triggers("worker") == {(WorkerSettings.model_fields["consumer_group"].default, topics.INCOMING)}
    prefix = DispatcherSettings.model_fields["consumer_group_prefix"].default
    assert triggers("dispatcher") == {(f"{prefix}-{channels.name(ch)}", topics.outbound_topic(ch))
                                      for ch in channels.VALUES}
    assert (scaled["worker"]["spec"]["minReplicaCount"], scaled["worker"]["spec"]["maxReplicaCount"]) == (3, 30)
    for s in scaled.values():
        for t in s["spec"]["triggers"]:
            assert t["metadata"]["bootstrapServers"] == config["KAFKA_BOOTSTRAP_SERVERS"]
            # More replicas than partitions would idle: the topic has room for the maximum.
            assert s["spec"]["maxReplicaCount"] <= partitions[t["metadata"]["topic"]]
        # KEDA owns the count: the Deployment must not set one that every apply would reset.
        assert "replicas" not in m.find(docs, "Deployment", s["spec"]["scaleTargetRef"]["name"])["spec"]
    hpa = m.find(docs, "HorizontalPodAutoscaler", "edge")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 20)
    assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 70


def test_config_points_each_address_at_the_process_that_serves_it(overlay):
    from devstack.processes import PROCESSES

    config = m.find(m.render(overlay), "ConfigMap", "flowboard-config")["data"]
    for p in PROCESSES:
        for var in p.advertise_as:
            assert config[var] == f"{p.name}.flowboard.svc.cluster.local:{p.port}", var
    assert config["GRPC_HOST"] == config["HTTP_HOST"] == "0.0.0.0"


def test_every_config_key_is_a_setting_the_code_reads(overlay):
    from services.access.settings import AccessSettings
    from services.agent.settings import AgentSettings
    from services.channels.outbound_dispatcher import DispatcherSettings
    from services.channels.settings import ChannelSettings
    from services.conversation.server import ConversationSettings
    from services.edge.settings import EdgeSettings
    from services.handoff.notifier import NotifierSettings
    from services.identity.server import IdentitySettings
    from services.inbound.worker import WorkerSettings

    fields = {name.upper() for cls in (AccessSettings, AgentSettings, DispatcherSettings, ChannelSettings,
                                       ConversationSettings, EdgeSettings, NotifierSettings,
                                       IdentitySettings, WorkerSettings)
              for name in cls.model_fields}
    # Read by the runtime, not by a settings class: Python, Hugging Face, the topics Job.
    others = {"HOME", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "HF_HUB_OFFLINE",
              "FTE_TOPIC_REPLICATION_FACTOR"}
    config = m.find(m.render(overlay), "ConfigMap", "flowboard-config")["data"]
    assert set(config) - fields - others == set()


def test_a_caller_missing_from_a_policy_is_seen(overlay):
    broken = m.render(overlay)
    policy = m.find(broken, "NetworkPolicy", "identity-from-callers")
    policy["spec"]["ingress"][0]["from"] = [peer for peer in policy["spec"]["ingress"][0]["from"]
                                            if peer["podSelector"]["matchLabels"]["app"] != "notifier"]
    assert callers_in_code()["identity"] - m.callers_of(broken, "identity", "grpc") == {"notifier"}


def test_the_setup_phase_holds_the_jobs_and_every_config_map_they_read(overlay):
    """`kubectl apply -l flowboard/phase=setup` (an upgrade's first step, k8s/README.md) must
    bring what the Jobs need, or they wait on a ConfigMap that is not there yet."""
    docs = m.render(overlay)

    def phase(d):
        return d["metadata"].get("labels", {}).get("flowboard/phase")

    jobs = m.by_kind(docs, "Job")
    assert jobs and all(phase(j) == "setup" for j in jobs)
    setup_maps = {c["metadata"]["name"] for c in m.by_kind(docs, "ConfigMap") if phase(c) == "setup"}
    for j in jobs:
        spec = m.pod_spec(j)
        read = {v["configMap"]["name"] for v in spec.get("volumes", []) if "configMap" in v}
        for _, c in m.containers(j):
            read |= {e["configMapRef"]["name"] for e in c.get("envFrom", []) if "configMapRef" in e}
            read |= {e["valueFrom"]["configMapKeyRef"]["name"] for e in c.get("env", [])
                     if "configMapKeyRef" in e.get("valueFrom", {})}
        assert read and read <= setup_maps, (j["metadata"]["name"], read - setup_maps)


def test_every_image_is_pinned_and_the_project_runs_one_image(overlay):
    docs = m.render(overlay)
    images = {c["image"] for w in docs if w["kind"] in m.WORKLOAD_KINDS for _, c in m.containers(w)}
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name and tag and tag != "latest" and "/" not in tag, image
    ours = {i for i in images if i.rpartition(":")[0].split("/")[-1] == m.IMAGE}
    assert len(ours) == 1, ours
    expected = {"local": "localhost/flowboard-fte:dev"}.get(overlay)
    if expected:
        assert ours == {expected}
