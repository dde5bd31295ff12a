"""Embedded Jaeger v2 (`.cache/bin/jaeger`, built by `deploy/jaeger/build.sh`): where every
process of `make run` sends its spans over OTLP/gRPC, and where people read them (the query API
and UI on HTTP).

Runs with `devstack/jaeger/config.yaml`: everything on 127.0.0.1, traces in memory only (a
restart forgets them), nothing on disk but its pid file and log. `OTEL_EXPORTER_OTLP_ENDPOINT`
names an external collector or Jaeger instead; then this one is not started.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from devstack import DEFAULT_DATA_ROOT, REPO_ROOT, _proc

log = logging.getLogger(__name__)

START_TIMEOUT = 60.0
CONFIG_FILE = Path(__file__).resolve().parent / "jaeger" / "config.yaml"


class JaegerStartError(RuntimeError):
    pass


@dataclass(frozen=True)
class JaegerConfig:
    data_dir: Path = DEFAULT_DATA_ROOT / "jaeger"
    otlp_port: int = 4317  # OTLP/gRPC receiver: the services' exporters
    http_port: int = 16686  # query API and UI
    grpc_port: int = 16685  # query API over gRPC (api_v2 / api_v3)
    host: str = "127.0.0.1"

    @classmethod
    def from_env(cls, data_root: Path = DEFAULT_DATA_ROOT) -> JaegerConfig:
        """FTE_JAEGER_OTLP_PORT, FTE_JAEGER_PORT (HTTP) and FTE_JAEGER_GRPC_PORT move it."""
        return cls(
            data_dir=data_root / "jaeger",
            otlp_port=int(os.environ.get("FTE_JAEGER_OTLP_PORT", cls.otlp_port)),
            http_port=int(os.environ.get("FTE_JAEGER_PORT", cls.http_port)),
            grpc_port=int(os.environ.get("FTE_JAEGER_GRPC_PORT", cls.grpc_port)),
        )

    @property
    def otlp_endpoint(self) -> str:
        """What OTEL_EXPORTER_OTLP_ENDPOINT is set to in every process."""
        return f"http://{self.host}:{self.otlp_port}"

    @property
    def url(self) -> str:
        """The query API and UI: /api/v3/traces/<trace id>, /api/services, /search."""
        return f"http://{self.host}:{self.http_port}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "jaeger.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "jaeger.log"


def binary() -> str:
    """JAEGER_BIN, else `.cache/bin/jaeger` (make run builds it), else `jaeger` on PATH."""
    candidates = [os.environ.get("JAEGER_BIN", ""), str(REPO_ROOT / ".cache" / "bin" / "jaeger"),
                  shutil.which("jaeger") or ""]
    found = next((c for c in candidates if c and os.access(c, os.X_OK)), None)
    if found is None:
        raise JaegerStartError("no Jaeger binary: run deploy/jaeger/build.sh (`make run` does), "
                               "or set OTEL_EXPORTER_OTLP_ENDPOINT to an existing collector")
    return found


def command(cfg: JaegerConfig, jaeger_binary: str | None = None) -> tuple[list[str], dict[str, str]]:
    """The argv and environment that run Jaeger for `cfg` (also the e2e tests' Jaeger)."""
    env = {
        **os.environ,
        "JAEGER_OTLP_GRPC_PORT": str(cfg.otlp_port),
        "JAEGER_QUERY_HTTP_PORT": str(cfg.http_port),
        "JAEGER_QUERY_GRPC_PORT": str(cfg.grpc_port),
        # Whatever a default of Jaeger's own still opens stays on loopback too.
        "JAEGER_LISTEN_HOST": cfg.host,
    }
    return [jaeger_binary or binary(), f"--config={CONFIG_FILE}"], env


def answers(cfg: JaegerConfig, timeout: float = 1.0) -> bool:
    """True when the query API answers and the OTLP receiver accepts connections."""
    try:
        with urllib.request.urlopen(f"{cfg.url}/api/services", timeout=timeout) as reply:
            if reply.status != 200:
                return False
    except (OSError, urllib.error.URLError):
        return False
    return _proc.port_open(cfg.host, cfg.otlp_port, timeout)


def running_pid(cfg: JaegerConfig) -> int | None:
    """Pid of the Jaeger of `cfg.data_dir`, None if it is not running."""
    pid = _proc.read_pid(cfg.pid_file)
    if pid is None or not _proc.pid_alive(pid):
        return None
    argv = _proc.cmdline(pid)
    # After a crash the recorded pid may belong to another process.
    return pid if not argv or any(a.endswith("jaeger") for a in argv[:1]) else None


def _launch(cfg: JaegerConfig) -> int:
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    for port in (cfg.otlp_port, cfg.http_port, cfg.grpc_port):
        if _proc.port_open(cfg.host, port):
            raise JaegerStartError(f"port {cfg.host}:{port} is already in use by another process")
    argv, env = command(cfg)
    with cfg.log_file.open("ab") as out:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, cwd=cfg.data_dir, start_new_session=True)
    cfg.pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


def _start(cfg: JaegerConfig) -> bool:
    if running_pid(cfg) is not None:
        if not answers(cfg):
            raise JaegerStartError(f"Jaeger for {cfg.data_dir} is running but does not answer on "
                                   f"{cfg.url}; stop it first (python -m devstack down)")
        log.info("Jaeger already running at %s", cfg.url)
        return False
    pid = _launch(cfg)
    deadline = time.monotonic() + START_TIMEOUT
    while not answers(cfg):
        if not _proc.pid_alive(pid):
            cfg.pid_file.unlink(missing_ok=True)
            raise JaegerStartError(f"Jaeger exited during start\n--- {cfg.log_file} ---\n"
                                   f"{_proc.tail(cfg.log_file)}")
        if time.monotonic() > deadline:
            raise JaegerStartError(f"Jaeger did not answer on {cfg.url} within {START_TIMEOUT:.0f}s\n"
                                   f"--- {cfg.log_file} ---\n{_proc.tail(cfg.log_file)}")
        time.sleep(0.1)
    return True


async def start(cfg: JaegerConfig) -> bool:
    """Start and wait until the query API answers. Idempotent: False when already running."""
    return await asyncio.to_thread(_start, cfg)


def stop(cfg: JaegerConfig, timeout: float = 10.0) -> None:
    """SIGTERM (SIGKILL after `timeout`); no-op if it is not running."""
    pid = running_pid(cfg)
    if pid is None:
        return
    _proc.terminate(pid, timeout)
    cfg.pid_file.unlink(missing_ok=True)
    log.info("Jaeger on port %s stopped", cfg.http_port)
