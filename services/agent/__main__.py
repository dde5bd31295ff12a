"""python -m services.agent: config → bootstrap → serve."""

import asyncio
import functools

from services.agent.server import AgentSettings, build
from services.common.grpc_server import serve

if __name__ == "__main__":
    settings = AgentSettings()
    asyncio.run(serve("agent", settings, functools.partial(build, settings=settings)))
