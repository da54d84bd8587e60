"""``linegate status``, ``events tail`` and ``recipe ...`` against a running gateway (and broker)."""

from __future__ import annotations

import asyncio
import io
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import orjson
import pytest

from adapters import observations as obs
from gateway.cli import main
from gateway.commands.status import render
from gateway.config import RecipeRef
from gateway.http.client import Progress, format_table
from protocols.cfx import Envelope, UnitPosition, UnitsArrived, encode_envelope
from tests.gateway.http_support import TOKEN, RunningLine, drive_board, run_cli

pytestmark = pytest.mark.usefixtures("keep_logging_config")


async def test_status_prints_a_table_and_the_faults(
    line: RunningLine, capsys: pytest.CaptureFixture[str]
) -> None:
    await drive_board(line, "B-1")
    await line.runtime("oven1").record(
        obs.FaultRaised(machine_id="oven1", at=datetime.now(UTC), code="E-231", description="zone 5 high")
    )
    await line.memory.wait_for("CFX.ResourcePerformance.FaultOccurred")
    status, out, err = await run_cli(capsys, "status", "--url", line.url)
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("line Line 1: running, outbox ")
    assert lines[2].split() == [
        "MACHINE",
        "LINK",
        "STATE",
        "RECIPE",
        "FAULTS",
        "IN",
        "PROCESS",
        "DONE",
        "RTT",
    ]
    rows = [row.split() for row in lines[3:6]]
    assert [r[0] for r in rows] == ["printer1", "oven1", "aoi1"]
    assert rows[1][:4] == ["oven1", "connected", "2202", "SBY_NO_PRODUCT_STARVED"]
    assert "active faults:" in lines
    assert any(row.split()[:3] == ["oven1", "E-231", "Error"] and "zone 5 high" in row for row in lines)
    status, out, _ = await run_cli(capsys, "status", "--url", line.url, "--json")
    assert status == 0 and [m["id"] for m in orjson.loads(out)["machines"]] == ["printer1", "oven1", "aoi1"]


async def test_status_lists_the_last_error_of_a_troubled_link(
    line: RunningLine, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = await run_cli(capsys, "status", "--url", line.url, "--json")
    assert status == 0
    view = orjson.loads(out)
    assert "link errors:" not in render(view)  # every link is up and has not failed
    aoi = next(m for m in view["machines"] if m["id"] == "aoi1")
    aoi["link"].update(state="backing_off", failures=3, last_error="connection refused (127.0.0.1:1502)")
    text = render(view).splitlines()
    at = text.index("link errors:")
    assert text[at + 1].split() == ["MACHINE", "LINK", "FAILURES", "LAST", "ERROR"]
    assert text[at + 2].split()[:3] == ["aoi1", "backing_off", "3"]
    assert text[at + 2].endswith("connection refused (127.0.0.1:1502)")


async def test_status_reports_an_unreachable_gateway(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = await run_cli(capsys, "status", "--url", "http://127.0.0.1:1")
    assert status == 1 and out == ""
    assert "linegate status: cannot reach the gateway at http://127.0.0.1:1" in err


async def test_recipe_activate_needs_the_token(
    line: RunningLine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("LINEGATE_HTTP_TOKEN", raising=False)
    status, _, err = await run_cli(capsys, "recipe", "activate", "oven1", "oven1-B", "--url", line.url)
    assert status == 2 and "set LINEGATE_HTTP_TOKEN or pass --token-file" in err
    wrong = tmp_path / "wrong-token"
    wrong.write_text("not-the-token\n")
    status, _, err = await run_cli(
        capsys, "recipe", "activate", "oven1", "oven1-B", "--url", line.url, "--token-file", str(wrong)
    )
    assert status == 2 and "linegate recipe activate: wrong token" in err
    assert line.machines["oven1"].active == "oven1-A"

    monkeypatch.setenv("LINEGATE_HTTP_TOKEN", TOKEN)
    status, out, err = await run_cli(capsys, "recipe", "activate", "oven1", "oven1-B", "7", "--url", line.url)
    assert status == 0, err
    assert out.splitlines()[1].split()[:5] == ["oven1", "oven1-B", "rev", "7", "ok"]
    assert line.machines["oven1"].active == "oven1-B"
    status, out, _ = await run_cli(capsys, "recipe", "activate", "aoi1", "aoi1-B", "--url", line.url)
    assert status == 1 and "FAILED" in out and "recipe aoi1-B refused" in out
    status, _, err = await run_cli(capsys, "recipe", "activate", "nosuch", "x", "--url", line.url)
    assert status == 2 and "no machine 'nosuch'" in err


class GateOnOven:
    """The product-boundary gate as the recipe service sees it, gating oven1 only."""

    admissions = 0

    def gated(self, machine_id: str) -> bool:
        return machine_id == "oven1"

    async def wait_switched(self, machine_id: str, product: str, recipe: RecipeRef, since: int) -> Any:
        raise AssertionError("no changeover in this test")


async def test_recipe_activate_on_a_gated_machine_needs_force(
    line: RunningLine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINEGATE_HTTP_TOKEN", TOKEN)
    line.gateway.recipes.boundary = GateOnOven()
    status, out, err = await run_cli(capsys, "recipe", "activate", "oven1", "oven1-B", "--url", line.url)
    assert status == 2 and out == ""
    assert "oven1 changes recipe at product boundaries" in err and "force" in err
    assert line.machines["oven1"].active == "oven1-A"  # nothing was switched
    status, out, err = await run_cli(
        capsys, "recipe", "activate", "oven1", "oven1-B", "--force", "--url", line.url
    )
    assert status == 0, err
    assert line.machines["oven1"].active == "oven1-B"
    status, _, err = await run_cli(capsys, "recipe", "activate", "printer1", "printer1-B", "--url", line.url)
    assert status == 0, err  # a machine the gate does not hold switches as before


async def test_recipe_list_marks_the_active_recipe(
    line: RunningLine, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = await run_cli(capsys, "recipe", "list", "oven1", "--url", line.url)
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "oven1: active oven1-A"
    assert lines[2].split() == ["*", "oven1-A", "-"] and lines[3].split() == ["oven1-B", "-"]


async def test_recipe_changeover_shows_progress_and_outcomes(
    line: RunningLine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINEGATE_HTTP_TOKEN", TOKEN)
    status, out, err = await run_cli(capsys, "recipe", "changeover", "PCB-A", "--url", line.url)
    assert status == 0, err
    progress = [row for row in err.splitlines() if row.startswith("changeover to PCB-A")]
    assert progress[0] == "changeover to PCB-A [" + "-" * 24 + "] 0/3"
    assert progress[-1].startswith("changeover to PCB-A [" + "#" * 24 + "] 3/3")
    assert len(progress) == 4
    assert [row.split()[0] for row in out.splitlines()[1:]] == ["aoi1", "oven1", "printer1"]
    assert all(machine.active.endswith("-A") for machine in line.machines.values())
    status, out, err = await run_cli(capsys, "recipe", "changeover", "PCB-B", "--url", line.url)
    assert status == 1 and "changeover to PCB-B failed on: aoi1" in err
    status, _, err = await run_cli(capsys, "recipe", "changeover", "PCB-Z", "--url", line.url)
    assert status == 2 and "no product 'PCB-Z'; products: PCB-A, PCB-B" in err


async def test_events_tail_follows_the_gateway_stream(
    line: RunningLine, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    tail = asyncio.create_task(
        asyncio.to_thread(
            main, ["events", "tail", "--url", line.url, "--source", "Acme.oven1.1", "--count", "5"]
        )
    )
    await line.sse.wait_clients(1)
    await drive_board(line, "B-3")
    assert await asyncio.wait_for(tail, 20) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 5 and all("Acme.oven1.1" in row for row in out)
    arrived = next(row for row in out if "Production.UnitsArrived" in row)
    assert "barcode SN-B-3" in arrived  # operators know boards by barcode
    assert "8 zones" in next(row for row in out if "UnitsProcessed" in row)


@pytest.mark.broker
async def test_events_tail_reads_the_broker(tmp_path: Path) -> None:
    exchange = f"linegate-tail-test-{uuid.uuid4().hex[:8]}"
    url = "amqp://guest:guest@127.0.0.1:5672/"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "events",
        "tail",
        "--amqp",
        url,
        "--exchange",
        exchange,
        "--json",
        "--count",
        "2",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "LINEGATE_LOG_LEVEL": "warning"},
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        async with asyncio.timeout(20):
            while b"listening on exchange" not in (row := await process.stderr.readline()):
                assert row, "events tail exited before it listened"
        assert b"guest:***@" in row  # the password is not printed
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            ex = await channel.get_exchange(exchange)
            sent = []
            for board in ("B-1", "B-2"):
                envelope = Envelope.create(
                    UnitsArrived(
                        hermes_identifier=board,
                        units=[UnitPosition(unit_identifier=board, position_number=1)],
                    ),
                    source="Acme.oven1.1",
                    time_stamp=datetime.now(UTC),
                )
                sent.append(str(envelope.unique_id))
                await ex.publish(
                    aio_pika.Message(encode_envelope(envelope)),
                    routing_key="Acme.oven1.1.CFX.Production.UnitsArrived",
                )
            out, _ = await asyncio.wait_for(process.communicate(), 20)
            await ex.delete()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    received = [orjson.loads(row) for row in out.splitlines()]
    assert [e["UniqueID"] for e in received] == sent
    assert [e["MessageBody"]["HermesIdentifier"] for e in received] == ["B-1", "B-2"]


def test_progress_redraws_on_a_terminal_and_prints_lines_otherwise() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    plain = io.StringIO()
    bar = Progress(2, "changeover", out=plain, width=4)
    bar.step("a ok")
    bar.step("b FAILED")
    assert plain.getvalue().splitlines() == [
        "changeover [----] 0/2",
        "changeover [##--] 1/2  a ok",
        "changeover [####] 2/2  b FAILED",
    ]
    terminal = Terminal()
    bar = Progress(1, "x", out=terminal, width=2)
    bar.step("done")
    assert terminal.getvalue() == "\r\x1b[2Kx [--] 0/1\r\x1b[2Kx [##] 1/1  done\n"


def test_table_pads_columns_and_shows_missing_values() -> None:
    table: Any = format_table(["A", "LONGER"], [["xyz", None], ["q", 12]])
    assert table.splitlines() == ["A    LONGER", "xyz  -", "q    12"]
