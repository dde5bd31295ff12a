"""`make system-packages` (part of `make deps`) puts back jq and Debian's chromium whenever they are
missing — checked on every run, no marker file that goes stale — installs as root without sudo
(CI), and says clearly what to do when apt cannot be used. `make run` asks the same recipe for
jq only: chromium is for the browser tests. apt-get, id and sudo are faked on a private PATH:
the real ones would change this machine."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _tool(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _make(bin_dir: Path, packages: str) -> subprocess.CompletedProcess:
    make = shutil.which("make")
    assert make, "GNU make is needed"
    return subprocess.run(
        [make, "-s", "-C", str(REPO), "system-packages", f"SYSTEM_PACKAGES={packages}", f"PATH={bin_dir}"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "LC_ALL": "C"},
    )


def _bin(tmp_path: Path, uid: int) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _tool(bin_dir, "id", f"echo {uid}\n")
    os.symlink(shutil.which("env"), bin_dir / "env")
    return bin_dir


def test_present_packages_need_nothing(tmp_path):
    bin_dir = _bin(tmp_path, 0)
    _tool(bin_dir, "apt-get", f"echo called >> {tmp_path}/apt.log\nexit 1\n")
    _tool(bin_dir, "fbpkg", "exit 0\n")
    result = _make(bin_dir, "fbpkg")
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "apt.log").exists()


def test_a_package_gone_since_last_time_is_installed_again_as_root_without_sudo(tmp_path):
    bin_dir = _bin(tmp_path, 0)
    # Fake apt-get "installs" by creating the command, and records how it was called.
    _tool(bin_dir, "apt-get",
          f'echo "$DEBIAN_FRONTEND $*" >> {tmp_path}/apt.log\n'
          f'if [ "$1" = install ]; then for a in "$@"; do case "$a" in -*|install) ;; *) '
          f"printf '#!/bin/sh\\n' > {bin_dir}/$a; /bin/chmod +x {bin_dir}/$a;; esac; done; fi\n")
    _tool(bin_dir, "sudo", f"echo sudo >> {tmp_path}/apt.log\nexit 1\n")
    for _ in range(2):  # the second run must find it and do nothing
        result = _make(bin_dir, "fbpkg")
        assert result.returncode == 0, result.stderr
    log = (tmp_path / "apt.log").read_text().splitlines()
    assert log[0].endswith("update -qq")
    assert log[1] == "noninteractive install -y -qq --no-install-recommends fbpkg"
    assert len(log) == 2, log  # installed once, never through sudo

    (bin_dir / "fbpkg").unlink()  # removed behind make's back: the next run puts it back
    assert _make(bin_dir, "fbpkg").returncode == 0
    assert (bin_dir / "fbpkg").exists()


def test_no_apt_says_so(tmp_path):
    bin_dir = _bin(tmp_path, 0)
    result = _make(bin_dir, "fbpkg")
    assert result.returncode != 0
    assert "missing fbpkg: apt-get is not available" in result.stderr


def test_not_root_without_sudo_prints_the_command_to_run(tmp_path):
    bin_dir = _bin(tmp_path, 1000)
    _tool(bin_dir, "apt-get", f"echo called >> {tmp_path}/apt.log\n")
    result = _make(bin_dir, "fbpkg")
    assert result.returncode != 0
    assert "installing needs root; run: sudo apt-get update && sudo apt-get install -y fbpkg" in result.stderr
    assert not (tmp_path / "apt.log").exists()


def test_apt_failure_is_reported_not_swallowed(tmp_path):
    bin_dir = _bin(tmp_path, 0)
    _tool(bin_dir, "apt-get", 'if [ "$1" = install ]; then echo "E: Unable to locate package" >&2; exit 100; fi\n')
    result = _make(bin_dir, "fbpkg")
    assert result.returncode != 0
    assert "E: Unable to locate package" in result.stderr
    assert "missing fbpkg: apt-get install failed" in result.stderr


def _planned(target: str) -> str:
    """What `make <target>` would run (`make -n` prints the recipes, runs none of them)."""
    make = shutil.which("make")
    assert make, "GNU make is needed"
    result = subprocess.run([make, "-n", "-C", str(REPO), target], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "LC_ALL": "C"})
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_run_installs_jq_and_redis_but_not_chromium_which_only_the_tests_need():
    run, test = _planned("run"), _planned("test")
    assert "for p in jq redis-server; do command -v" in run
    assert "chromium" not in run and "podman" not in run and "etcd" not in run
    # Testing also needs etcd (package etcd-server) for the deploy tests' control plane.
    assert "for p in jq redis-server chromium etcd-server:etcd; do command -v" in test
    # ... and podman, buildah, runc and debootstrap for the image it runs (`make images`).
    assert "for p in podman buildah runc debootstrap; do command -v" in test
