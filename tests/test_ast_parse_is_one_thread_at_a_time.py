"""Two threads parsing while garbage collections inside their parses run finalizers: on
CPython 3.11 the second parse to start breaks the first (`SystemError: AST constructor
recursion depth mismatch`) unless tests/one_parse_at_a_time.py's guard, which tests/conftest.py
installs for the whole test process, lets one parse run at a time."""

from __future__ import annotations

import ast
import gc
import sys
import threading
import time

SOURCE = "\n".join(f"def f{i}(a, b):\n    return [x * (a + b) for x in range({i}) if x % 2]"
                   for i in range(200))


class _Cycle:
    """Garbage only a collection frees; its finalizer gives the other thread the GIL."""

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        time.sleep(0.0005)


def test_two_threads_parse_side_by_side_without_a_system_error():
    errors: list[str] = []
    parsed = [0, 0]

    def parse_many(k: int) -> None:
        for _ in range(50):
            gc.collect(0)
            for _ in range(8):  # collected by the collection the parse's allocations start
                _Cycle()
            try:
                ast.parse(SOURCE)
            except SystemError as exc:
                errors.append(str(exc))
                return
            parsed[k] += 1

    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    gc.set_threshold(100, 50, 50)
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=parse_many, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        gc.set_threshold(*thresholds)
        sys.setswitchinterval(interval)

    assert errors == []
    assert parsed == [50, 50]
