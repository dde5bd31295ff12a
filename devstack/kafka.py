"""Embedded single-node Apache Kafka 4.1 (KRaft, combined broker + controller) and topics.

The broker runs from the jars that `devstack/kafka/pom.xml` copies into `.cache/kafka/libs`;
no Kafka distribution or shell scripts are needed, only `java` on PATH (or JAVA_HOME).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code
from fte.common.v1 import channel_pb2

from devstack import DEFAULT_DATA_ROOT, REPO_ROOT, _proc
from services.common import channels, topics

log = logging.getLogger(__name__)

LIBS_DIR = REPO_ROOT / ".cache" / "kafka" / "libs"

# Every topic the services use and its partitions, for the embedded broker and external
# clusters alike. `fte.tickets.incoming` is keyed by customer address, so its partition count
# bounds how many workers consume in parallel; the DLQ has one partition so failures are
# replayed in the order they happened. Only email has an inbound channel topic (Gmail's
# mailbox-changed notices); WhatsApp and the web form publish straight to fte.tickets.incoming.
# fte.escalations is read by the notifier (services/handoff), whose dead letters have their own
# topic, one partition like fte.dlq.
DEFAULT_TOPIC_PARTITIONS: dict[str, int] = {
    topics.INCOMING: 6,
    topics.inbound_topic(channel_pb2.CHANNEL_EMAIL): 3,
    **{topics.outbound_topic(channel): 3 for channel in channels.VALUES},
    topics.ESCALATIONS: 3,
    topics.DLQ: 1,
    topics.ESCALATIONS_DLQ: 1,
}

# Storage formatting and broker start-up run `main` classes from the kafka_2.13 jar.
_STORAGE_TOOL = "kafka.tools.StorageTool"
_BROKER = "kafka.Kafka"


class KafkaStartError(RuntimeError):
    pass


@dataclass(frozen=True)
class KafkaConfig:
    data_dir: Path = DEFAULT_DATA_ROOT / "kafka"
    port: int = 59092
    controller_port: int = 59093
    host: str = "127.0.0.1"
    heap: str = "512m"
    libs_dir: Path = LIBS_DIR
    cds_dir: Path = LIBS_DIR.parent / "cds"
    start_timeout: float = 90.0

    @classmethod
    def from_env(cls, data_root: Path = DEFAULT_DATA_ROOT) -> KafkaConfig:
        return cls(
            data_dir=data_root / "kafka",
            port=int(os.environ.get("FTE_KAFKA_PORT", cls.port)),
            controller_port=int(os.environ.get("FTE_KAFKA_CONTROLLER_PORT", cls.controller_port)),
        )

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "kafka.pid"

    @property
    def server_log(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def console_log(self) -> Path:
        """JVM stdout/stderr: only output that bypasses log4j (JVM errors, crashes)."""
        return self.data_dir / "console.log"


def topic_partitions(env: Mapping[str, str] = os.environ) -> dict[str, int]:
    """Topic → partition count; `FTE_TOPIC_PARTITIONS` (a JSON object) overrides or adds."""
    overrides = json.loads(env.get("FTE_TOPIC_PARTITIONS") or "{}")
    if not isinstance(overrides, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v > 0
        for k, v in overrides.items()
    ):
        raise ValueError('FTE_TOPIC_PARTITIONS must be a JSON object like {"fte.dlq": 1}')
    return {**DEFAULT_TOPIC_PARTITIONS, **overrides}


def topic_replication_factor(env: Mapping[str, str] = os.environ) -> int:
    """1 suits the single embedded broker; set FTE_TOPIC_REPLICATION_FACTOR for a cluster."""
    return int(env.get("FTE_TOPIC_REPLICATION_FACTOR") or 1)


def _server_properties(cfg: KafkaConfig) -> str:
    settings = {
        "process.roles": "broker,controller",
        "node.id": 1,
        "controller.quorum.voters": f"1@{cfg.host}:{cfg.controller_port}",
        "listeners": (f"PLAINTEXT://{cfg.host}:{cfg.port},"
                      f"CONTROLLER://{cfg.host}:{cfg.controller_port}"),
        "advertised.listeners": f"PLAINTEXT://{cfg.host}:{cfg.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": cfg.data_dir / "logs",
        "auto.create.topics.enable": "false",  # a typo in a topic name must fail, not create
        "num.partitions": 1,
        "default.replication.factor": 1,
        "min.insync.replicas": 1,
        "offsets.topic.replication.factor": 1,
        "transaction.state.log.replication.factor": 1,
        "transaction.state.log.min.isr": 1,
        "share.coordinator.state.topic.replication.factor": 1,
        "share.coordinator.state.topic.min.isr": 1,
        # Internal topics default to 50 partitions, which costs seconds on the first consumer
        # group / transactional producer; a single local broker needs few.
        "offsets.topic.num.partitions": 3,
        "transaction.state.log.num.partitions": 3,
        # Consumers in tests and `run` join immediately instead of waiting 3 s for peers.
        "group.initial.rebalance.delay.ms": 0,
        # After a crash the restarted broker cannot register until the controller has timed
        # out its previous incarnation: 9 s by default. Shorter, with some slack for pauses
        # on a busy laptop (a single broker that misses heartbeats is fenced until it is back).
        "broker.session.timeout.ms": 4000,
        "broker.heartbeat.interval.ms": 1000,
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def _log4j2_properties(cfg: KafkaConfig) -> str:
    log_file = cfg.server_log
    return f"""\
# Written by devstack/kafka.py on every start; edits are overwritten.
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.filePattern = {log_file}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
# Per-request and partition state-change chatter: useful only when debugging the broker.
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
"""


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java:
        raise KafkaStartError("java not found: install a JDK 17+ or set JAVA_HOME")
    return java


def _java_command(cfg: KafkaConfig, main_class: str, *args: str,
                  jvm_args: tuple[str, ...] = ()) -> list[str]:
    if not any(cfg.libs_dir.glob("kafka_2.13-*.jar")):
        raise KafkaStartError(
            f"no Kafka jars in {cfg.libs_dir}; fetch them with "
            "`mvn -q -B -f devstack/kafka/pom.xml package`"
        )
    return [
        _java(),
        f"-Xmx{cfg.heap}",
        "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
        # C1 only: the JIT warm-up of C2 dominates broker start-up on a couple of cores, and
        # peak throughput is irrelevant for a local broker.
        "-XX:TieredStopAtLevel=1",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={cfg.data_dir / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={cfg.data_dir}",
        *jvm_args,
        "-cp", str(cfg.libs_dir / "*"),  # the JVM expands the wildcard, not a shell
        main_class, *args,
    ]


def _cds_archive(cfg: KafkaConfig) -> Path:
    """The application class-data-sharing archive for this JDK and these jars.

    Mapping the broker's classes from an archive instead of loading them from ~100 jars cuts
    a warm broker start by about 40% and the storage format by half. JDK 17 can only write
    the archive as the JVM exits, so a broker started without one records it at shutdown and
    `stop` publishes it for every later start (tests and `run` alike). The name fingerprints
    the JDK and the jars, so an upgrade records a fresh one.
    """
    java = Path(_java()).resolve()
    digest = hashlib.sha256(f"{java}:{java.stat().st_mtime_ns}".encode())
    for jar in sorted(cfg.libs_dir.glob("*.jar")):
        st = jar.stat()
        digest.update(f"{jar.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return cfg.cds_dir / f"kafka-{digest.hexdigest()[:16]}.jsa"


_CDS_QUIET = "-Xlog:cds*=off"  # warnings about classes the archive skips are harmless noise


def _cds_args(cfg: KafkaConfig, *, record: bool) -> tuple[str, ...]:
    archive = _cds_archive(cfg)
    if archive.exists():
        return (f"-XX:SharedArchiveFile={archive}", _CDS_QUIET)
    if not record:
        return ()
    cfg.cds_dir.mkdir(parents=True, exist_ok=True)
    # A private name: another broker (tests vs. `run`) may be recording at the same time.
    pending = archive.with_name(f"{archive.stem}.{uuid.uuid4().hex[:8]}.partial")
    (cfg.data_dir / "cds.pending").write_text(f"{pending}\n{archive}\n")
    return (f"-XX:ArchiveClassesAtExit={pending}", _CDS_QUIET)


def _finish_cds(cfg: KafkaConfig, *, clean_exit: bool) -> None:
    """Publish the archive recorded by a broker that exited cleanly; discard anything else."""
    marker = cfg.data_dir / "cds.pending"
    try:
        pending, archive = map(Path, marker.read_text().splitlines())
    except (OSError, ValueError):
        return
    marker.unlink()
    if clean_exit and pending.exists() and pending.stat().st_size > 0:
        os.replace(pending, archive)
    else:
        pending.unlink(missing_ok=True)


def _new_cluster_id() -> str:
    # Kafka's Uuid text form: url-safe base64 of 16 random bytes, never starting with '-'.
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def running_pid(cfg: KafkaConfig) -> int | None:
    """Pid of the broker recorded in the pid file, if that process is still this broker."""
    pid = _proc.read_pid(cfg.pid_file)
    if pid is None or not _proc.pid_alive(pid):
        return None
    argv = _proc.cmdline(pid)
    if argv and str(cfg.data_dir / "server.properties") not in argv:
        return None  # the pid was reused by an unrelated process after a crash
    return pid


def _launch(cfg: KafkaConfig) -> int:
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    properties = cfg.data_dir / "server.properties"
    properties.write_text(_server_properties(cfg))
    (cfg.data_dir / "log4j2.properties").write_text(_log4j2_properties(cfg))

    if not (cfg.data_dir / "logs" / "meta.properties").exists():
        log.info("formatting Kafka storage in %s", cfg.data_dir / "logs")
        result = subprocess.run(
            _java_command(cfg, _STORAGE_TOOL, "format", "--cluster-id", _new_cluster_id(),
                          "--config", str(properties), jvm_args=_cds_args(cfg, record=False)),
            capture_output=True, text=True, timeout=120,
        )
        if result.returncode != 0:
            raise KafkaStartError(f"kafka storage format failed:\n{result.stdout}{result.stderr}")

    if _proc.port_open(cfg.host, cfg.port) or _proc.port_open(cfg.host, cfg.controller_port):
        raise KafkaStartError(
            f"port {cfg.port} or {cfg.controller_port} on {cfg.host} is already in use by "
            "another process; set FTE_KAFKA_PORT / FTE_KAFKA_CONTROLLER_PORT"
        )
    _finish_cds(cfg, clean_exit=False)  # left by a broker that crashed mid-recording
    jvm_args = _cds_args(cfg, record=True)
    with cfg.console_log.open("ab") as console:
        # A session of its own: Ctrl-C in the terminal reaches only our runner, which then
        # stops the broker after the services that use it. `up` leaves it running on purpose.
        proc = subprocess.Popen(
            _java_command(cfg, _BROKER, str(properties), jvm_args=jvm_args),
            stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
            cwd=cfg.data_dir, start_new_session=True,
        )
    cfg.pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


async def _wait_ready(cfg: KafkaConfig, pid: int) -> None:
    """Until the broker serves metadata and lists itself (it is then unfenced and can host
    partitions); fail fast with the log tail if the JVM exits meanwhile."""
    deadline = time.monotonic() + cfg.start_timeout
    while True:
        if not _proc.pid_alive(pid):
            cfg.pid_file.unlink(missing_ok=True)
            raise KafkaStartError(
                f"Kafka exited during start-up.\n--- {cfg.server_log} ---\n"
                f"{_proc.tail(cfg.server_log)}"
                f"--- {cfg.console_log} ---\n{_proc.tail(cfg.console_log)}"
            )
        if _proc.port_open(cfg.host, cfg.port, timeout=0.2):
            admin = AIOKafkaAdminClient(bootstrap_servers=cfg.bootstrap_servers,
                                        request_timeout_ms=5000)
            try:
                await admin.start()
                if (await admin.describe_cluster())["brokers"]:
                    return
            except KafkaError:
                pass
            finally:
                await admin.close()
        if time.monotonic() > deadline:
            raise KafkaStartError(
                f"Kafka did not become ready on {cfg.bootstrap_servers} within "
                f"{cfg.start_timeout:.0f}s.\n--- {cfg.server_log} ---\n{_proc.tail(cfg.server_log)}"
            )
        await asyncio.sleep(0.2)


async def start(cfg: KafkaConfig) -> bool:
    """Start the broker (formatting storage on first use) and wait until it serves requests.

    Idempotent: returns False when it was already running, True when started here.
    """
    pid = running_pid(cfg)
    started = pid is None
    if pid is None:
        cfg.pid_file.unlink(missing_ok=True)  # stale: the recorded process is gone
        pid = await asyncio.to_thread(_launch, cfg)
    else:
        log.info("Kafka already running on %s", cfg.bootstrap_servers)
    await _wait_ready(cfg, pid)
    return started


def stop(cfg: KafkaConfig, timeout: float = 30.0) -> None:
    """SIGTERM (controlled shutdown, flushes logs), SIGKILL if it hangs; no-op if stopped."""
    pid = running_pid(cfg)
    if pid is not None:
        clean_exit = _proc.terminate(pid, timeout)
        if not clean_exit:
            log.warning("Kafka (pid %s) did not stop within %.0fs and was killed", pid, timeout)
        _finish_cds(cfg, clean_exit=clean_exit)
        log.info("Kafka on %s stopped", cfg.bootstrap_servers)
    cfg.pid_file.unlink(missing_ok=True)


async def _partitions(admin: AIOKafkaAdminClient, topics: list[str], *,
                      led_only: bool = False) -> dict[str, int]:
    """Partition count of each topic that exists (counting only those with a leader)."""
    return {
        t["topic"]: sum(1 for p in t["partitions"]
                        if not led_only or (p["error_code"] == 0 and p["leader"] >= 0))
        for t in await admin.describe_topics(topics)
        if t["error_code"] == 0
    }


async def ensure_topics(bootstrap_servers: str, partitions: Mapping[str, int],
                        replication_factor: int = 1, timeout: float = 30.0) -> None:
    """Create missing topics and grow ones with fewer partitions than configured, then wait
    until every partition has a leader, so producers can use them as soon as this returns.

    Partitions are never removed (Kafka cannot); a topic with more is left as is and logged.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=30000)
    await admin.start()
    try:
        existing = await _partitions(admin, list(partitions))
        missing = [
            NewTopic(name, count, replication_factor)
            for name, count in partitions.items() if name not in existing
        ]
        if missing:
            response = await admin.create_topics(missing)
            for topic, code, *_ in response.topic_errors:
                if code and for_code(code) is not TopicAlreadyExistsError:
                    raise for_code(code)(f"could not create topic {topic}")
            log.info("created topics %s", ", ".join(t.name for t in missing))
        grow = {n: NewPartitions(c) for n, c in partitions.items() if existing.get(n, c) < c}
        if grow:
            await admin.create_partitions(grow)
            log.info("added partitions to %s", ", ".join(grow))
        for name, count in partitions.items():
            if existing.get(name, count) > count:
                log.warning("topic %s has %d partitions, more than the configured %d",
                            name, existing[name], count)

        # Creation returns before every broker's metadata has the new partitions' leaders.
        deadline = time.monotonic() + timeout
        while True:
            led = await _partitions(admin, list(partitions), led_only=True)
            if all(led.get(name, 0) >= count for name, count in partitions.items()):
                break
            if time.monotonic() > deadline:
                waiting = sorted(n for n, c in partitions.items() if led.get(n, 0) < c)
                raise KafkaStartError(f"topics without leaders after {timeout:.0f}s: {waiting}")
            await asyncio.sleep(0.1)
    finally:
        await admin.close()
