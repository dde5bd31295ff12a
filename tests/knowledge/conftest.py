from tests.agent_services import (  # noqa: F401  (fixtures)
    agent,
    agent_address,
    fake_openai,
    knowledge,
    knowledge_dsn,
    seeded_knowledge,
)
from tests.running_services import (  # noqa: F401  (fixtures)
    _real_time_between_tests,
    admin_db,
    clock,
    conversation,
    conversation_address,
)
