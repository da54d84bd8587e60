"""Board identity across the line: a scanner's read names the board Hermes carries, a tester's
result naming a board by barcode long after it left carries that tester's TransactionID, and the
table merges, links and forgets as documented."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from adapters import observations as obs
from gateway.board_identity import BoardIdentities
from gateway.normalize import MachineNormalizer
from protocols.cfx import encode_envelope, validate_bytes

AT = datetime(2026, 5, 4, 7, 1, 12, tzinfo=UTC)


def bodies(normalizer: MachineNormalizer, o: obs.Observation) -> list[dict[str, Any]]:
    out = []
    for envelope in normalizer.feed(o):
        raw = encode_envelope(envelope)
        assert validate_bytes(raw) == [], raw[:300]
        message = orjson.loads(raw)
        out.append({"name": message["MessageName"], **message["MessageBody"]})
    return out


def test_link_merges_two_records_of_one_board_and_finds_it_by_any_name() -> None:
    table = BoardIdentities()
    tx = uuid.uuid4()
    table.started("Acme.ICT.1", tx, None, "PCB1")  # known by barcode only
    table.link("B-1", None)  # known by BoardId only
    assert len(table) == 2
    board = table.link("B-1", "PCB1")  # the same board
    assert board is not None and len(table) == 1
    table.add_units(board, [(1, "PCB1-1"), (2, "PCB1-2")])
    for name in ("B-1", "PCB1", "PCB1-2"):
        assert table.transaction("Acme.ICT.1", name) == tx
    assert table.transaction("Acme.FCT.1", "PCB1") is None
    assert table.link(None, None) is None


def test_the_oldest_boards_are_forgotten_beyond_capacity() -> None:
    table = BoardIdentities(capacity=3)
    for n in range(5):
        table.link(f"B-{n}", f"PCB{n}")
    assert len(table) == 3 and table.find("PCB0", "B-1") is None and table.find("PCB4") is not None
    with pytest.raises(ValueError, match="capacity"):
        BoardIdentities(capacity=0)


def test_a_scan_names_the_board_and_a_late_result_finds_its_transaction() -> None:
    identity = BoardIdentities()
    scanner = MachineNormalizer("Acme.Scanner.1", synthesize_work=True, identity=identity)
    ict = MachineNormalizer("Acme.ICT.1", synthesize_work=True, identity=identity)

    # Hermes carries no barcode here: the scanner's read gives the board its name.
    bodies(scanner, obs.BoardArrived(machine_id="scanner", at=AT, board_id="B-7"))
    [read] = bodies(
        scanner, obs.IdentifierRead(machine_id="scanner", at=AT, barcode="PCB7", symbology="code128")
    )
    assert read["name"] == "CFX.Sensor.Identification.IdentifiersRead"
    assert (read["PrimaryIdentifier"], read["HermesIdentifier"]) == ("PCB7", "B-7")
    assert [(u["UnitIdentifier"], u["PositionNumber"]) for u in read["Units"]] == [("PCB7", 1)]

    # Downstream, the tester learns the barcode from the table, and its WorkStarted carries it.
    [_, started] = bodies(ict, obs.BoardArrived(machine_id="ict", at=AT, board_id="B-7"))
    assert started["PrimaryIdentifier"] == "PCB7"
    bodies(ict, obs.BoardDeparted(machine_id="ict", at=AT, board_id="B-7"))
    for n in range(20):  # more boards than the normalizer keeps of its own
        bodies(ict, obs.BoardArrived(machine_id="ict", at=AT, board_id=f"B-{100 + n}", barcode=f"X{n}"))
        bodies(ict, obs.BoardDeparted(machine_id="ict", at=AT, board_id=f"B-{100 + n}"))
    result = obs.InspectionResult(
        machine_id="ict", at=AT, barcode="PCB7", method="ICT", positions=(obs.InspectedPosition(),)
    )
    [tested] = bodies(ict, result)
    assert tested["TransactionId"] == started["TransactionID"]
    assert ict.unknown_boards == 0


def test_a_no_read_is_identifiers_not_read() -> None:
    [body] = bodies(MachineNormalizer("Acme.Scanner.1"), obs.IdentifierNotRead(machine_id="scanner", at=AT))
    assert body == {
        "name": "CFX.Sensor.Identification.IdentifiersNotRead",
        "$type": "CFX.Sensor.Identification.IdentifiersNotRead, CFX",
        "PositionsNotRead": [1],
    }


def test_a_panels_unit_codes_from_one_station_link_a_result_that_names_only_a_unit() -> None:
    identity = BoardIdentities()
    aoi = MachineNormalizer("Acme.AOI.1", synthesize_work=True, identity=identity)
    fct = MachineNormalizer("Acme.FCT.1", synthesize_work=True, identity=identity)
    bodies(aoi, obs.BoardArrived(machine_id="aoi", at=AT, board_id="B-9", barcode="PNL9"))
    positions = tuple(obs.InspectedPosition(position=n, barcode=f"PNL9-{n}") for n in (1, 2))
    bodies(
        aoi, obs.InspectionResult(machine_id="aoi", at=AT, barcode="PNL9", method="AOI", positions=positions)
    )
    [_, started] = bodies(fct, obs.BoardArrived(machine_id="fct", at=AT, board_id="B-9", barcode="PNL9"))
    bodies(fct, obs.BoardDeparted(machine_id="fct", at=AT, board_id="B-9"))
    for n in range(20):
        bodies(fct, obs.BoardArrived(machine_id="fct", at=AT, board_id=f"B-{100 + n}", barcode=f"X{n}"))
        bodies(fct, obs.BoardDeparted(machine_id="fct", at=AT, board_id=f"B-{100 + n}"))
    unit_only = obs.InspectionResult(
        machine_id="fct",
        at=AT,
        barcode="PNL9-2",
        method="FCT",
        positions=(obs.InspectedPosition(position=2),),
    )
    [tested] = bodies(fct, unit_only)
    assert tested["TransactionId"] == started["TransactionID"]
    assert tested["TestedUnits"][0]["UnitIdentifier"] == "PNL9-2"
