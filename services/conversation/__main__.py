"""python -m services.conversation: config → bootstrap → serve."""

import asyncio

from services.common.grpc_server import serve
from services.conversation.server import ConversationSettings, build

if __name__ == "__main__":
    asyncio.run(serve("conversation", ConversationSettings(), build))
