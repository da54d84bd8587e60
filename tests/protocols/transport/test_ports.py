"""free_port: the port it gives stays out of the kernel's hands until our server binds it."""

from __future__ import annotations

import asyncio
import socket

from protocols.transport.ports import free_port


def test_the_kernel_hands_a_reserved_port_to_no_other_bind() -> None:
    # A port freed by a plain bind-and-close came back about once in 70 binds to port 0 here;
    # across 50 reserved ports and 5,000 binds that would be dozens of collisions.
    reserved = {free_port() for _ in range(50)}
    handed_out = set()
    for _ in range(5000):
        with socket.socket() as other:
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            other.bind(("127.0.0.1", 0))
            handed_out.add(other.getsockname()[1])
    assert not reserved & handed_out


async def test_a_server_binds_the_reserved_port_at_once() -> None:
    port = free_port()
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await reader.read() == b""  # our server answered (and closed)
        writer.close()
        await writer.wait_closed()
