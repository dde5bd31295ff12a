"""Process and port helpers shared by the embedded servers and the process runner (Linux)."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections import deque
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """True while `pid` is a live process; exited children are reaped, zombies count as dead.

    Zombies matter because the broker may be our own child (reaped here) or an orphan whose
    new parent never reaps it; `kill(pid, 0)` succeeds on a zombie either way.
    """
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return not Path("/proc/self").exists()  # vanished just now, or no procfs to ask
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def cmdline(pid: int) -> list[str]:
    """The argv of a running process, or [] when it is gone or unreadable."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def terminate(pid: int, timeout: float, *, process_group: bool = False) -> bool:
    """SIGTERM, wait up to `timeout`, then SIGKILL. Returns False if it had to be killed."""
    send = os.killpg if process_group else os.kill
    try:
        send(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    try:
        send(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    while pid_alive(pid):
        time.sleep(0.05)
    return False


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 30) -> str:
    try:
        with path.open(errors="replace") as f:
            return "".join(deque(f, maxlen=lines))
    except OSError:
        return f"(no log at {path})"
