"""`make lint`'s breaking check really bites: with the repo's buf.yaml (FILE rules), renaming or
deleting a field of a v1 contract is reported against the committed contracts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / "node_modules" / ".bin" / "buf"
PROTO = "fte/identity/v1/identity_service.proto"


def _buf(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BUF), *args], cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.fixture
def changed_copy(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "buf.yaml", tmp_path / "buf.yaml")
    shutil.copytree(ROOT / "proto", tmp_path / "proto")
    return tmp_path


def test_unchanged_contracts_pass(changed_copy: Path):
    result = _buf("breaking", "--against", str(ROOT), cwd=changed_copy)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ("string customer_id = 1;", "string customer_ref = 1;", 'changed name from "customer_id"'),
        ("string customer_id = 1;", "reserved 1;", 'Previously present field "1"'),
    ],
)
def test_renaming_or_deleting_a_field_is_reported(changed_copy: Path, old: str, new: str,
                                                  complaint: str):
    path = changed_copy / "proto" / PROTO
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    result = _buf("breaking", "--against", str(ROOT), cwd=changed_copy)
    assert result.returncode != 0
    assert complaint in result.stdout + result.stderr
