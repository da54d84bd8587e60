"""``linegate demo`` runs the default line through the gateway: every board at every machine is
reported with its Hermes BoardId, the changeover succeeds and the injected alarm is raised and
cleared."""

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

from gateway.demo import DemoOptions, run_demo

BOARDS = 4
MACHINES = 4


async def test_demo_reports_every_board_at_every_machine(tmp_path: Path) -> None:
    out = io.StringIO()
    summary = await run_demo(
        DemoOptions(boards=BOARDS, time_scale=300, summary_json=str(tmp_path / "s.json")), out=out
    )
    assert summary.boards == BOARDS
    by_type = summary.events_by_type
    for name in ("UnitsArrived", "WorkStarted", "WorkCompleted", "UnitsDeparted"):
        assert by_type[f"CFX.Production.{name}"] == BOARDS * MACHINES, name
    # Process data at the oven, the selective solder and the coater; materials at placement.
    assert by_type["CFX.Production.Processing.UnitsProcessed"] == BOARDS * 3
    assert by_type["CFX.Production.Assembly.MaterialsInstalled"] == BOARDS
    assert by_type["CFX.ResourcePerformance.FaultOccurred"] >= 1
    assert by_type["CFX.ResourcePerformance.FaultCleared"] >= 1
    assert set(summary.changeover) == {"placement", "reflow", "solder", "coater"}
    assert all("active (read back)" in message for message in summary.changeover.values())
    assert {m["recipe"] for m in summary.machines.values()} == {
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
    machines = lines[lines.index("  machines:") + 1 : lines.index("  machines:") + 1 + MACHINES]
    for row in machines:
        code, name = row.split()[1:3]
        assert code.isdigit() and name.startswith(("PRD", "SBY", "SDT", "USD", "ENG", "NST")), row
    # Not a terminal: progress is printed as whole lines, never redrawn into event lines.
    assert "\r" not in text
    written = json.loads((tmp_path / "s.json").read_text())
    assert written["boards"] == BOARDS and written["events_per_second"] > 0


def test_demo_command_rejects_bad_options() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "demo", "--boards", "0"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2 and "--boards must be at least 1" in result.stdout


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
        run_demo(DemoOptions(boards=2, time_scale=300, quiet=True, keep_open=True), out=out)
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
