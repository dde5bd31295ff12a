"""The chaos suite's short form (`make chaos` runs the full one): on the whole product under the
supervisor of `make run`, each fault in turn — SIGKILL of every process kind, the Kafka broker
stopped and started again, PostgreSQL stopped and started again, the channel APIs answering 503,
the network to PostgreSQL cut — with a burst of mixed web, WhatsApp and email traffic in flight.
The verdict, every time: every accepted message gets exactly one reply (or handover), none twice,
none lost. The table of every case is printed at the end of the run (tests/conftest.py, from
each test's `chaos` property, which reaches the controller under xdist) and kept in
artifacts/chaos/.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict

import pytest

from tests.chaos.harness import FAULTS, SHORT, ChaosStack, run_case, write_table

OUTCOMES = []


@pytest.fixture(scope="module")
async def chaos(stack_lock: None) -> AsyncIterator[ChaosStack]:
    stack = ChaosStack()
    try:
        await stack.start()
        yield stack
    finally:
        await stack.stop()
        write_table(OUTCOMES, SHORT)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
async def test_every_accepted_message_is_answered_exactly_once(chaos, fault, record_property):
    outcome = await run_case(chaos, fault, SHORT)
    OUTCOMES.append(outcome)
    record_property("chaos", asdict(outcome))
    assert outcome.accepted >= SHORT.messages // 3, f"{outcome}: most of the burst was refused"
    assert (outcome.lost, outcome.doubled) == (0, 0), f"{outcome}\n{chaos.log_tail()}"
