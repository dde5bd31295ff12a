"""A stack's fixed ports and the ports `free_port` picks never meet, for any worker of a run: a
fake server on one pytest-xdist worker once took the port another worker's Kafka was to start on."""

from __future__ import annotations

import pytest

from tests.ports import STACK_BASES_BELOW, WORKER_STRIDE, free_port_range, stack_port

EPHEMERAL_START = 32768


@pytest.mark.parametrize("workers", [1, 2, 3, 4])
@pytest.mark.parametrize("checkout_offset", [0, 100, 500])
def test_free_ports_lie_above_every_workers_stack_ports_and_workers_do_not_share(workers: int,
                                                                                  checkout_offset: int) -> None:
    highest_stack_port = STACK_BASES_BELOW - 1 + checkout_offset + WORKER_STRIDE * (workers - 1)
    slices = [free_port_range(f"gw{i}", workers, checkout_offset, EPHEMERAL_START) for i in range(workers)]
    assert slices[0][0] > highest_stack_port
    assert slices[-1][1] <= EPHEMERAL_START
    for (_, high), (next_low, _) in zip(slices, slices[1:]):
        assert high <= next_low


def test_a_run_without_workers_picks_from_the_whole_range() -> None:
    assert free_port_range("", 1, 0, EPHEMERAL_START) == (STACK_BASES_BELOW, 32000)


def test_a_base_port_in_the_free_range_is_refused() -> None:
    with pytest.raises(ValueError, match="base port must be from 1024 to 19999, not 20102"):
        stack_port(20102)


def test_too_large_a_checkout_offset_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="no room for free ports"):
        free_port_range("gw0", 2, 12000, EPHEMERAL_START)
