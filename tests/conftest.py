"""Shared fixtures. `stack` boots PostgreSQL + Kafka (+ Redis) once per session for the tests that ask.

The test stack has its own data dir and ports, so tests can run while `make run` is up.
DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS, if set, are used instead of the embedded servers.

The in-process services (identity + conversation, agent + knowledge, the seeded knowledge base)
are registered here once, as plugins: a fixture defined in a module that several conftests
import is a separate fixture per folder, so each folder would start its own copy. A folder's
conftest may still define a fixture of the same name (e2e's `identity` is a stub on the
pipeline's process); the nearest definition wins.

Each test is marked by what it needs, from the fixtures it uses (`make test-fast` deselects
them): `stack` for PostgreSQL, Kafka or the Kubernetes control plane (`kube`, tests/deploy/),
`browser` for Chromium.

`make test` runs two pytest-xdist workers (`-n 2`); each is a session with a stack of its own,
and `pytest_xdist_make_scheduler` below decides which tests share a worker.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import uvloop

from devstack import DEFAULT_DATA_ROOT, kafka, postgres, redis, stack as devstack
from tests import one_parse_at_a_time
from tests.ports import WORKER, stack_port

# CPython 3.11's ast.parse breaks when two threads parse at once (see the module).
one_parse_at_a_time.install()

pytest_plugins = [
    "tests.running_services", "tests.agent_services", "tests.access_services", "tests.deploy.cluster",
]

TESTS_DIR = Path(__file__).parent


def pytest_asyncio_loop_factories(config, item):
    """Tests run on the loop every process runs on (services/common/loop.py): uvloop."""
    return {"uvloop": uvloop.new_event_loop}

# `make test` runs the suite in pytest-xdist workers; each worker is a session of its own, with a
# stack of its own: data dir, ports (+1000 a worker) and lock.
TEST_DATA_ROOT = DEFAULT_DATA_ROOT / ("test-stack" + (f"-{WORKER}" if WORKER else ""))
# Its fixed ports (tests/ports.py stack_port) lie below the kernel's ephemeral range, where no
# outgoing connection can be holding one when a server binds it, and below the ports free_port picks.
TEST_STACK = devstack.StackConfig(
    postgres=postgres.PostgresConfig(data_dir=TEST_DATA_ROOT / "postgres", port=stack_port(15442)),
    kafka=kafka.KafkaConfig(data_dir=TEST_DATA_ROOT / "kafka", port=stack_port(19102),
                            controller_port=stack_port(19103)),
    external_database_url=os.environ.get("DATABASE_URL") or None,
    external_kafka=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
    redis=redis.RedisConfig(data_dir=TEST_DATA_ROOT / "redis", port=stack_port(16379)),
    external_rate_limit_storage=os.environ.get("RATE_LIMIT_STORAGE_URI") or os.environ.get("REDIS_URL") or None,
)


# The product facts the knowledge base and the fixed replies are written from: beside the
# repository (as in CI), or in a copy under docs/.
FACTS_CANDIDATES = [TESTS_DIR.parent / "docs/product/FACTS.md", TESTS_DIR.parent.parent / "shared/product/FACTS.md"]


@pytest.fixture(scope="session")
def facts() -> str:
    """FACTS.md's text. Without it the grounding checks would prove nothing, so its absence is
    a failure, never a skip."""
    path = next((p for p in FACTS_CANDIDATES if p.exists()), None)
    if path is None:
        pytest.fail("FACTS.md not found; looked in: " + ", ".join(map(str, FACTS_CANDIDATES)))
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def stack_lock() -> Iterator[None]:
    """Serialises test sessions of this checkout (per xdist worker): they share the test stack's
    ports and data dir, and each session wipes and stops it. The lock dies with its process, so
    a crashed session never blocks the next one."""
    DEFAULT_DATA_ROOT.mkdir(exist_ok=True)
    with open(DEFAULT_DATA_ROOT / f"{TEST_DATA_ROOT.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
async def stack(stack_lock: None) -> AsyncIterator[devstack.Endpoints]:
    # Whatever a crashed earlier session left behind is stopped and wiped: tests start clean.
    devstack.down(TEST_STACK)
    shutil.rmtree(TEST_DATA_ROOT, ignore_errors=True)
    endpoints = await devstack.up(TEST_STACK)
    yield endpoints
    devstack.down(TEST_STACK)
    assert not devstack.embedded_running(TEST_STACK), "test stack left running"


# Tests that start PostgreSQL, Kafka or Chromium themselves (their own data dir and ports, or a
# subprocess), so the `stack` fixture does not show in what they use. Paths under tests/.
STARTS_ITS_OWN_STACK = {
    "stack/test_crash_recovery.py",  # kills and restarts its own PostgreSQL and Kafka
    "stack/test_devstack_run.py",  # `python -m devstack run` as a child process
    "chaos/test_nothing_is_lost_under_faults.py",  # its own PostgreSQL, Kafka and `devstack run`
    "stack/test_kafka_producer_outlives_a_broker_restart.py",  # stops and starts its own Kafka
}
STARTS_CHROMIUM = {
    "e2e/test_webform_in_chromium.py",  # `npm run test:browser`: playwright drives Chromium
}
# A renamed file must not silently fall into `make test-fast`.
assert all((TESTS_DIR / p).is_file() for p in STARTS_ITS_OWN_STACK | STARTS_CHROMIUM), \
    "tests/conftest.py lists a test file that no longer exists"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path.relative_to(TESTS_DIR).as_posix() if item.path.is_relative_to(TESTS_DIR) else ""
        if {"stack", "kube"} & set(getattr(item, "fixturenames", ())) or path in STARTS_ITS_OWN_STACK:
            item.add_marker(pytest.mark.stack)
        if path in STARTS_CHROMIUM:
            item.add_marker(pytest.mark.browser)
    # The end-to-end tests first: they are the longest unit of work (see below).
    items.sort(key=lambda item: not item.nodeid.startswith(E2E))


E2E = "tests/e2e/"
ON_THE_CONTROL_PLANE = {"tests/deploy/test_control_plane.py", "tests/deploy/test_overlays_on_the_control_plane.py"}
assert all((TESTS_DIR.parent / p).is_file() for p in ON_THE_CONTROL_PLANE), \
    "tests/conftest.py lists a control-plane test file that no longer exists"


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """How `make test` shares the tests between its xdist workers: the end-to-end tests are one
    unit of work, so the pipeline of processes they share starts once, on one worker, and it is
    handed out first, being the longest; so are the tests on the Kubernetes control plane (one
    control plane, not one per worker); every other test file is a unit of its own, handed to
    whichever worker is free."""
    from xdist.scheduler import LoadScopeScheduling

    class EndToEndAsOneUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith(E2E):
                return E2E
            # the files on the Kubernetes control plane share one (`kube` starts it once a session)
            if nodeid.split("::")[0] in ON_THE_CONTROL_PLANE:
                return "kube"
            return super()._split_scope(nodeid)

    # Keep the collection's order (e2e first) rather than the largest file first.
    config.option.loadscopereorder = False
    return EndToEndAsOneUnit(config, log)


def pytest_terminal_summary(terminalreporter) -> None:
    """How many inputs each fuzz target tried (tests/fuzz/report.py records them on the reports,
    which also reach the controller under xdist), and the chaos suite's table (each case's
    outcome is its test's `chaos` property)."""
    from tests.fuzz.report import summary_lines

    summaries = [value for reports in terminalreporter.stats.values() for report in reports
                 if getattr(report, "when", "") == "call"
                 for name, value in getattr(report, "user_properties", ()) if name == "fuzz"]
    if summaries:
        terminalreporter.write_sep("=", "fuzzing")
        for line in summary_lines(summaries):
            terminalreporter.write_line(line)
    outcomes = [value for reports in terminalreporter.stats.values() for report in reports
                if getattr(report, "when", "") == "call"
                for name, value in getattr(report, "user_properties", ()) if name == "chaos"]
    if outcomes:
        from tests.chaos.harness import Outcome, table

        terminalreporter.write_sep("=", "chaos (short form): every accepted message answered once")
        terminalreporter.write_line(table([Outcome(**o) for o in outcomes]))
