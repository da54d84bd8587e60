"""The placement machine's request port: a byte relay in front of its CFX request listener.

Fault injection acts here, on the wire, so that a test sees what a hung or vanished machine
looks like from the network.
"""

from __future__ import annotations

import asyncio


class RequestRelay:
    """The machine's request port: relays bytes to and from its CFXListener.

    Fault injection acts here, on the wire: :meth:`hold` stops moving bytes in both directions
    with every socket left open (a hung machine), :meth:`drop` closes every connection.
    """

    def __init__(self) -> None:
        self.target_port = 0
        self.server: asyncio.Server | None = None
        self._speaking = asyncio.Event()
        self._speaking.set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host``:``port`` (0: a free port); return the port."""
        self.server = await asyncio.start_server(self._serve, host, port)
        return int(self.server.sockets[0].getsockname()[1])

    def hold(self, held: bool) -> None:
        """Stop moving bytes, every socket left open (``held=False`` lets them flow again)."""
        if held:
            self._speaking.clear()
        else:
            self._speaking.set()

    def drop(self) -> None:
        """Close every relayed connection, both sides."""
        for writer in list(self._writers):
            writer.close()

    async def close(self) -> None:
        """Drop every connection and stop listening."""
        self.drop()
        self._speaking.set()  # held pumps wake up, find their sockets closed and end
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(
                self._pump(reader, up_writer, writer), self._pump(up_reader, writer, up_writer)
            )
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.close()

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, source_writer: asyncio.StreamWriter
    ) -> None:
        try:
            while data := await source.read(65536):
                await self._speaking.wait()
                if sink.is_closing():
                    break
                sink.write(data)
                await sink.drain()
        except (OSError, ConnectionError):
            pass
        # Either side ending ends the relayed connection: close both sockets.
        sink.close()
        source_writer.close()


__all__ = ["RequestRelay"]
