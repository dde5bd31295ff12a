"""python -m services.agent: config → bootstrap → serve."""

import functools

from services.agent.server import AgentSettings, build
from services.common import loop
from services.common.grpc_server import serve

if __name__ == "__main__":
    settings = AgentSettings()
    loop.run(serve("agent", settings, functools.partial(build, settings=settings)))
