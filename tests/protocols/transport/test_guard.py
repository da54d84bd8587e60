"""The connection cap of a guarded server (protocols/transport/guard.py) over real sockets on
127.0.0.1: sockets that have already ended no longer count against it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from protocols.transport.guard import PeerGuard, PeerLimits, peer_has_closed, start_guarded_server

WAIT = 5.0  # bounds a broken test only
CAP = 8


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    # A line in, "ok" out, until the peer closes; then close.
    try:
        while line := await reader.readline():
            writer.write(b"ok " + line)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def guarded() -> AsyncIterator[tuple[PeerGuard, int]]:
    guard = PeerGuard("test", "test", PeerLimits(max_connections=CAP, handshake_timeout=WAIT))
    server = await start_guarded_server(guard, _answer, "127.0.0.1", 0)
    try:
        yield guard, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def connect_and_close(port: int, count: int) -> None:
    """``count`` connect/close cycles with blocking calls: the loop does not run meanwhile, so the
    server accepts all of them in one turn, after every one of them has closed (a peer faster
    than the server's loop turn, as the Hermes acceptance tool's connect/disconnect loop is)."""
    for _ in range(count):
        socket.create_connection(("127.0.0.1", port)).close()


async def test_sockets_closed_by_their_peers_no_longer_count_against_the_cap(
    guarded: tuple[PeerGuard, int],
) -> None:
    """Ten quick connect/close cycles and then a client that stays, all accepted in one loop
    turn at a cap of 8: the ten closed sockets do not hold slots, so nothing is dropped as
    ``connection_limit`` and the client is served."""
    guard, port = guarded
    connect_and_close(port, 10)
    live = socket.create_connection(("127.0.0.1", port))  # queued behind the ten, same turn
    live.setblocking(False)
    reader, writer = await asyncio.open_connection(sock=live)
    try:
        writer.write(b"hello\n")
        async with asyncio.timeout(WAIT):
            assert await reader.readline() == b"ok hello\n"
        assert guard.dropped["connection_limit"] == 0
        assert guard.accepted == 11
        assert guard.active <= CAP
    finally:
        writer.close()
        await writer.wait_closed()


async def test_a_socket_the_peer_closed_is_seen_before_its_eof_is_read() -> None:
    """peer_has_closed reads the kernel's TCP state: True once the peer's FIN has arrived, False
    while the peer is connected."""
    accepted: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()
    server = await asyncio.start_server(lambda r, w: accepted.put_nowait(w), "127.0.0.1", 0)
    try:
        client = socket.create_connection(("127.0.0.1", server.sockets[0].getsockname()[1]))
        async with asyncio.timeout(WAIT):
            writer = await accepted.get()
        assert not peer_has_closed(writer.transport)
        client.close()
        assert peer_has_closed(writer.transport)
        writer.close()
    finally:
        server.close()
        await server.wait_closed()


def test_a_guarded_server_admits_peers_on_uvloop() -> None:
    """uvloop's transports are not asyncio.Transport subclasses; the guard serves them all the same
    (``linegate run --loop uvloop`` crashed on the first incoming connection)."""
    uvloop = pytest.importorskip("uvloop")

    async def echo_once() -> bytes:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(await reader.readexactly(5))
            await writer.drain()
            writer.close()

        guard = PeerGuard("test[uvloop]", "test", PeerLimits(max_connections=CAP))
        server = await start_guarded_server(guard, answer, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"hello")
            got = await asyncio.wait_for(reader.readexactly(5), WAIT)
            writer.close()
            await writer.wait_closed()
            return got

    assert uvloop.run(echo_once()) == b"hello"
