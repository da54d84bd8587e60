"""The barcode scanner at line entry, read as a host reads it: over its pty and its TCP port."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from simulators import BarcodeScanner, Board, Handoff, Line, SteppedClock, parse_line
from tests.simulators.test_placement import feed

# Every simulator here runs on the plugin's virtual_clock, stepped: time moves only when the test says.
pytestmark = pytest.mark.linegate_clock(stepped=True)

WAIT = 5.0  # real seconds; only bounds a broken test


async def scan(virtual_clock: SteppedClock, count: int, **options: Any) -> tuple[BarcodeScanner, list[bytes]]:
    """Pass ``count`` boards (PCB000001 ...) under a scanner; return it and the lines read on TCP."""
    handoff = Handoff()
    async with BarcodeScanner(clock=virtual_clock, board_in=handoff, pty=False, **options) as scanner:
        assert scanner.tcp_port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", scanner.tcp_port)
        await virtual_clock.run_until(lambda: scanner.clients == 1, within=10)
        boards = [Board(barcode=f"PCB{n:06d}") for n in range(1, count + 1)]
        feeding = asyncio.create_task(feed(handoff, boards))
        await virtual_clock.run_until(lambda: scanner.boards_done == count, within=60 * count)
        await feeding
        expected = len(scanner.sent)
        lines = [await asyncio.wait_for(reader.readuntil(b"\r\n"), WAIT) for _ in range(expected)]
        writer.close()
    return scanner, lines


async def test_each_board_is_read_once_with_its_aim_identifier(virtual_clock: SteppedClock) -> None:
    _, lines = await scan(virtual_clock, 3)
    assert lines == [b"]C1PCB000001\r\n", b"]C1PCB000002\r\n", b"]C1PCB000003\r\n"]


async def test_double_reads_and_no_reads_as_configured(virtual_clock: SteppedClock) -> None:
    """Board 2 is sent twice, board 3 not read; another symbology gives its own identifier."""
    scanner, lines = await scan(
        virtual_clock, 4, double_read_boards=[2], no_read_boards=[3], symbology="datamatrix"
    )
    assert lines == [
        b"]d1PCB000001\r\n",
        b"]d1PCB000002\r\n",
        b"]d1PCB000002\r\n",
        b"NOREAD\r\n",
        b"]d1PCB000004\r\n",
    ]
    assert scanner.boards_done == 4  # a no-read board still passes on


async def test_rates_misbehave_about_that_often_and_reproducibly(virtual_clock: SteppedClock) -> None:
    first, _ = await scan(virtual_clock, 20, double_read_rate=0.3, no_read_rate=0.2, seed=5, aim_prefix=False)
    again, _ = await scan(
        SteppedClock(), 20, double_read_rate=0.3, no_read_rate=0.2, seed=5, aim_prefix=False
    )
    assert first.sent == again.sent
    assert 1 <= first.sent.count("NOREAD") <= 10
    reads = [line for line in first.sent if line != "NOREAD"]
    assert len(reads) > len(set(reads)) and all(line.startswith("PCB") for line in reads)


async def test_reads_arrive_on_the_pty(virtual_clock: SteppedClock) -> None:
    handoff = Handoff()
    async with BarcodeScanner(clock=virtual_clock, board_in=handoff, host=None) as scanner:
        assert scanner.tty_path is not None and scanner.tcp_port is None
        fd = os.open(scanner.tty_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            received = bytearray()
            arrived = asyncio.Event()

            def readable() -> None:
                received.extend(os.read(fd, 1024))
                if received.endswith(b"\r\n"):
                    arrived.set()

            asyncio.get_running_loop().add_reader(fd, readable)
            feeding = asyncio.create_task(feed(handoff, [Board(barcode="SN-77")]))
            await virtual_clock.run_until(lambda: scanner.boards_done == 1, within=60)
            await feeding
            await asyncio.wait_for(arrived.wait(), WAIT)
            asyncio.get_running_loop().remove_reader(fd)
        finally:
            os.close(fd)
    assert bytes(received) == b"]C1SN-77\r\n"


async def test_a_line_with_the_scanner_first_hands_boards_on_over_hermes() -> None:
    """scanner -> coater from a line file: both pass every board; the scanner read each one."""
    spec = parse_line(
        {
            "time_scale": 400.0,
            "boards": 2,
            "machines": [
                {"kind": "scanner", "id": "scan", "options": {"double_read_boards": [1]}},
                {"kind": "coater", "id": "coat"},
            ],
        }
    )
    async with Line(spec) as line:
        await asyncio.wait_for(line.wait_departed(2), 30)
        scanner = line.machine("scan")
        assert isinstance(scanner, BarcodeScanner)
        assert list(scanner.sent) == ["]C1PCB000001", "]C1PCB000001", "]C1PCB000002"]
        [endpoint, _] = line.endpoints()
        assert endpoint.protocol == "serial" and endpoint.tty_path == scanner.tty_path
        assert endpoint.port == scanner.tcp_port


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"symbology": "ean99"}, "symbology"),
        ({"no_read_rate": -0.1}, "no_read_rate"),
        ({"double_read_boards": [0]}, "board numbers"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BarcodeScanner(**options)
