"""Embedded Redis (Debian's `redis-server`), the edge replicas' shared rate-limit store.

Listens on 127.0.0.1 only and keeps nothing on disk but its pid file and log: what it holds
(one-minute rate-limit windows) is worthless after a restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from devstack import DEFAULT_DATA_ROOT, _proc

log = logging.getLogger(__name__)

START_TIMEOUT = 30.0


class RedisStartError(RuntimeError):
    pass


@dataclass(frozen=True)
class RedisConfig:
    data_dir: Path = DEFAULT_DATA_ROOT / "redis"
    port: int = 56379
    host: str = "127.0.0.1"

    @classmethod
    def from_env(cls, data_root: Path = DEFAULT_DATA_ROOT) -> RedisConfig:
        return cls(data_dir=data_root / "redis", port=int(os.environ.get("FTE_REDIS_PORT", cls.port)))

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "redis.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"


def _binary() -> str:
    found = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists()
                                             else None)
    if found is None:
        raise RedisStartError("redis-server is not installed (Debian package `redis-server`; "
                              "`make run` installs it), or set RATE_LIMIT_STORAGE_URI / REDIS_URL")
    return found


def ping(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when a Redis server answers PING on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def running_pid(cfg: RedisConfig) -> int | None:
    """Pid of the redis-server of `cfg.data_dir`, None if it is not running."""
    pid = _proc.read_pid(cfg.pid_file)
    if pid is None or not _proc.pid_alive(pid):
        return None
    # After a crash the recorded pid may belong to another process; redis-server sets its
    # title to "redis-server <host>:<port>".
    argv = " ".join(_proc.cmdline(pid))
    return pid if not argv or f"{cfg.host}:{cfg.port}" in argv else None


def _launch(cfg: RedisConfig) -> None:
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    if _proc.port_open(cfg.host, cfg.port):
        raise RedisStartError(f"port {cfg.host}:{cfg.port} is already in use by another process")
    cfg.pid_file.unlink(missing_ok=True)
    result = subprocess.run(
        [_binary(), "--bind", cfg.host, "--port", str(cfg.port), "--protected-mode", "yes",
         "--dir", str(cfg.data_dir), "--pidfile", str(cfg.pid_file), "--logfile", str(cfg.log_file),
         "--daemonize", "yes", "--save", "", "--appendonly", "no"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
    )
    if result.returncode != 0:
        raise RedisStartError(f"redis-server did not start (exit {result.returncode}):\n"
                              f"{result.stdout}{result.stderr}{_proc.tail(cfg.log_file)}")


def _start(cfg: RedisConfig) -> bool:
    if running_pid(cfg) is not None:
        if not ping(cfg.host, cfg.port):
            raise RedisStartError(f"Redis for {cfg.data_dir} is running but does not answer on "
                                  f"{cfg.host}:{cfg.port}; stop it first (python -m devstack down)")
        log.info("Redis already running on %s:%s", cfg.host, cfg.port)
        return False
    _launch(cfg)
    deadline = time.monotonic() + START_TIMEOUT
    while not ping(cfg.host, cfg.port):
        if time.monotonic() > deadline:
            raise RedisStartError(f"Redis did not answer PING on {cfg.host}:{cfg.port} within "
                                  f"{START_TIMEOUT:.0f}s\n--- {cfg.log_file} ---\n{_proc.tail(cfg.log_file)}")
        time.sleep(0.05)
    return True


async def start(cfg: RedisConfig) -> bool:
    """Start and wait until it answers PING. Idempotent: False when it was already running."""
    return await asyncio.to_thread(_start, cfg)


def stop(cfg: RedisConfig, timeout: float = 10.0) -> None:
    """SIGTERM (SIGKILL after `timeout`); no-op if it is not running."""
    pid = running_pid(cfg)
    if pid is None:
        return
    _proc.terminate(pid, timeout)
    cfg.pid_file.unlink(missing_ok=True)
    log.info("Redis on port %s stopped", cfg.port)
