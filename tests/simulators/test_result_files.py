"""The result-file writer writes what the built-in maps read: every board, position, defect
(with its review) and reading comes back, from XML and from CSV; each drop convention leaves the
files its readiness rule waits for."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from adapters.maps import FilesMap, builtin_map
from protocols.files import Outcome, Verdict, parse_chunks
from simulators.result_files import ResultFolder, aoi_xml, random_board, xray_csv

VERDICT = {"REAL": Verdict.CONFIRMED, "FALSECALL": Verdict.FALSE_CALL, "": Verdict.UNVERIFIED}


@pytest.mark.parametrize(("writer", "map_name"), [(aoi_xml, "aoi_xml"), (xray_csv, "xray_csv")])
def test_what_the_writer_writes_the_builtin_map_reads(writer: object, map_name: str) -> None:
    rng = random.Random(7)
    boards = [
        random_board(rng, "PCB-1", positions=3, defects=40, readings=5),
        random_board(rng, "PCB-2"),  # passed: no findings at all
    ]
    files_map = builtin_map(map_name)
    assert isinstance(files_map, FilesMap) and callable(writer)
    read = parse_chunks(files_map.result, writer(boards))
    assert [b.barcode for b in read] == ["PCB-1", "PCB-2"]
    for written, board in zip(boards, read, strict=True):
        assert board.outcome is (Outcome.FAILED if written.failed() else Outcome.PASSED)
        assert [u.position for u in board.units] == list(range(1, written.positions + 1))
        found = sorted((u.position, d.refdes, d.code, d.verdict) for u in board.units for d in u.defects)
        expected = sorted((f.position, f.refdes, f.code, VERDICT[f.review]) for f in written.findings)
        assert found == expected
        values = sorted((m.name, m.value, m.low, m.high) for u in board.units for m in u.measurements)
        assert values == sorted((r.name, r.value, r.low, r.high) for r in written.readings)


def test_a_detailed_aoi_file_reads_the_same() -> None:
    board = random_board(random.Random(3), "PCB-9", positions=2, defects=20)
    files_map = builtin_map("aoi_xml")
    assert isinstance(files_map, FilesMap)
    plain = parse_chunks(files_map.result, aoi_xml([board]))
    detailed = parse_chunks(files_map.result, aoi_xml([board], detail=True))
    assert [u.defects for u in plain[0].units] == [u.defects for u in detailed[0].units]


@pytest.mark.parametrize(
    ("convention", "files"),
    [("rename", ["a.xml"]), ("companion", ["a.done", "a.xml"]), ("plain", ["a.xml"])],
)
def test_each_convention_leaves_what_its_rule_waits_for(
    tmp_path: Path, convention: str, files: list[str]
) -> None:
    path = ResultFolder(tmp_path, convention).drop("a.xml", [b"<Inspection/>"])
    assert path == tmp_path / "a.xml" and path.read_bytes() == b"<Inspection/>"
    assert sorted(p.name for p in tmp_path.iterdir()) == files
