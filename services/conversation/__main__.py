"""python -m services.conversation: config → bootstrap → serve."""

import functools

from services.common import loop
from services.common.grpc_server import serve
from services.conversation.server import ConversationSettings, build

if __name__ == "__main__":
    settings = ConversationSettings()
    loop.run(serve("conversation", settings, functools.partial(build, settings=settings)))
