"""Embedded PostgreSQL 16 with pgvector, from the binaries bundled in the `pgserver` wheel.

initdb/pg_ctl are driven directly (not pgserver's API) so that services connect over TCP
with scram passwords, exactly as they would to a managed server. PostgreSQL refuses to run
as root, so under root the server runs as an unprivileged system user that owns the data dir.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import pwd
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import asyncpg

from devstack import DEFAULT_DATA_ROOT, REPO_ROOT, _proc

log = logging.getLogger(__name__)

SERVER_USER = "fte-pg"
# Unix sockets live in the data dir; their path must fit in sockaddr_un.sun_path (108 bytes).
_MAX_SOCKET_PATH = 100


class PostgresError(RuntimeError):
    pass


@dataclass(frozen=True)
class PostgresConfig:
    data_dir: Path = DEFAULT_DATA_ROOT / "postgres"
    port: int = 55432
    host: str = "127.0.0.1"
    database: str = "fte"
    admin_user: str = "fte_admin"
    admin_password: str = "fte_admin_local"

    @classmethod
    def from_env(cls, data_root: Path = DEFAULT_DATA_ROOT) -> PostgresConfig:
        return cls(
            data_dir=data_root / "postgres",
            port=int(os.environ.get("FTE_PG_PORT", cls.port)),
            admin_password=os.environ.get("FTE_ADMIN_DB_PASSWORD", cls.admin_password),
        )

    @property
    def admin_dsn(self) -> str:
        return (
            f"postgresql://{quote(self.admin_user, safe='')}:{quote(self.admin_password, safe='')}"
            f"@{self.host}:{self.port}/{self.database}"
        )

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"


def _bin(name: str) -> str:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresError("the `pgserver` package (bundled PostgreSQL binaries) is not installed")
    return str(Path(spec.submodule_search_locations[0]) / "pginstall" / "bin" / name)


def _server_user() -> pwd.struct_passwd | None:
    """The account the server runs as: None (= current user) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        pass
    # May race with another stack starting (tests next to `make run`): the loser's useradd
    # fails, but the account exists either way.
    result = subprocess.run(
        ["useradd", "--system", "--user-group", "--no-create-home",
         "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", SERVER_USER],
        capture_output=True, text=True,
    )
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise PostgresError(f"could not create the '{SERVER_USER}' account PostgreSQL runs as "
                            f"(it refuses to run as root): {result.stderr.strip()}") from None


def _run(user: pwd.struct_passwd | None, args: list[str], *, check: bool = True,
         timeout: float = 120) -> subprocess.CompletedProcess[str]:
    # A clean environment: stray PG* variables of the caller must not redirect the tools.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}
    as_user = {} if user is None else dict(user=user.pw_uid, group=user.pw_gid, extra_groups=[])
    result = subprocess.run(args, env=env, cwd="/", capture_output=True, text=True,
                            timeout=timeout, **as_user)
    if check and result.returncode != 0:
        raise PostgresError(
            f"{Path(args[0]).name} {args[1] if len(args) > 1 else ''} failed "
            f"(exit {result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return result


def _check_reachable(path: Path, user: pwd.struct_passwd) -> None:
    """Fail early with a clear message when a parent dir is closed to the server account.

    The checkout itself (where the data dir and the pgserver binaries live) is opened for
    traversal (o+x: enter, not list) when it is ours, e.g. a clone made in a `mktemp -d`
    folder; folders above the checkout are never changed."""
    for parent in path.parents:
        st = parent.stat()
        if st.st_uid != user.pw_uid and not st.st_mode & 0o001:
            if st.st_uid == os.geteuid() and parent.is_relative_to(REPO_ROOT):
                log.info("opening %s for traversal by the '%s' server account", parent, user.pw_name)
                parent.chmod(st.st_mode & 0o7777 | 0o001)
                continue
            raise PostgresError(
                f"{parent} is not traversable by the '{user.pw_name}' server account; "
                f"choose a data dir whose parents are world-executable (e.g. under the repo)"
            )


def _initdb(cfg: PostgresConfig, user: pwd.struct_passwd | None) -> None:
    log.info("initialising PostgreSQL data dir %s", cfg.data_dir)
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    if user is not None:
        _check_reachable(cfg.data_dir, user)
        os.chown(cfg.data_dir, user.pw_uid, user.pw_gid)
    cfg.data_dir.chmod(0o700)
    # initdb reads the superuser password from a file; keep it out of argv and the environment.
    with tempfile.NamedTemporaryFile("w", dir=cfg.data_dir.parent, prefix=".pwfile-") as pwfile:
        pwfile.write(cfg.admin_password + "\n")
        pwfile.flush()
        if user is not None:
            os.chown(pwfile.name, user.pw_uid, user.pw_gid)
        _run(user, [
            _bin("initdb"), "-D", str(cfg.data_dir), "--username", cfg.admin_user,
            "--pwfile", pwfile.name, "--auth-local=trust", "--auth-host=scram-sha-256",
            "--encoding=UTF8", "--locale=C",
        ])


def _is_postmaster_of(cfg: PostgresConfig, pid: int | None) -> bool:
    # The argv check matters after a crash: the recorded pid may now belong to another process.
    if pid is None or not _proc.pid_alive(pid):
        return False
    argv = _proc.cmdline(pid)
    return not argv or str(cfg.data_dir) in argv


def running_pid(cfg: PostgresConfig) -> int | None:
    """Pid of the postmaster serving `cfg.data_dir`, None if it is not running."""
    pid = _proc.read_pid(cfg.data_dir / "postmaster.pid")
    return pid if _is_postmaster_of(cfg, pid) else None


def _running_port(cfg: PostgresConfig) -> int | None:
    try:  # postmaster.pid line 4 is the port (see pidfile.h)
        return int((cfg.data_dir / "postmaster.pid").read_text().splitlines()[3])
    except (OSError, ValueError, IndexError):
        return None


def _remove_stale_locks(cfg: PostgresConfig) -> None:
    """Drop lock files of a crashed server before starting.

    PostgreSQL itself only reclaims a lock whose pid no longer exists. After a crash that pid
    may be a zombie nobody reaps (a minimal container init) or a recycled pid of another
    process of the same account (e.g. the test stack's server), and start-up would fail.
    """
    for lock in [cfg.data_dir / "postmaster.pid", *cfg.data_dir.glob(".s.PGSQL.*.lock")]:
        pid = _proc.read_pid(lock)
        if lock.exists() and not _is_postmaster_of(cfg, pid):
            log.warning("removing stale %s left by a crashed server (pid %s)", lock.name, pid)
            lock.unlink()


def _start_server(cfg: PostgresConfig) -> bool:
    user = _server_user()
    if not (cfg.data_dir / "PG_VERSION").exists():
        _initdb(cfg, user)
    if running_pid(cfg) is not None:
        port = _running_port(cfg)
        if port != cfg.port:
            raise PostgresError(
                f"PostgreSQL for {cfg.data_dir} is already running on port {port}, "
                f"not {cfg.port}; stop it first (python -m devstack down)"
            )
        log.info("PostgreSQL already running on %s:%s", cfg.host, cfg.port)
        return False
    _remove_stale_locks(cfg)

    socket_dir = str(cfg.data_dir) if len(str(cfg.data_dir)) + 20 <= _MAX_SOCKET_PATH else ""
    options = " ".join([
        f"-p {cfg.port}",
        f"-c listen_addresses={shlex.quote(cfg.host)}",
        f"-c unix_socket_directories={shlex.quote(socket_dir)}",  # '' = TCP only
    ])
    result = _run(user, [
        _bin("pg_ctl"), "start", "-D", str(cfg.data_dir), "-l", str(cfg.log_file),
        "-w", "-t", "60", "-o", options,
    ], check=False)
    if result.returncode != 0:
        raise PostgresError(
            f"PostgreSQL did not start on {cfg.host}:{cfg.port} (exit {result.returncode}).\n"
            f"{result.stdout}{result.stderr}--- {cfg.log_file} ---\n{_proc.tail(cfg.log_file)}"
        )
    return True


async def _ensure_database(cfg: PostgresConfig) -> None:
    # Connect over TCP with the password, which also proves scram auth works for services.
    conn = await asyncpg.connect(
        host=cfg.host, port=cfg.port, user=cfg.admin_user, password=cfg.admin_password,
        database="postgres", timeout=10,
    )
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", cfg.database):
            await conn.execute(await conn.fetchval("SELECT format('CREATE DATABASE %I', $1::text)",
                                                   cfg.database))
    finally:
        await conn.close()


async def start(cfg: PostgresConfig) -> bool:
    """Start (initialising on first use) and wait until `cfg.admin_dsn` accepts connections.

    Idempotent: returns False when the server was already running, True when started here.
    """
    started = await asyncio.to_thread(_start_server, cfg)
    await _ensure_database(cfg)
    return started


def stop(cfg: PostgresConfig) -> None:
    """Fast shutdown (rolls back open transactions, disconnects clients); no-op if stopped."""
    if running_pid(cfg) is None:
        return
    _run(_server_user(), [_bin("pg_ctl"), "stop", "-D", str(cfg.data_dir), "-m", "fast",
                          "-w", "-t", "60"])
    log.info("PostgreSQL on port %s stopped", cfg.port)
