"""The Go binaries `make deps` builds into .cache (grpcurl, kustomize, promtool, dashcheck, Jaeger,
the Kubernetes control plane, kwok) are static, pure-Go builds: no dynamic loader or libc in the
process, where a fault kills the tool silently (a cgo grpcurl died so once in CI: -11, no output).
A tool built with other settings is rebuilt once, because the Makefile's stamp is newer."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOLS = [ROOT / ".cache" / "bin" / name for name in ("grpcurl", "kustomize", "promtool", "dashcheck", "jaeger")] + [
    ROOT / ".cache" / "kube" / "bin" / name
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok")]


@pytest.mark.parametrize("tool", TOOLS, ids=lambda path: path.name)
def test_the_tool_is_a_static_pure_go_build(tool: Path) -> None:
    assert tool.exists(), f"{tool} is missing: run `make deps`"
    go = shutil.which("go")
    assert go, "Go is needed (it builds these tools)"
    info = subprocess.run([go, "version", "-m", str(tool)], capture_output=True, text=True, timeout=60)
    assert info.returncode == 0, info.stderr
    assert "\tbuild\tCGO_ENABLED=0\n" in info.stdout, info.stdout
    with tool.open("rb") as elf:  # no PT_INTERP program header: nothing for a dynamic loader to do
        header = elf.read(64)
        assert header[:4] == b"\x7fELF" and header[4] == 2  # 64-bit
        phoff, phentsize, phnum = (int.from_bytes(header[0x20:0x28], "little"),
                                   int.from_bytes(header[0x36:0x38], "little"),
                                   int.from_bytes(header[0x38:0x3a], "little"))
        elf.seek(phoff)
        table = elf.read(phentsize * phnum)
    types = {int.from_bytes(table[i:i + 4], "little") for i in range(0, len(table), phentsize)}
    assert 3 not in types, f"{tool.name} asks for a dynamic loader"


def test_a_tool_older_than_the_build_settings_stamp_is_rebuilt() -> None:
    """`make -n -W <stamp>` plans as if the stamp had just changed: every Go tool is rebuilt with
    CGO_ENABLED=0; without it, a tool already built is left alone."""
    make = shutil.which("make")
    assert make, "GNU make is needed"
    targets = [".cache/bin/grpcurl", ".cache/bin/kustomize", ".cache/bin/promtool", ".cache/bin/dashcheck"]
    env = {**os.environ, "LC_ALL": "C"}

    def plan(*extra: str) -> str:
        result = subprocess.run([make, "-n", "-C", str(ROOT), *extra, *targets],
                                capture_output=True, text=True, timeout=60, env=env)
        assert result.returncode == 0, result.stderr
        return result.stdout

    unchanged = plan()
    assert "go install" not in unchanged and "go build" not in unchanged
    changed = plan("-W", ".cache/bin/.go-tools-cgo-off")
    assert changed.count("CGO_ENABLED=0 go install") == 3, changed
    assert "CGO_ENABLED=0 go build" in changed, changed
