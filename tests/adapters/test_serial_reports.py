"""Report-only serial devices against the simulators on real sockets: the scanner's reads (AIM
prefix stripped, double reads dropped, no-reads and garbage reported) and the functional tester's
TS/TR/TE lines as one test result per unit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from adapters import observations as obs
from adapters.base import ReconnectPolicy
from adapters.serial_reports import ScannerAdapter, TestReportAdapter
from simulators import BarcodeScanner, Board, FunctionalTester, Handoff, SteppedClock
from tests.adapters.recorder import Recorder, eventually

FAST = ReconnectPolicy(base=0.05, cap=0.2)


async def feed(handoff: Handoff, boards: list[Board]) -> None:
    for board in boards:
        await handoff.give_board(board)


@pytest.fixture
async def scanner() -> AsyncIterator[tuple[BarcodeScanner, Handoff, SteppedClock]]:
    clock, handoff = SteppedClock(), Handoff()
    async with BarcodeScanner(clock=clock, board_in=handoff, pty=False, double_read_boards=[2]) as device:
        yield device, handoff, clock


async def test_scanner_reads_become_identifiers_once_each(
    scanner: tuple[BarcodeScanner, Handoff, SteppedClock],
) -> None:
    device, handoff, clock = scanner
    adapter = ScannerAdapter("scanner", url=f"socket://127.0.0.1:{device.tcp_port}", policy=FAST)
    recorder = Recorder()
    running = asyncio.create_task(adapter.run(recorder))
    try:
        await adapter.wait_connected(5)
        await clock.run_until(lambda: device.clients == 1, within=10)
        feeding = asyncio.create_task(feed(handoff, [Board(barcode=f"PCB{n:06d}") for n in range(1, 4)]))
        await clock.run_until(lambda: device.boards_done == 3, within=60)
        await feeding
        await recorder.next(obs.IdentifierRead, lambda o: o.barcode == "PCB000003")
        device.send_garbage()
        device.send("NOREAD")
        await recorder.next(obs.IdentifierNotRead)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    reads = [o for o in recorder.seen if isinstance(o, obs.IdentifierRead)]
    assert [(o.barcode, o.symbology) for o in reads] == [
        ("PCB000001", "code128"),
        ("PCB000002", "code128"),
        ("PCB000003", "code128"),
    ]
    assert adapter.double_reads == 1 and adapter.no_reads == 1 and adapter.garbage_lines == 1


async def test_a_closed_link_reconnects(scanner: tuple[BarcodeScanner, Handoff, SteppedClock]) -> None:
    device, _, clock = scanner
    adapter = ScannerAdapter("scanner", url=f"socket://127.0.0.1:{device.tcp_port}", policy=FAST)
    recorder = Recorder()
    running = asyncio.create_task(adapter.run(recorder))
    try:
        await adapter.wait_connected(5)
        await clock.run_until(lambda: device.clients == 1, within=10)
        device.drop_connection()
        await eventually(lambda: adapter.health.connects == 2)
        await clock.run_until(lambda: device.clients == 1, within=10)
        device.send("]d1LABEL-9")
        read = await recorder.next(obs.IdentifierRead)
        assert (read.barcode, read.symbology) == ("LABEL-9", "datamatrix")
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_fct_lines_become_one_test_result_per_unit() -> None:
    clock, handoff = SteppedClock(), Handoff()
    async with FunctionalTester(
        clock=clock, board_in=handoff, pty=False, fail_boards=[2], positions=2
    ) as fct:
        adapter = TestReportAdapter("fct", url=f"socket://127.0.0.1:{fct.tcp_port}", policy=FAST)
        recorder = Recorder()
        running = asyncio.create_task(adapter.run(recorder))
        try:
            await adapter.wait_connected(5)
            await clock.run_until(lambda: fct.clients == 1, within=10)
            feeding = asyncio.create_task(feed(handoff, [Board(barcode="PNL1"), Board(barcode="PNL2")]))
            await clock.run_until(lambda: fct.boards_done == 2, within=400)
            await feeding
            await recorder.next(obs.InspectionResult, lambda o: o.positions[0].barcode == "PNL2-2")
            fct.send("TR:SN=NOBODY;STEP=1;NAME=X;VAL=1")  # a step of a unit that never started
            fct.send("TS:SN=PNL3-1;PANEL=PNL3;POS=1;PROG=P")
            fct.send("TS:SN=PNL3-1;PANEL=PNL3;POS=1;PROG=P")  # cuts the first short
            await recorder.next(obs.InspectionResult, lambda o: o.barcode == "PNL3")
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    results = [o for o in recorder.seen if isinstance(o, obs.InspectionResult)]
    summary = [(o.barcode, o.positions[0].position, o.positions[0].barcode, o.outcome) for o in results]
    assert summary == [
        ("PNL1", 1, "PNL1-1", obs.Outcome.PASSED),
        ("PNL1", 2, "PNL1-2", obs.Outcome.PASSED),
        ("PNL2", 1, "PNL2-1", obs.Outcome.FAILED),
        ("PNL2", 2, "PNL2-2", obs.Outcome.PASSED),
        ("PNL3", 1, "PNL3-1", obs.Outcome.ERROR),
    ]
    first = results[0]
    assert first.method == "FCT" and first.recipe == "PCB-CTRL-A"
    names = [m.name for m in first.positions[0].measurements]
    assert names == ["V_3V3", "V_5V0", "V_1V8", "I_IDLE", "CLK_MHZ"]
    failed = [m for m in results[2].positions[0].measurements if m.outcome is obs.Outcome.FAILED]
    assert len(failed) == 1 and failed[0].high is not None and failed[0].value > failed[0].high
    assert adapter.garbage_lines == 2
