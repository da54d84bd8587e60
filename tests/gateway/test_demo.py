"""``linegate demo`` runs the default line, the whole SMT line, through the gateway: every board
at every machine is reported with its Hermes BoardId, each inspection and test station's outcomes
are summed up, the changeover succeeds and the injected alarm is raised and cleared. Tests that
only need a running demo take the small line (``--line``)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from gateway.cli import main
from gateway.demo import DemoOptions, run_demo
from gateway.demo_trace import FAILING_BOARD, with_inspection
from simulators.line import default_line, small_line, small_line_path

BOARDS = 4
#: The default line's machines, in line order (placement left out without its simulator).
MACHINES = [m.machine_id for m in default_line().machines]
STATIONS = ("spi", "aoi", "xray", "ict", "fct")  # inspection and test: verdicts per unit
SMALL = str(small_line_path())


async def test_demo_reports_every_board_at_every_machine(tmp_path: Path) -> None:
    out = io.StringIO()
    summary = await run_demo(
        DemoOptions(boards=BOARDS, time_scale=300, summary_json=str(tmp_path / "s.json")), out=out
    )
    assert summary.boards == BOARDS
    assert list(summary.machines) == MACHINES
    by_type = summary.events_by_type
    for name in ("UnitsArrived", "WorkStarted", "WorkCompleted", "UnitsDeparted"):
        assert by_type[f"CFX.Production.{name}"] == BOARDS * len(MACHINES), name
    # Process data at the printer, the oven, the selective solder and the coater; materials at
    # placement; a label read per board at the entrance.
    assert by_type["CFX.Production.Processing.UnitsProcessed"] == BOARDS * 4
    assert by_type["CFX.Production.Assembly.MaterialsInstalled"] == BOARDS
    assert by_type["CFX.Sensor.Identification.IdentifiersRead"] == BOARDS
    assert by_type["CFX.Production.TestAndInspection.UnitsTested"] == BOARDS * 2  # ICT and FCT
    assert by_type["CFX.Production.TestAndInspection.UnitsInspected"] >= BOARDS * 3  # SPI, AOI, X-ray
    assert by_type["CFX.ResourcePerformance.FaultOccurred"] >= 1
    assert by_type["CFX.ResourcePerformance.FaultCleared"] >= 1
    # Each inspection and test station judged every board once (an AOI result written again
    # after review replaces the first); the line file fails none of the first four.
    assert set(summary.outcomes) == set(STATIONS)
    for station in STATIONS:
        counts = summary.outcomes[station]
        assert counts["passed"] + counts["failed"] == BOARDS, station
    assert all(summary.outcomes[s] == {"passed": BOARDS, "failed": 0} for s in ("spi", "xray", "ict", "fct"))
    assert set(summary.changeover) == {"printer", "spi", "placement", "reflow", "solder", "coater"} & set(
        MACHINES
    )
    assert all("active (read back)" in message for message in summary.changeover.values())
    assert {m["recipe"] for m in summary.machines.values()} == {
        None,  # the scanner and the stations that take no recipe from the gateway
        "PCB-PWR-B",
        "SAC305-HEAVY",
        "PGM-PWR-B",
        "SILICONE-75",
    }
    text = out.getvalue()
    assert "dashboard at http://127.0.0.1:" in text and f"{BOARDS} boards through the line" in text
    assert "Heartbeat" in text  # the console sink printed the events
    # Event lines say what happened: the injected alarm with its code, boards by barcode.
    lines = text.splitlines()
    injected = [row for row in lines if "FaultOccurred" in row and "OV-CONVEYOR-DEVIATION" in row]
    assert injected and "OV-CONVEYOR-DEVIATION Warning: conveyor speed deviation" in injected[0]
    assert any("UnitsArrived" in row and "barcode " in row for row in lines)
    assert summary.fault == "OV-CONVEYOR-DEVIATION"  # not a code the oven raises by itself
    # The summary names each machine's state, not only its code.
    start = lines.index("  machines:") + 1
    machines = lines[start : start + len(MACHINES)]
    assert [row.split()[0] for row in machines] == MACHINES
    for row in machines:  # the stations that tell none have one derived from their work
        code, name = row.split()[1:3]
        assert code.isdigit() and name.startswith(("PRD", "SBY", "SDT", "USD", "ENG", "NST")), row
    outcomes = lines[lines.index("  inspection and test outcomes:") + 1 :]
    counts = summary.outcomes["ict"]
    assert f"    ict        {counts['passed']} passed, {counts['failed']} failed" in outcomes
    # Not a terminal: progress is printed as whole lines, never redrawn into event lines.
    assert "\r" not in text
    written = json.loads((tmp_path / "s.json").read_text())
    assert written["boards"] == BOARDS and written["events_per_second"] > 0


def test_demo_command_rejects_bad_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "demo", "--boards", "0"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2 and "--boards must be at least 1" in result.stdout
    # A line file that is not there: said on stderr, before anything starts.
    monkeypatch.setenv("LINEGATE_LOG_LEVEL", "warning")  # in-process: leave logging as it is
    missing = tmp_path / "missing.toml"
    assert main(["demo", "--line", str(missing)]) == 2
    assert f"{missing}: cannot read" in capsys.readouterr().err


class _Watched(io.StringIO):
    """The demo's output; ``open`` is set once the demo says its dashboard stays open."""

    def __init__(self) -> None:
        super().__init__()
        self.open = asyncio.Event()

    def write(self, text: str) -> int:
        if "stays open" in text:
            self.open.set()
        return super().write(text)


async def test_keep_open_serves_the_dashboard_after_the_summary() -> None:
    out = _Watched()
    demo = asyncio.create_task(
        run_demo(DemoOptions(boards=2, time_scale=300, quiet=True, keep_open=True, line=SMALL), out=out)
    )
    try:
        await asyncio.wait_for(out.open.wait(), 120)
        text = out.getvalue()
        assert "2 boards through the line" in text  # the summary came first
        url = re.search(r"stays open at (http://\S+);", text)
        assert url is not None
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{url[1].rstrip('/')}/api/line") as response,
        ):
            assert response.status == 200
            view = await response.json()
        assert [m["id"] for m in view["machines"]] == ["placement", "reflow", "solder", "coater"]
        assert not demo.done()  # it waits for Ctrl-C
    finally:
        demo.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(demo, 30)
    assert text.count("boards through the line") == 1


def test_trace_demo_fails_the_lines_own_spi_or_puts_one_in_front() -> None:
    """--trace-db: the default line's SPI fails the board the interlock refuses; a line without
    an SPI (the small line) gets a printer and an SPI in front of it."""
    full = default_line()
    judged = with_inspection(full)
    assert [m.machine_id for m in judged.machines] == [m.machine_id for m in full.machines]
    [spi] = [m for m in judged.machines if m.kind == "spi"]
    assert spi.options["fail_boards"] == [FAILING_BOARD]
    small = small_line()
    fronted = with_inspection(small)
    assert [m.kind for m in fronted.machines[:2]] == ["printer", "spi"]
    assert fronted.machines[2:] == small.machines
