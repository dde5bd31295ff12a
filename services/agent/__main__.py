"""python -m services.agent: config → bootstrap → serve."""

import asyncio

from services.common.grpc_server import serve
from services.agent.server import AgentSettings, build

if __name__ == "__main__":
    asyncio.run(serve("agent", AgentSettings(), build))
