"""Hostile clients against the HTTP API and dashboard.

A client trickling its request head, one trickling its body, and one that stays idle on a
keep-alive connection are dropped at their deadlines; a client that pipelines requests and never
reads the answers is dropped once the write buffer stays full; a burst of 1,000 connections past
the cap is closed at once while the line behind the gateway keeps producing events, and a real
client is served again as soon as a silent connection may be evicted.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import aiohttp
import pytest
from structlog.testing import capture_logs

from protocols.transport import PeerLimits
from tests.gateway.http_support import RunningLine, drive_board, running_line
from tests.hardening.support import (
    BURST,
    BURST_DEADLINE,
    WAIT,
    Burst,
    check_burst,
    measured,
    never_reading_socket,
    report,
    settle,
    trickle_until_dropped,
    until,
    wait_dropped,
)

SHORT = 0.3


def limit(line: RunningLine, **changes: float | int | None) -> None:
    """Give the running server short deadlines (before the test's clients connect)."""
    values: dict[str, float | int | None] = {"max_connections": 16, "handshake_timeout": SHORT}
    values.update(changes)
    line.server.guard.limits = PeerLimits(**values)  # type: ignore[arg-type]


async def test_slow_request_head_and_idle_keep_alive_are_dropped(tmp_path: Path) -> None:
    """Slowloris on the request head is dropped at the head deadline, and so is a keep-alive
    connection that sends nothing after its first answer."""
    async with running_line(tmp_path) as line:
        limit(line)
        port = line.server.port
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nUser-Agent: slowloris\r\n\r\n"
        took, sent = await trickle_until_dropped(reader, writer, head, pace=0.02)
        assert SHORT - 0.05 <= took < WAIT and sent < len(head)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert (await reader.readline()).startswith(b"HTTP/1.1 200")
        assert await wait_dropped(reader) >= SHORT - 0.05  # then idle: dropped
        writer.close()
        assert line.server.guard.dropped["handshake_timeout"] == 1
        assert line.server.guard.dropped["keepalive_timeout"] == 1  # idle after an answer: normal
        async with aiohttp.ClientSession() as client, client.get(line.url + "/metrics") as response:
            text = await response.text()
        (sample,) = [
            row
            for row in text.splitlines()
            if row.startswith('linegate_peer_drops_total{reason="handshake_timeout",server="http"}')
        ]
        assert float(sample.rsplit(" ", 1)[1]) >= 1


async def test_slow_request_body_is_dropped(tmp_path: Path) -> None:
    """A POST whose head arrives but whose body trickles is dropped at the body deadline."""
    async with running_line(tmp_path) as line:
        limit(line)
        line.server.body_timeout = SHORT
        reader, writer = await asyncio.open_connection("127.0.0.1", line.server.port)
        body = b'{"product": "PCB-A"}' + b" " * 200
        writer.write(
            b"POST /api/changeover HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer x\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        with capture_logs() as logs:
            took, sent = await trickle_until_dropped(reader, writer, body, pace=0.02)
        assert SHORT - 0.05 <= took < WAIT and sent < len(body)
        assert line.server.guard.dropped["body_timeout"] == 1
        (dropped,) = [e for e in logs if e["event"] == "peer.dropped"]
        assert dropped["path"] == "/api/changeover" and dropped["server"].startswith("http[127.0.0.1:")


async def test_client_that_never_reads_is_dropped_with_its_buffer_bounded(tmp_path: Path) -> None:
    """Pipelined requests whose answers are never read: the client is dropped at the drain
    deadline, with no more than the buffer limit plus one answer held for it."""
    async with running_line(tmp_path) as line:
        limit(line, write_buffer_limit=16 * 1024, drain_timeout=SHORT, handshake_timeout=WAIT)
        sock = never_reading_socket(line.server.port)
        loop = asyncio.get_running_loop()
        requests = b"GET /api/line HTTP/1.1\r\nHost: localhost\r\n\r\n" * 50
        with capture_logs() as logs, contextlib.suppress(ConnectionError):
            async with asyncio.timeout(WAIT):
                while True:
                    await loop.sock_sendall(sock, requests)
        sock.close()
        assert line.server.guard.dropped["drain_timeout"] == 1
        (dropped,) = [e for e in logs if e["event"] == "peer.dropped"]
        assert dropped["buffered"] <= 16 * 1024 + 64 * 1024


async def test_burst_of_1000_connections_is_bounded_and_the_line_keeps_flowing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """1,000 silent connections: past the cap they are closed at once, the line's events keep
    reaching the sinks meanwhile, and a real client is served once it may evict a silent one."""
    async with running_line(tmp_path) as line:
        limit(line, handshake_timeout=BURST_DEADLINE)
        guard = line.server.guard
        burst = Burst(line.server.port)
        loop = asyncio.get_running_loop()
        with measured() as sample:
            await burst.fire()
            started = loop.time()
            flowing = asyncio.ensure_future(drive_board(line, "BURST-1"))
            await until(lambda: guard.accepted + guard.dropped["connection_limit"] >= BURST, sample)
            await flowing
            await settle(sample)
            assert await line.memory.wait_for("CFX.Production.WorkCompleted", count=3)
            async with aiohttp.ClientSession() as client:
                while True:  # refused until a silent connection is a quarter of its deadline old
                    try:
                        async with client.get(line.url + "/healthz") as response:
                            assert response.status == 200
                            break
                    except aiohttp.ClientError:
                        await asyncio.sleep(0.1)  # the pace of retries, not synchronisation
            assert loop.time() - started < BURST_DEADLINE  # in by eviction, not by the deadline
            await burst.close()
        with capsys.disabled():
            print("\n" + report("http burst", sample))
        # Every admission past the cap evicted a silent connection (the +1: the real client).
        assert guard.accepted - guard.dropped["evicted"] <= 16 + 1
        check_burst(guard, sample, cap=16, tasks_per_connection=1)
