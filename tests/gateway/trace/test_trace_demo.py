"""``linegate demo --trace-db PATH``: the board that fails SPI is refused at placement, and the
store answers ``linegate trace --db PATH`` after the demo has ended."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.demo import DemoOptions, run_demo
from gateway.demo_trace import FAILING_BOARD
from simulators.line import small_line_path


@pytest.mark.timeout(240)  # the whole demo line, on a loaded machine
async def test_demo_refuses_the_board_that_failed_spi(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "trace.db"
    out = io.StringIO()
    # The small line, which --trace-db gives a printer and an SPI in front (the default line has them).
    options = DemoOptions(boards=4, time_scale=300, quiet=True, trace_db=str(db), line=str(small_line_path()))
    summary = await run_demo(options, out=out)
    assert summary.boards == 4 and summary.trace_db == str(db)
    failing = f"PCB{FAILING_BOARD:06d}"
    assert [(r["board"], r["machine"], r["rule"], r["via"]) for r in summary.refusals] == [
        (failing, "placement", "spi-before-placement", "hermes-vertical")
    ]
    text = out.getvalue()
    # The summary gives the inspection station's outcomes: the one board that failed SPI.
    spi = summary.outcomes["spi"]
    assert spi["failed"] == 1 and spi["passed"] >= 3
    assert f"    spi        {spi['passed']} passed, 1 failed" in text.splitlines()
    assert f"trace store: {db}" in text and f"linegate trace board {failing} --db {db}" in text
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["trace", "board", failing, "--db", str(db), "--json"]) == 0
    [board] = json.loads(capsys.readouterr().out)["boards"]
    machines = [p["machine"] for p in board["passes"]]
    assert machines[:3] == ["linegate.printer.1", "linegate.spi.1", "linegate.placement.1"]
    assert [(r["machine"], r["result"]) for r in board["results"]] == [("linegate.spi.1", "Failed")]
    refusal = [f for f in board["faults"] if f["code"] == "INTERLOCK.spi-before-placement"]
    assert [f["machine"] for f in refusal] == ["linegate.placement.1"]
