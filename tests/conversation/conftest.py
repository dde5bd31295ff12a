from tests.running_services import (  # noqa: F401  (fixtures)
    _real_time_between_tests,
    admin_db,
    clock,
    conversation,
    conversation_address,
    identity,
    identity_address,
)
