"""A real Kubernetes control plane on 127.0.0.1 for the deploy tests: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, and kwok for the nodes.

The binaries are the ones `make deps` builds into .cache/kube/bin (deploy/kube/build.sh);
etcd is Debian's etcd-server. Everything listens on 127.0.0.1 on ports from tests/ports.py,
keeps its data in a temporary folder and logs to artifacts/kube/<process>.log.

The nodes are kwok's: Node objects that no kubelet runs behind. kwok marks them Ready, sends
their heartbeats and moves the pods scheduled onto them to Running and Ready (images are never
pulled, containers never run), so a Deployment rolls out, a PodDisruptionBudget counts healthy
pods and a deleted pod is replaced exactly as on a real cluster; what a container does once it
runs is the image tests' business.

Who is who: the tests are `admin` (static token, group system:masters); the controller manager
and the scheduler are the users RBAC's bootstrap roles are written for, and the controllers run
each with its own service account (--use-service-account-credentials), so authorization is the
real Node,RBAC, not AlwaysAllow; kwok stands for every node's kubelet at once, so it is admin too
(the Node authorizer would want one identity per node).

A pytest plugin, registered once by tests/conftest.py (`pytest_plugins`); tests using `kube` are
marked `stack` there, so `make test-fast` leaves them out.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from devstack import REPO_ROOT
from tests.ports import free_port

KUBE_VERSION = "v1.35.4"
KUBE_BIN = REPO_ROOT / ".cache/kube/bin"
KWOK_STAGES = REPO_ROOT / ".cache/kube/kwok-stages.yaml"
LOGS = REPO_ROOT / "artifacts/kube"
SERVICE_CIDR = "10.96.0.0/16"
FAKE_NODES = ("kwok-node-0", "kwok-node-1", "kwok-node-2")
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"

T = TypeVar("T")


def wait_for(probe: Callable[[], T], what: str, timeout: float = 60, every: float = 0.5) -> T:
    """Polls `probe` until it returns something truthy, and returns that; TimeoutError naming
    `what` after `timeout` seconds. Exceptions from the probe count as not yet."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            found = probe()
            if found:
                return found
        except Exception as exc:  # noqa: BLE001 - a server still starting answers errors
            last = exc
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f}s for {what}" + (f" (last error: {last})" if last else ""))
        time.sleep(every)


@dataclass
class Cluster:
    kubeconfig: Path
    server: str
    token: str
    ca_file: Path
    kubectl_bin: Path = field(default=KUBE_BIN / "kubectl")

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`kubectl --kubeconfig <ours> args...`; on failure (with check) the AssertionError
        carries the command, its stdout and stderr."""
        cmd = [str(self.kubectl_bin), "--kubeconfig", str(self.kubeconfig), *args]
        done = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}")
        return done

    def json(self, *args: str) -> Any:
        """`kubectl get ... -o json`, parsed."""
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def apply(self, manifest: str | list[dict] | dict, *extra: str) -> subprocess.CompletedProcess[str]:
        """`kubectl apply -f -` of YAML text or of objects."""
        if not isinstance(manifest, str):
            docs = manifest if isinstance(manifest, list) else [manifest]
            manifest = yaml.safe_dump_all(docs)
        return self.kubectl("apply", "-f", "-", *extra, input=manifest)

    def get(self, path: str) -> Any:
        """GET on the API server (e.g. "/readyz", "/api/v1/nodes"); parsed JSON, or text."""
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        req = urllib.request.Request(self.server + path, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            body = resp.read().decode()
        return json.loads(body) if body.startswith("{") else body


# --- certificates and keys ---------------------------------------------------------------------

def _write_pki(folder: Path) -> None:
    """A CA, the API server's serving certificate for 127.0.0.1/localhost signed by it, and the
    service-account signing key pair: ca.crt/ca.key, apiserver.crt/.key, sa.key/sa.pub."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def pem_key(key) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    now = datetime.datetime.now(datetime.UTC)
    validity = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fte-test-kubernetes-ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(validity[0]).not_valid_after(validity[1])
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(validity[0]).not_valid_after(validity[1])
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                # the `kubernetes` Service's ClusterIP, as on a real cluster
                x509.IPAddress(next(ipaddress.ip_network(SERVICE_CIDR).hosts())),
                x509.DNSName("localhost"), x509.DNSName("kubernetes"),
                x509.DNSName("kubernetes.default.svc"), x509.DNSName("kubernetes.default.svc.cluster.local"),
            ]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))

    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    files = {
        "ca.crt": ca.public_bytes(serialization.Encoding.PEM), "ca.key": pem_key(ca_key),
        "apiserver.crt": cert.public_bytes(serialization.Encoding.PEM), "apiserver.key": pem_key(key),
        "sa.key": pem_key(sa_key),
        "sa.pub": sa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
        (folder / name).chmod(0o600)


def _kubeconfig(path: Path, server: str, ca_file: Path, user: str, token: str) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "fte-test",
        "clusters": [{"name": "fte-test", "cluster": {"server": server, "certificate-authority": str(ca_file)}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "fte-test", "context": {"cluster": "fte-test", "user": user}}],
    }))
    path.chmod(0o600)
    return path


# --- processes ---------------------------------------------------------------------------------

class Processes:
    """The control plane's processes, stopped in the reverse order they started."""

    def __init__(self) -> None:
        self.running: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(LOGS / f"{name}.log", "w")  # noqa: SIM115 - the child writes it until it stops
        log.write("$ " + " ".join(args) + "\n\n")
        log.flush()
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        log.close()
        self.running.append((name, proc))
        return proc

    def check_alive(self) -> None:
        for name, proc in self.running:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {LOGS / (name + '.log')}")

    def stop(self) -> None:
        for name, proc in reversed(self.running):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)
        self.running.clear()


def _missing_binaries() -> list[str]:
    wanted = [KUBE_BIN / n for n in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok")]
    missing = [str(p) for p in wanted if not os.access(p, os.X_OK)]
    if not KWOK_STAGES.is_file():
        missing.append(str(KWOK_STAGES))
    if not shutil.which("etcd"):
        missing.append("etcd (Debian package etcd-server)")
    return missing


def _fake_node(index: int, name: str) -> dict:
    """A Node that kwok manages (the annotation) with room for every test's pods, in a zone of
    its own (topology spread constraints count zones; a node without the label is left out)."""
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "annotations": {KWOK_NODE_ANNOTATION: "fake"},
                     "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                "kubernetes.io/arch": "amd64", "type": "kwok",
                                "topology.kubernetes.io/region": "local",
                                "topology.kubernetes.io/zone": f"local-{'abc'[index % 3]}"}},
        "status": {
            "allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "100Gi"},
            "capacity": {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "100Gi"},
            "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": "fake",
                         "kubeProxyVersion": "fake"},
        },
    }


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The control plane, started once per session, with kwok's nodes Ready and the `default`
    namespace's service account made (pods can be created)."""
    missing = _missing_binaries()
    if missing:
        # Absent binaries are a setup failure, never a skip: the tests would prove nothing.
        pytest.fail("the Kubernetes control plane is not installed (`make deps`, or deploy/kube/build.sh "
                    "and apt-get install etcd-server); missing: " + ", ".join(missing))
    LOGS.mkdir(parents=True, exist_ok=True)
    work = tmp_path_factory.mktemp("kube")
    pki = work / "pki"
    pki.mkdir()
    _write_pki(pki)
    etcd_port, etcd_peer, api_port, kcm_port, sched_port, kwok_port = (free_port() for _ in range(6))
    server = f"https://127.0.0.1:{api_port}"
    tokens = {user: secrets.token_hex(16) for user in
              ("admin", "system:kube-controller-manager", "system:kube-scheduler", "kwok")}
    # token,user,uid,"groups"
    (pki / "tokens.csv").write_text("".join(
        f'{token},{user},{user},"system:masters"\n' if user in ("admin", "kwok") else f"{token},{user},{user}\n"
        for user, token in tokens.items()))
    ca = pki / "ca.crt"
    kubeconfigs = {user: _kubeconfig(work / f"{user.split(':')[-1]}.kubeconfig", server, ca, user, token)
                   for user, token in tokens.items()}
    cluster = Cluster(kubeconfig=kubeconfigs["admin"], server=server, token=tokens["admin"], ca_file=ca)

    procs = Processes()
    try:
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        procs.start("etcd", [
            "etcd", "--name=fte-test", f"--data-dir={work / 'etcd'}",
            f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-cluster=fte-test=http://127.0.0.1:{etcd_peer}",
            "--listen-metrics-urls=", "--log-level=warn", "--quota-backend-bytes=2147483648",
        ])

        def etcd_healthy() -> bool:
            procs.check_alive()
            with urllib.request.urlopen(etcd_url + "/health", timeout=2) as resp:
                return json.loads(resp.read()).get("health") == "true"
        wait_for(etcd_healthy, "etcd's /health", timeout=30)

        procs.start("kube-apiserver", [
            str(KUBE_BIN / "kube-apiserver"), f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={api_port}",
            f"--cert-dir={work / 'apiserver-certs'}",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={ca}", f"--token-auth-file={pki / 'tokens.csv'}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC", "--anonymous-auth=false",
            # The `kubernetes` Service keeps no endpoints: its one address would be 127.0.0.1,
            # which Endpoints refuse (loopback); no pod here calls the API through it.
            "--endpoint-reconciler-type=none",
            # Watches straight from etcd. kwok's client (client-go v0.36) opens watch-list streams,
            # which the watch cache serves only on an etcd with progress notifications (3.4.31+,
            # 3.5.13+; Debian's is 3.4.23): with the cache, every such watch fails and kwok sees
            # pods only on its backed-off relists, half a minute late.
            "--watch-cache=false",
            "--profiling=false", "--v=1",
        ])

        def apiserver_ready() -> bool:
            procs.check_alive()
            return cluster.get("/readyz") == "ok"
        wait_for(apiserver_ready, "kube-apiserver's /readyz", timeout=120)

        procs.start("kube-controller-manager", [
            str(KUBE_BIN / "kube-controller-manager"),
            f"--kubeconfig={kubeconfigs['system:kube-controller-manager']}",
            f"--authentication-kubeconfig={kubeconfigs['system:kube-controller-manager']}",
            f"--authorization-kubeconfig={kubeconfigs['system:kube-controller-manager']}",
            "--bind-address=127.0.0.1", f"--secure-port={kcm_port}",
            f"--cert-dir={work / 'kcm-certs'}",
            "--controllers=*", "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={ca}",
            f"--cluster-signing-cert-file={ca}", f"--cluster-signing-key-file={pki / 'ca.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--leader-elect=false", "--profiling=false", "--v=1",
        ])
        procs.start("kube-scheduler", [
            str(KUBE_BIN / "kube-scheduler"),
            f"--kubeconfig={kubeconfigs['system:kube-scheduler']}",
            f"--authentication-kubeconfig={kubeconfigs['system:kube-scheduler']}",
            f"--authorization-kubeconfig={kubeconfigs['system:kube-scheduler']}",
            "--bind-address=127.0.0.1", f"--secure-port={sched_port}",
            f"--cert-dir={work / 'scheduler-certs'}",
            "--leader-elect=false", "--profiling=false", "--v=1",
        ])
        procs.start("kwok", [
            str(KUBE_BIN / "kwok"), f"--kubeconfig={kubeconfigs['kwok']}", f"--config={KWOK_STAGES}",
            "--manage-all-nodes=false", f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
            "--node-ip=127.0.0.1", "--cidr=10.244.0.0/16", f"--server-address=127.0.0.1:{kwok_port}",
        ])

        cluster.apply([_fake_node(i, name) for i, name in enumerate(FAKE_NODES)])

        def nodes_ready() -> bool:
            procs.check_alive()
            nodes = cluster.json("nodes")["items"]
            return len(nodes) == len(FAKE_NODES) and all(
                any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))
                for n in nodes)
        wait_for(nodes_ready, "kwok's nodes Ready", timeout=60)
        wait_for(lambda: cluster.kubectl("get", "serviceaccount", "default", "-n", "default", check=False)
                 .returncode == 0, "the default service account", timeout=60)
        procs.check_alive()
        yield cluster
    finally:
        procs.stop()
