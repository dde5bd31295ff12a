"""Process list for the `devstack run` tests (FTE_DEVSTACK_PROCESSES=tests.stack.dummy_processes)."""

from devstack.processes import AppProcess

PROCESSES = (
    AppProcess("alpha", ("-m", "tests.stack.dummy_service"), port=50161, schema="identity",
               advertise_as=("ALPHA_ADDR",)),
    AppProcess("beta", ("-m", "tests.stack.dummy_service"), port=50162, advertise_as=("BETA_ADDR",)),
)
