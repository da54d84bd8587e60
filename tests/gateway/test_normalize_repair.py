"""Defects an AOI flagged and an operator then reviewed at the repair station: the re-inspection
is published as UnitsInspected and the verdicts as UnitsRepaired, each repair naming the defect it
settles, as the SDK writes it; a result with nothing new to settle adds nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from adapters import observations as obs
from gateway.normalize import MachineNormalizer
from protocols.cfx import encode_envelope, validate_bytes

AT = datetime(2026, 5, 4, 7, 1, 12, tzinfo=UTC)
REPAIRED = "CFX.Production.ReworkAndRepair.UnitsRepaired"
SDK = Path("/work/shared/conformance/cfx-sdk") / f"{REPAIRED}.json"
V = obs.Verification


def result(review: tuple[V, V], at: datetime = AT) -> obs.InspectionResult:
    defects = (obs.FoundDefect("MISSING", "C12", review[0]), obs.FoundDefect("SHIFT", "R3", review[1]))
    return obs.InspectionResult(
        machine_id="aoi",
        at=at,
        barcode="PCB7",
        method="AOI",
        inspector="op7" if review[0] is not V.UNVERIFIED else None,
        started=at,
        ended=at,
        positions=(obs.InspectedPosition(position=1), obs.InspectedPosition(position=2, defects=defects)),
    )


def bodies(normalizer: MachineNormalizer, o: obs.Observation) -> list[dict[str, Any]]:
    out = []
    for envelope in normalizer.feed(o):
        raw = encode_envelope(envelope)
        assert validate_bytes(raw) == [], raw[:300]
        message = orjson.loads(raw)
        out.append({"name": message["MessageName"], **message["MessageBody"]})
    return out


def same_order(ours: Any, theirs: Any) -> None:
    if isinstance(ours, dict) and isinstance(theirs, dict):
        assert list(ours) == [k for k in theirs if k in ours], (list(ours), list(theirs))
        for k in ours:
            same_order(ours[k], theirs.get(k))
    elif isinstance(ours, list) and isinstance(theirs, list) and ours and theirs:
        for item in ours:
            same_order(item, theirs[0])


def test_reviewed_defects_become_units_repaired_linked_to_the_flagged_ones() -> None:
    normalizer = MachineNormalizer("Acme.AOI.1", synthesize_work=True)
    [_, started] = bodies(
        normalizer, obs.BoardArrived(machine_id="aoi", at=AT, board_id="B-7", barcode="PCB7")
    )
    [first] = bodies(normalizer, result((V.UNVERIFIED, V.UNVERIFIED)))
    flagged = {
        d["DefectCode"]: d["UniqueIdentifier"]
        for d in first["InspectedUnits"][1]["Inspections"][0]["DefectsFound"]
    }
    assert len(normalizer.reviews) == 1

    later = AT + timedelta(minutes=5)
    [again, repaired] = bodies(normalizer, result((V.CONFIRMED, V.FALSE_CALL), later))
    assert again["name"] == "CFX.Production.TestAndInspection.UnitsInspected"
    assert repaired.pop("name") == REPAIRED
    assert repaired["TransactionId"] == started["TransactionID"] == again["TransactionId"]
    assert repaired["RepairOperator"]["OperatorIdentifier"] == "op7"
    [unit] = repaired["RepairedUnits"]
    assert (unit["UnitIdentifier"], unit["UnitPositionNumber"], unit["OverallResult"]) == (
        "PCB7",
        2,
        "RepairSuccessful",
    )
    repairs = {r["RepairName"]: r for r in unit["Repairs"]}
    assert set(repairs) == {"defect confirmed", "false call cleared"}
    assert repairs["defect confirmed"]["RelatedDefectIdentifiers"] == [flagged["MISSING"]]
    assert repairs["false call cleared"]["RelatedDefectIdentifiers"] == [flagged["SHIFT"]]
    assert repairs["false call cleared"]["ReclassifiedDefects"][0]["Verification"] == "DefectRejected"
    assert repairs["defect confirmed"]["ComponentOfInterest"]["ReferenceDesignator"] == "C12"
    same_order({"$type": repaired["$type"], **repaired}, json.loads(SDK.read_text())["MessageBody"])
    assert len(normalizer.reviews) == 0

    # Nothing left to settle: the same verdicts again add no UnitsRepaired.
    [only] = bodies(normalizer, result((V.CONFIRMED, V.FALSE_CALL), later + timedelta(minutes=1)))
    assert only["name"] == "CFX.Production.TestAndInspection.UnitsInspected"
