"""Inspection results become CFX UnitsInspected as the SDK writes it, linked to the board's work
transaction when the gateway knows the board, and flagged (not dropped) when it does not."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson

from adapters import observations as obs
from gateway.normalize import MachineNormalizer
from protocols.cfx import encode_envelope, validate_bytes

AT = datetime(2026, 5, 4, 7, 1, 12, tzinfo=UTC)


def _result(barcode: str = "PCB0001") -> obs.InspectionResult:
    return obs.InspectionResult(
        machine_id="aoi",
        at=AT,
        barcode=barcode,
        method="AOI",
        recipe="PROD-A",
        inspector="op7",
        started=AT,
        ended=AT,
        positions=(
            obs.InspectedPosition(position=1, barcode=f"{barcode}-1"),
            obs.InspectedPosition(
                position=2,
                barcode=f"{barcode}-2",
                defects=(
                    obs.FoundDefect("MISSING", "C12", obs.Verification.CONFIRMED, description="gone"),
                    obs.FoundDefect("SHIFT", "R3", obs.Verification.FALSE_CALL),
                ),
                measurements=(obs.Measured("R3.offset_x", 0.12, "mm", -0.1, 0.1, refdes="R3"),),
            ),
            obs.InspectedPosition(
                position=3, defects=(obs.FoundDefect("BRIDGE", "U1", obs.Verification.FALSE_CALL),)
            ),
        ),
    )


def _body(normalizer: MachineNormalizer, o: obs.Observation) -> dict[str, object]:
    (envelope,) = normalizer.feed(o)
    raw = encode_envelope(envelope)
    assert validate_bytes(raw) == []
    message = orjson.loads(raw)
    assert message["MessageName"] == "CFX.Production.TestAndInspection.UnitsInspected"
    body: dict[str, object] = message["MessageBody"]
    return body


def test_a_result_becomes_units_inspected_per_panel_position() -> None:
    body = _body(MachineNormalizer("Acme.AOI.1"), _result())
    assert list(body)[:3] == ["$type", "TransactionId", "InspectionMethod"]
    assert body["InspectionMethod"] == "AOI" and body["RecipeName"] == "PROD-A"
    assert body["Inspector"] == {  # type: ignore[comparison-overlap]
        "OperatorIdentifier": "op7",
        "ActorType": "Human",
        "LastName": None,
        "FirstName": None,
        "LoginName": None,
    }
    units = body["InspectedUnits"]
    assert isinstance(units, list)
    assert [(u["UnitIdentifier"], u["UnitPositionNumber"], u["OverallResult"]) for u in units] == [
        ("PCB0001-1", 1, "Passed"),
        ("PCB0001-2", 2, "Failed"),
        ("PCB0001", 3, "Passed"),  # only false calls: passed, verification rejected
    ]
    assert units[2]["Verification"] == "DefectRejected"
    (inspection,) = units[1]["Inspections"]
    assert [
        (d["DefectCode"], d["ComponentOfInterest"]["ReferenceDesignator"], d["Verification"])
        for d in inspection["DefectsFound"]
    ] == [("MISSING", "C12", "DefectConfirmed"), ("SHIFT", "R3", "DefectRejected")]
    (measurement,) = inspection["Measurements"]
    assert measurement["$type"] == "CFX.Structures.NumericMeasurement, CFX"
    assert measurement["Result"] == "Failed"  # 0.12 mm is beyond the 0.1 mm limit
    assert measurement["MeasuredValue"]["MaximumAcceptableValue"] == 0.1


def test_a_result_for_a_known_board_carries_its_work_transaction() -> None:
    normalizer = MachineNormalizer("Acme.AOI.1", synthesize_work=True)
    arrived = normalizer.feed(obs.BoardArrived(machine_id="aoi", at=AT, board_id="b-1", barcode="PCB0001"))
    started = orjson.loads(encode_envelope(arrived[1]))["MessageBody"]["TransactionID"]
    normalizer.feed(obs.BoardDeparted(machine_id="aoi", at=AT, board_id="b-1", barcode="PCB0001"))
    body = _body(normalizer, _result())
    assert body["TransactionId"] == started
    assert normalizer.unknown_boards == 0


def test_a_result_for_an_unknown_board_goes_out_flagged() -> None:
    normalizer = MachineNormalizer("Acme.AOI.1")
    body = _body(normalizer, _result("NEVER-SEEN"))
    assert body["TransactionId"] == str(uuid.UUID(int=0))
    assert normalizer.unknown_boards == 1


def test_a_file_of_several_boards_gives_one_message_each() -> None:
    file = obs.ResultFile("a.xml", 10, 1, "00" * 32)
    read = obs.ResultFileRead(machine_id="aoi", at=AT, file=file, results=(_result("A"), _result("B")))
    envelopes = MachineNormalizer("Acme.AOI.1").feed(read)
    assert [
        orjson.loads(encode_envelope(e))["MessageBody"]["InspectedUnits"][0]["UnitIdentifier"]
        for e in envelopes
    ] == [
        "A-1",
        "B-1",
    ]
