"""python -m services.knowledge: config → bootstrap → serve KnowledgeService on its own.

`make run` serves it from the agent's process instead (AgentSettings.serve_knowledge); running
it apart is this command plus SERVE_KNOWLEDGE=false and KNOWLEDGE_ADDR for the agent."""

import functools

from services.common import loop
from services.common.grpc_server import serve
from services.knowledge.server import KnowledgeSettings, build

if __name__ == "__main__":
    settings = KnowledgeSettings()
    loop.run(serve("knowledge", settings, functools.partial(build, settings=settings)))
