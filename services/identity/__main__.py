"""python -m services.identity: config → bootstrap → serve."""

import asyncio

from services.common.grpc_server import serve
from services.identity.server import IdentitySettings, build

if __name__ == "__main__":
    asyncio.run(serve("identity", IdentitySettings(), build))
