"""python -m services.access: config → bootstrap → serve."""

import functools

from services.access.server import build
from services.access.settings import AccessSettings
from services.common import loop
from services.common.grpc_server import serve

if __name__ == "__main__":
    settings = AccessSettings()
    loop.run(serve("access", settings, functools.partial(build, settings=settings)))
