"""The ICT (a CSV log per board in a folder) and the FCT (report lines on serial), read as a host
reads them; which boards fail is set by options and by a scenario."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path
from typing import Any

import pytest

from adapters.maps import FilesMap, builtin_map
from protocols.files import Outcome, parse_chunks
from protocols.serial.payload import decode_payload
from simulators import Board, FunctionalTester, Handoff, InCircuitTester, SteppedClock, parse_scenario
from simulators.inspection_station import AOIStation, XRayStation
from tests.simulators.test_placement import feed

# Every simulator here runs on the plugin's virtual_clock, stepped: time moves only when the test says.
pytestmark = pytest.mark.linegate_clock(stepped=True)

WAIT = 5.0  # real seconds; only bounds a broken test


def boards(count: int) -> list[Board]:
    return [Board(barcode=f"PCB{n:06d}") for n in range(1, count + 1)]


async def run_ict(virtual_clock: SteppedClock, folder: Path, count: int, **options: Any) -> InCircuitTester:
    handoff = Handoff()
    async with InCircuitTester(clock=virtual_clock, board_in=handoff, folder=str(folder), **options) as ict:
        feeding = asyncio.create_task(feed(handoff, boards(count)))
        await virtual_clock.run_until(lambda: ict.boards_done == count, within=200 * count)
        await feeding
    return ict


def listing(folder: Path) -> list[Path]:
    return sorted(folder.iterdir())


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


async def test_ict_writes_one_log_per_board_and_board_2_fails(
    virtual_clock: SteppedClock, tmp_path: Path
) -> None:
    ict = await run_ict(virtual_clock, tmp_path, 3, fail_boards=[2], fail_steps=2)
    names = [p.name for p in listing(tmp_path)]
    assert names == ["PCB000001_000001.csv", "PCB000002_000002.csv", "PCB000003_000003.csv"]  # no .tmp left
    first, second = rows(tmp_path / names[0]), rows(tmp_path / names[1])
    assert {r["BoardResult"] for r in first} == {"PASS"} and {r["StepResult"] for r in first} == {"PASS"}
    assert first[0]["Step"] == "SHORTS" and first[1]["Step"] == "R1" and first[1]["Unit"] == "Ohm"
    assert len(first) == 21  # SHORTS, R1-R10, C1-C8, D1-D2 of PCB-CTRL-A
    failed = [r for r in second if r["StepResult"] == "FAIL"]
    assert {r["BoardResult"] for r in second} == {"FAIL"} and len(failed) == 2
    for row in failed:
        assert float(row["Value"]) > float(row["High"]) and row["Fault"]
    assert [barcode for barcode, steps in ict.results] == ["PCB000001", "PCB000002", "PCB000003"]
    assert [len(steps) for _, steps in ict.results] == [0, 2, 0]


async def test_ict_panels_report_each_position_and_a_flying_probe_is_slower(
    virtual_clock: SteppedClock, tmp_path: Path
) -> None:
    ict = await run_ict(virtual_clock, tmp_path, 1, positions=3, method="FPT", fail_boards=[1])
    [log] = listing(tmp_path)
    found = rows(log)
    assert sorted({(r["Position"], r["UnitBarcode"]) for r in found}) == [
        ("1", "PCB000001-1"),
        ("2", "PCB000001-2"),
        ("3", "PCB000001-3"),
    ]
    results = {r["Position"]: r["UnitResult"] for r in found}
    assert results == {"1": "FAIL", "2": "PASS", "3": "PASS"}  # the failing steps are on position 1
    assert ict.recipes.active is not None and ict.recipes.active.cycle_time == 90.0


async def test_fct_reports_each_step_on_tcp(virtual_clock: SteppedClock, handoff: Handoff) -> None:
    async with FunctionalTester(clock=virtual_clock, board_in=handoff, pty=False, fail_boards=[2]) as fct:
        assert fct.tcp_port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", fct.tcp_port)
        await virtual_clock.run_until(lambda: fct.clients == 1, within=10)
        feeding = asyncio.create_task(feed(handoff, boards(2)))
        await virtual_clock.run_until(lambda: fct.boards_done == 2, within=400)
        await feeding
        lines = [await asyncio.wait_for(reader.readuntil(b"\r\n"), WAIT) for _ in range(len(fct.sent))]
        writer.close()
    decoded = [decode_payload(line.rstrip(b"\r\n")) for line in lines]
    assert [tag for tag, _ in decoded].count("TS") == 2 and [tag for tag, _ in decoded].count("TE") == 2
    start = decoded[0][1]
    assert start == {"SN": "PCB000001", "PANEL": "PCB000001", "POS": "1", "PROG": "PCB-CTRL-A"}
    step = decoded[1][1]
    assert step["NAME"] == "V_3V3" and step["UNIT"] == "V" and step["RES"] == "PASS"
    assert float(step["LO"]) <= float(step["VAL"]) <= float(step["HI"])
    ends = [fields for tag, fields in decoded if tag == "TE"]
    assert [(e["SN"], e["RES"], e["FAILED"]) for e in ends] == [
        ("PCB000001", "PASS", "0"),
        ("PCB000002", "FAIL", "1"),
    ]


async def test_a_scenario_makes_board_7_fail_ict(virtual_clock: SteppedClock, tmp_path: Path) -> None:
    scenario = parse_scenario({"faults": [{"at": 0.0, "machine": "ict", "action": "fail_board", "board": 7}]})
    handoff = Handoff()
    async with InCircuitTester(clock=virtual_clock, board_in=handoff, folder=str(tmp_path)) as ict:
        await scenario.run({"ict": ict}, virtual_clock)
        feeding = asyncio.create_task(feed(handoff, boards(7)))
        await virtual_clock.run_until(lambda: ict.boards_done == 7, within=2000)
        await feeding
    assert [bool(steps) for _, steps in ict.results] == [False] * 6 + [True]


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"fail_rate": 1.5}, "fail_rate"),
        ({"fail_boards": [0]}, "fail_boards"),
        ({"positions": 0}, "positions"),
        ({"method": "AOI"}, "method"),
        ({"convention": "ftp"}, "convention"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        InCircuitTester(**options)


@pytest.mark.parametrize(("station", "map_name"), [(AOIStation, "aoi_xml"), (XRayStation, "xray_csv")])
async def test_aoi_and_xray_stations_write_what_their_maps_read(
    virtual_clock: SteppedClock, tmp_path: Path, station: type[AOIStation], map_name: str
) -> None:
    handoff = Handoff()
    async with station(
        clock=virtual_clock, board_in=handoff, folder=str(tmp_path), fail_boards=[2]
    ) as machine:
        feeding = asyncio.create_task(feed(handoff, boards(3)))
        await virtual_clock.run_until(lambda: machine.boards_done == 3, within=600)
        await feeding
    files_map = builtin_map(map_name)
    assert isinstance(files_map, FilesMap)
    read = [parse_chunks(files_map.result, [path.read_bytes()])[0] for path in listing(tmp_path)]
    assert [b.barcode for b in read] == ["PCB000001", "PCB000002", "PCB000003"]
    assert [b.outcome for b in read] == [Outcome.PASSED, Outcome.FAILED, Outcome.PASSED]


async def test_with_a_review_delay_findings_are_written_again_with_verdicts(
    virtual_clock: SteppedClock, tmp_path: Path
) -> None:
    handoff = Handoff()
    station = AOIStation(
        clock=virtual_clock, board_in=handoff, folder=str(tmp_path), fail_boards=[1], review_delay=30.0
    )
    async with station:
        feeding = asyncio.create_task(feed(handoff, boards(1)))
        await virtual_clock.run_until(lambda: len(station.reviewed) == 1, within=600)
        await feeding
    names = [p.name for p in listing(tmp_path)]
    assert names == ["PCB000001_000001.xml", "PCB000001_000001_review.xml"]
    first, second = (p.read_text(encoding="utf-8") for p in listing(tmp_path))
    assert 'review=""' in first and 'review="REAL"' in second
