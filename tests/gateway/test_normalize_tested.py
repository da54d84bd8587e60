"""An ICT's CSV log becomes CFX UnitsTested as the SDK writes it: one TestedUnit per panel
position, one Test per step with its measurement and limits, the failing step's fault as its
defect; linked to the board's work transaction, flagged when the board is unknown."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from adapters import observations as obs
from adapters.files import inspection_result
from adapters.maps import FilesMap, builtin_map
from gateway.normalize import MachineNormalizer
from protocols.cfx import encode_envelope, validate_bytes
from protocols.files import parse_chunks
from simulators import Board, InCircuitTester
from simulators.test_station import ict_csv

AT = datetime(2026, 5, 4, 7, 1, 12, tzinfo=UTC)
SDK = Path("/work/shared/conformance/cfx-sdk")
TESTED = "CFX.Production.TestAndInspection.UnitsTested"


def ict_result(barcode: str, *, positions: int = 1, fail: bool = False) -> obs.InspectionResult:
    """What the files adapter makes of one ICT log the simulator writes."""
    tester = InCircuitTester(positions=positions, fail_boards=[1] if fail else [], fail_steps=2, seed=4)
    board = Board(barcode=barcode)
    assert tester.recipes.active is not None
    results = tester.measure(tester.recipes.active.parameters["steps"])
    chunks = ict_csv(
        barcode,
        results,
        program="PCB-CTRL-A",
        tester="ICT-1",
        started=AT,
        ended=AT,
        unit_barcodes={p: tester.unit_barcode(board, p) for p in range(1, positions + 1)},
    )
    files_map = builtin_map("ict_csv")
    assert isinstance(files_map, FilesMap)
    [record] = parse_chunks(files_map.result, chunks)
    return inspection_result("ict", AT, files_map.result.method, record)


def bodies(normalizer: MachineNormalizer, o: obs.Observation) -> list[dict[str, Any]]:
    out = []
    for envelope in normalizer.feed(o):
        raw = encode_envelope(envelope)
        assert validate_bytes(raw) == [], raw[:300]
        message = orjson.loads(raw)
        out.append({"name": message["MessageName"], **message["MessageBody"]})
    return out


def typed_samples(value: Any, found: dict[str, Any]) -> dict[str, Any]:
    """Every ``$type``-tagged value in an SDK sample, by its ``$type``."""
    if isinstance(value, dict):
        found.setdefault(value.get("$type", ""), value)
        for item in value.values():
            typed_samples(item, found)
    elif isinstance(value, list):
        for item in value:
            typed_samples(item, found)
    return found


def sdk_sample() -> tuple[dict[str, Any], dict[str, Any]]:
    """The SDK's UnitsTested body, and its polymorphic values by ``$type`` from every variant."""
    samples: dict[str, Any] = {}
    for path in sorted(SDK.glob(f"{TESTED}*.json")):
        typed_samples(json.loads(path.read_text(encoding="utf-8"))["MessageBody"], samples)
    body = json.loads((SDK / f"{TESTED}.json").read_text(encoding="utf-8"))["MessageBody"]
    return body, samples


def key_order(ours: Any, theirs: Any, where: str = "", samples: dict[str, Any] | None = None) -> None:
    """Every member we write, in the SDK's order and spelling (the SDK's sample fills each)."""
    if isinstance(ours, dict) and samples and ours.get("$type") in samples:
        theirs = samples[ours["$type"]]
    if isinstance(ours, dict) and isinstance(theirs, dict):
        names = [k for k in theirs if k in ours]
        assert list(ours) == names, (where, list(ours), list(theirs))
        for k in names:
            key_order(ours[k], theirs[k], f"{where}.{k}", samples)
    elif isinstance(ours, list) and isinstance(theirs, list) and ours and theirs:
        for item in ours:
            key_order(item, theirs[0], f"{where}[]", samples)


def test_a_failing_board_becomes_units_tested_in_its_transaction() -> None:
    normalizer = MachineNormalizer("Acme.ICT.1", synthesize_work=True)
    [_, started] = bodies(
        normalizer, obs.BoardArrived(machine_id="ict", at=AT, board_id="B-7", barcode="PCB7")
    )
    [body] = bodies(normalizer, ict_result("PCB7", fail=True))
    assert body.pop("name") == TESTED
    assert body["TransactionId"] == started["TransactionID"]
    assert body["TestMethod"] == "ICT" and body["RecipeName"] == "PCB-CTRL-A"
    [unit] = body["TestedUnits"]
    assert (unit["UnitIdentifier"], unit["UnitPositionNumber"], unit["OverallResult"]) == (
        "PCB7",
        1,
        "Failed",
    )
    tests = unit["Tests"]
    assert [t["TestName"] for t in tests[:3]] == ["SHORTS", "R1", "R2"] and len(tests) == 21
    failed = [t for t in tests if t["Result"] == "Failed"]
    assert len(failed) == 2
    for test in failed:
        [measurement] = test["Measurements"]
        assert measurement["$type"] == "CFX.Structures.NumericMeasurement, CFX"
        value = measurement["MeasuredValue"]
        assert value["Value"] > value["MaximumAcceptableValue"] and measurement["Result"] == "Failed"
        [defect] = test["DefectsFound"]
        assert defect["DefectCode"] in ("OUT_OF_TOLERANCE", "OPEN", "SHORT")
    sdk, samples = sdk_sample()
    assert "CFX.Structures.NumericMeasurement, CFX" in samples
    key_order({"$type": sdk["$type"], **body}, sdk, samples=samples)


def test_a_panel_reports_each_position_and_an_unknown_board_is_flagged() -> None:
    normalizer = MachineNormalizer("Acme.ICT.1")
    [body] = bodies(normalizer, ict_result("PNL1", positions=2))
    assert body["TransactionId"] == "00000000-0000-0000-0000-000000000000"
    assert normalizer.unknown_boards == 1
    units = body["TestedUnits"]
    assert [(u["UnitIdentifier"], u["UnitPositionNumber"]) for u in units] == [("PNL1-1", 1), ("PNL1-2", 2)]
    assert {u["OverallResult"] for u in units} == {"Passed"}


@pytest.mark.parametrize("method", ["ICT", "FPT", "FCT", "BST", "Automated"])
def test_every_test_method_is_a_test(method: str) -> None:
    result = obs.InspectionResult(
        machine_id="t", at=AT, barcode="X", method=method, positions=(obs.InspectedPosition(),)
    )
    [body] = bodies(MachineNormalizer("T"), result)
    assert body["name"] == TESTED and body["TestMethod"] == method
