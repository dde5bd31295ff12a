"""Process list for the `devstack run` tests (FTE_DEVSTACK_PROCESSES=tests.stack.dummy_processes)."""

import os

from devstack.processes import AppProcess
from tests.ports import free_port


def _ports() -> list[int]:
    """Chosen per test run (fixed ports inside the ephemeral range collide with port-0
    servers) and handed to the `run` child through the environment it inherits."""
    if not os.environ.get("FTE_DUMMY_PORTS"):
        os.environ["FTE_DUMMY_PORTS"] = f"{free_port()},{free_port()}"
    return [int(p) for p in os.environ["FTE_DUMMY_PORTS"].split(",")]


_ALPHA_PORT, _BETA_PORT = _ports()
PROCESSES = (
    AppProcess("alpha", ("-m", "tests.stack.dummy_service"), port=_ALPHA_PORT, schema="identity",
               advertise_as=("ALPHA_ADDR",)),
    AppProcess("beta", ("-m", "tests.stack.dummy_service"), port=_BETA_PORT, advertise_as=("BETA_ADDR",)),
)

# A one-shot step whose stdout `run` prints as NAME=value with the URLs (like make run's API key).
SETUP = (
    AppProcess("token", ("-c", "import sys; print('made a dummy token', file=sys.stderr); "
                               "print('dummy-token-1234')"), prints_as="DUMMY_TOKEN"),
)
