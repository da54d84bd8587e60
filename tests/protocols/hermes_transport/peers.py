"""A raw Hermes peer for the acceptance tests: real sockets, our framer and codec, no state machine.

It plays the hermes-org acceptance tool: it can send anything, in any split, and reads back
whatever the system under test answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator

from protocols.hermes import messages as m
from protocols.hermes.codec import decode, encode
from protocols.hermes.framing import Framer

#: Upper bound for any single wait in these tests; a correct peer answers in milliseconds.
WAIT = 5.0


def board(board_id: str | None = None) -> m.BoardAvailable:
    """A BoardAvailable with a fresh lowercase GUID (the [acc] BoardId form)."""
    return m.BoardAvailable(
        board_id=board_id or str(uuid.uuid4()),
        board_id_created_by="UP",
        failed_board=m.BoardQuality.GOOD,
        flipped_board=m.FlippedBoard.TOP_SIDE_IS_UP,
        length=160.0,
        width=100.0,
    )


def description(machine_id: str = "ACC", lane_id: int = 1) -> m.ServiceDescription:
    """A ServiceDescription announcing every feature."""
    return m.ServiceDescription(machine_id, lane_id, "1.6", m.SupportedFeatures.all())


class RawPeer:
    """One TCP connection that reads and writes Hermes messages without any rules."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.framer = Framer()
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    @classmethod
    async def connect(cls, port: int) -> RawPeer:
        """Connect to 127.0.0.1:port."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, message: m.Message) -> None:
        """Write one message."""
        await self.write(encode(message))

    async def write(self, data: bytes) -> None:
        """Write raw bytes and flush them."""
        self.writer.write(data)
        await self.writer.drain()

    async def receive(self) -> m.Message | m.UnknownMessage:
        """The next complete message (raises EOFError when the peer closed first)."""
        async with asyncio.timeout(WAIT):
            while (frame := self.framer.next_frame()) is None:
                data = await self.reader.read(65536)
                if not data:
                    raise EOFError("the peer closed the connection")
                self.framer.feed(data)
        return decode(frame)

    async def receive_skipping_check_alive(self) -> m.Message | m.UnknownMessage:
        """The next message that is not a plain CheckAlive."""
        while True:
            message = await self.receive()
            if not (isinstance(message, m.CheckAlive) and message.type is None):
                return message

    async def closed(self) -> bool:
        """Wait until the peer closes; True if it closed without sending anything more."""
        async with asyncio.timeout(WAIT):
            rest = await self.reader.read()
        await self.aclose()
        return rest == b""

    async def dropped_when_talking_on(self) -> bool:
        """Keep talking after an error, as the acceptance tool does: True if the peer resets.

        [acc] checks that the connection is dead after the error Notification by sending one
        more message; only a reset (not a FIN) makes that visible to a reading peer.
        """
        await self.write(
            encode(m.Notification(m.NotificationCode.MACHINE_SHUTDOWN, m.SeverityType.INFO, "x"))
        )
        try:
            async with asyncio.timeout(WAIT):
                while await self.reader.read(65536):
                    pass
        except ConnectionResetError:
            return True
        finally:
            await self.aclose()
        return False

    async def aclose(self) -> None:
        """Close our side (again is fine)."""
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


class RawServer:
    """A listening socket that plays a board sender by hand (the tool acting as server)."""

    def __init__(self) -> None:
        self.peers: asyncio.Queue[RawPeer] = asyncio.Queue()
        self.every_peer: list[RawPeer] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def accept(self) -> RawPeer:
        """The next accepted connection."""
        async with asyncio.timeout(WAIT):
            return await self.peers.get()

    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = RawPeer(reader, writer)
        self.every_peer.append(peer)
        self.peers.put_nowait(peer)


@contextlib.asynccontextmanager
async def raw_server() -> AsyncIterator[RawServer]:
    """A RawServer on 127.0.0.1 and a free port, closed afterwards."""
    raw = RawServer()
    raw.server = await asyncio.start_server(raw._on_connect, "127.0.0.1", 0)
    raw.port = raw.server.sockets[0].getsockname()[1]
    try:
        yield raw
    finally:
        raw.server.close()
        for peer in raw.every_peer:
            await peer.aclose()
        await raw.server.wait_closed()
