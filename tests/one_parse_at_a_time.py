"""`ast.parse` one thread at a time in the test process (installed by tests/conftest.py).

CPython 3.11 keeps the AST constructor's recursion depth in interpreter-wide state
(python/cpython#106905): when a garbage collection inside one thread's `ast.parse` runs Python
code (a finalizer) and lets another thread start a parse, the first fails with
`SystemError: AST constructor recursion depth mismatch`. Python 3.11 parses in every traceback
it formats (to place the ^^^ carets), hypothesis when it describes a lambda, pytest when it
rewrites a test module's asserts. The RPC fuzz tests draw their examples in a worker thread
while the event loop's services log tracebacks, and a CI run failed so
(tests/test_ast_parse_is_one_thread_at_a_time.py shows the race and that this guard closes it).

The services do not need it: each formats tracebacks on its event loop's thread only.
"""

from __future__ import annotations

import ast
import functools
import threading

_lock = threading.RLock()  # re-entrant: a finalizer inside a parse may format a traceback too


def install() -> None:
    if getattr(ast.parse, "one_thread_at_a_time", False):
        return
    parse = ast.parse

    @functools.wraps(parse)
    def parse_alone(*args, **kwargs):
        with _lock:
            return parse(*args, **kwargs)

    parse_alone.one_thread_at_a_time = True
    ast.parse = parse_alone
