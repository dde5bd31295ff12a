"""gen/python is exactly what `make gen` produces from proto/: nothing stale, nothing edited."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_python_matches_protos(tmp_path):
    protos = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "proto").rglob("*.proto"))
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-Iproto", f"--python_out={tmp_path}",
         f"--pyi_out={tmp_path}", f"--grpc_python_out={tmp_path}", *protos],
        cwd=ROOT, check=True,
    )
    fresh = {p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()}
    committed = {
        p.relative_to(ROOT / "gen/python")
        for p in (ROOT / "gen/python").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert fresh == committed, "run `make gen`: generated files differ from proto/"
    stale = [str(f) for f in fresh if not filecmp.cmp(tmp_path / f, ROOT / "gen/python" / f, shallow=False)]
    assert not stale, f"run `make gen`: stale generated files {stale}"
