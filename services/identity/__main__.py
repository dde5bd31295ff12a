"""python -m services.identity: config → bootstrap → serve."""

import functools

from services.common import loop
from services.common.grpc_server import serve
from services.identity.server import IdentitySettings, build

if __name__ == "__main__":
    settings = IdentitySettings()
    loop.run(serve("identity", settings, functools.partial(build, settings=settings)))
