"""A TCP relay between a service and what it depends on, for outage tests."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit

from tests.ports import free_port


class Relay:
    """A TCP relay (to PostgreSQL, the access service…) that can be cut (listener closed, every connection reset)
    and restored on the same port."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.Transport] = set()

    def dsn(self, dsn: str) -> str:
        """`dsn` (a PostgreSQL URL) with its host and port replaced by this relay's."""
        parts = urlsplit(dsn)
        credentials = parts.netloc.rpartition("@")[0]
        return urlunsplit(parts._replace(netloc=f"{credentials}@127.0.0.1:{self.port}"))

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)

    async def cut(self) -> None:
        self._server.close()
        await self._server.wait_closed()
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()

    async def _pipe(self, client_reader, client_writer) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.transport.abort()
            return
        self._transports |= {client_writer.transport, server_writer.transport}

        async def copy(reader, writer):
            with contextlib.suppress(ConnectionError, OSError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.transport.abort()

        await asyncio.gather(copy(client_reader, server_writer), copy(server_reader, client_writer))
