"""Ingest of CFX envelopes: idempotent on UniqueID, indifferent to order, on both databases."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest
from structlog.testing import capture_logs

from gateway.trace import Store, TraceSettings, ingest
from gateway.trace import queries as q
from gateway.trace.ingest import reflow_figures
from gateway.trace.store import Sql, Work
from protocols.cfx import Envelope
from tests.gateway.trace.conftest import board_body, envelope, visit

OVEN = "Acme.Oven.1"
AOI = "Acme.AOI.1"
PLACER = "Acme.Placer.1"


async def _genealogy(store: Store, identifier: str) -> dict[str, Any]:
    boards = await store.run(lambda: q.find_boards(identifier))
    assert len(boards) == 1, boards
    return await store.run(lambda: q.genealogy(boards[0]))


def _count(table: str) -> Work[int]:
    rows = yield Sql(f"SELECT COUNT(*) FROM {table}")
    return int(rows[0][0])


def _reflow(txn: str, seconds: float, zones: list[float], speed: float = 60.0) -> Envelope:
    return envelope(
        "CFX.Production.Processing.UnitsProcessed",
        OVEN,
        seconds,
        {
            "TransactionId": txn,
            "OverallResult": "Succeeded",
            "CommonProcessData": {
                "$type": "CFX.Structures.SolderReflow.ReflowProcessData, CFX",
                "ConveyorSpeed": speed,
                "ConveyorSpeedSetpoint": speed,
                "ZoneData": [
                    {
                        "Zone": {
                            "ReflowZoneType": "PreHeat",
                            "StageSequence": i + 1,
                            "StageName": f"Zone{i + 1}",
                        },
                        "Setpoints": [{"SubZone": "Top", "SetpointType": "Temperature", "Setpoint": t}],
                        "Readings": [
                            {"SubZone": "Top", "ReadingType": "Temperature", "ReadingValue": t + 1},
                            {"SubZone": "Bottom", "ReadingType": "Temperature", "ReadingValue": t - 1},
                        ],
                    }
                    for i, t in enumerate(zones)
                ],
            },
        },
    )


async def test_duplicates_in_a_batch_and_across_batches_are_stored_once(store: Store) -> None:
    """Redelivered envelopes (same UniqueID) change nothing and are counted as duplicates."""
    events = visit(OVEN, "SN-1", "H-1", 0)
    first = await store.run(lambda: ingest([*events, events[1]]))
    assert (first.stored, first.duplicates) == (4, 1)
    again = await store.run(lambda: ingest(events))
    assert (again.stored, again.duplicates) == (0, 4)
    assert await store.run(lambda: _count("trace_pass")) == 1
    assert await store.run(lambda: _count("trace_envelope")) == 4


async def test_reordered_events_give_the_same_genealogy(store: Store) -> None:
    """Any order of one board's events (completed before started, departed first) fills one pass."""
    txn = str(uuid.uuid4())
    events = [*visit(OVEN, "SN-2", "H-2", 0, txn=txn), _reflow(txn, 2.5, [150, 230])]
    random.Random(7).shuffle(events)
    events.sort(key=lambda e: e.message_name != "CFX.Production.Processing.UnitsProcessed")  # data first
    await store.run(lambda: ingest(events))
    record = await _genealogy(store, "SN-2")
    [passage] = record["passes"]
    assert passage["machine"] == OVEN and passage["transaction_id"] == txn
    assert [passage[k] is not None for k in ("arrived", "started", "completed", "departed")] == [True] * 4
    assert passage["arrived"] < passage["started"] < passage["completed"] < passage["departed"]
    [process] = record["process"]
    assert process["kind"] == "reflow" and process["peak_c"] == 231.0


async def test_work_completed_before_work_started_in_separate_batches(store: Store) -> None:
    """The late WorkStarted finds the pass its WorkCompleted created (by TransactionID)."""
    arrived, started, completed, departed = visit(PLACER, "SN-3", None, 0)
    await store.run(lambda: ingest([completed]))
    await store.run(lambda: ingest([departed, arrived]))
    await store.run(lambda: ingest([started]))
    record = await _genealogy(store, "SN-3")
    assert len(record["passes"]) == 1
    assert record["passes"][0]["recipe"] == "R-1"


async def test_process_data_before_its_transaction_is_linked_later(store: Store) -> None:
    """UnitsProcessed naming an unknown TransactionID waits, then joins the board that owns it."""
    txn = str(uuid.uuid4())
    stats = await store.run(lambda: ingest([_reflow(txn, 0.5, [200, 240])]))
    assert stats.outcomes == {"pending-transaction": 1}
    await store.run(lambda: ingest(visit(OVEN, "SN-4", "H-4", 0, txn=txn)))
    assert len((await _genealogy(store, "SN-4"))["process"]) == 1


def test_reflow_figures_zone_peaks_and_time_above_liquidus() -> None:
    """Peak per zone is its hottest reading; zones at or above liquidus add their dwell time."""
    wire: dict[str, Any] = {
        "ConveyorSpeed": 60.0,
        "ZoneData": [
            {
                "Zone": {"StageSequence": i, "StageName": f"Z{i}"},
                "Readings": [{"ReadingType": "Temperature", "ReadingValue": t}],
            }
            for i, t in enumerate([150.0, 200.0, 217.0, 245.0], start=1)
        ],
    }
    zones, above = reflow_figures(wire, TraceSettings(liquidus_c=217.0, heated_length_mm=4000.0))
    assert [z[2] for z in zones] == [150.0, 200.0, 217.0, 245.0]
    # 1000 mm per zone at 60 cm/min (10 mm/s): 100 s each; two zones reach 217 °C.
    assert above == pytest.approx(200.0)
    assert reflow_figures({**wire, "ConveyorSpeed": 0.0}, TraceSettings())[1] is None


async def test_fault_cleared_before_occurred_is_one_fault(store: Store) -> None:
    """Both orders of a fault's two events give one row with both times."""
    occurrence = str(uuid.uuid4())
    occurred = envelope(
        "CFX.ResourcePerformance.FaultOccurred",
        OVEN,
        10,
        {"Fault": {"FaultCode": "OV-O2-HIGH", "FaultOccurrenceId": occurrence, "Severity": "Warning"}},
    )
    cleared = envelope("CFX.ResourcePerformance.FaultCleared", OVEN, 20, {"FaultOccurrenceId": occurrence})
    await store.run(lambda: ingest([cleared]))
    await store.run(lambda: ingest([occurred]))
    record = await store.run(lambda: q.fault(occurrence))
    assert record["code"] == "OV-O2-HIGH" and record["occurred"] < record["cleared"]


async def test_an_inspection_of_an_unknown_board_records_it_and_logs(store: Store) -> None:
    """A result for a board never seen arriving creates the board, with outcome unknown-board."""
    inspected = envelope(
        "CFX.Production.TestAndInspection.UnitsInspected",
        AOI,
        5,
        {
            "InspectionMethod": "AOI",
            "InspectedUnits": [
                {
                    "UnitIdentifier": "SN-GHOST",
                    "OverallResult": "Failed",
                    "Inspections": [
                        {
                            "InspectionName": "solder joints",
                            "Result": "Failed",
                            "DefectsFound": [
                                {
                                    "DefectCode": "BRIDGE",
                                    "Description": "solder bridge",
                                    "ComponentOfInterest": {"ReferenceDesignator": "U7"},
                                }
                            ],
                        }
                    ],
                }
            ],
        },
    )
    with capture_logs() as logs:
        stats = await store.run(lambda: ingest([inspected]))
    assert stats.outcomes == {"unknown-board": 1}
    assert any(entry["event"] == "trace.ingest.unknown_board" for entry in logs)
    record = await _genealogy(store, "SN-GHOST")
    [result] = record["results"]
    assert (result["kind"], result["result"], result["method"]) == ("inspection", "Failed", "AOI")
    assert result["defects"] == [
        {"check": "solder joints", "code": "BRIDGE", "component": "U7", "description": "solder bridge"}
    ]


async def test_repair_after_failed_inspection_is_in_the_genealogy(store: Store) -> None:
    """UnitsRepaired joins the board by its unit identifier."""
    await store.run(lambda: ingest(visit(AOI, "SN-5", "H-5", 0)))
    repaired = envelope(
        "CFX.Production.ReworkAndRepair.UnitsRepaired",
        "Acme.Rework.1",
        9,
        {
            "RepairOperator": {"OperatorIdentifier": "OP-7"},
            "RepairedUnits": [
                {
                    "UnitIdentifier": "SN-5",
                    "OverallResult": "RepairSuccessful",
                    "Repairs": [
                        {
                            "RepairName": "reflow joint",
                            "ComponentOfInterest": {"ReferenceDesignator": "U7"},
                            "Result": "RepairSuccessful",
                        }
                    ],
                }
            ],
        },
    )
    stats = await store.run(lambda: ingest([repaired]))
    assert stats.outcomes == {"ingested": 1}
    [repair] = (await _genealogy(store, "SN-5"))["repairs"]
    assert (repair["operator"], repair["component"], repair["result"]) == ("OP-7", "U7", "RepairSuccessful")


async def test_a_reused_barcode_is_a_new_board_and_a_lookup_returns_both(store: Store) -> None:
    """Same barcode, another Hermes BoardId: two boards; by Hermes id, exactly one."""
    await store.run(lambda: ingest([*visit(OVEN, "SN-6", "H-6a", 0), *visit(OVEN, "SN-6", "H-6b", 100)]))
    boards = await store.run(lambda: q.find_boards("SN-6"))
    assert len(boards) == 2
    assert await store.run(lambda: q.find_boards("H-6b")) == [boards[1]]
    second = await store.run(lambda: q.genealogy(boards[1]))
    assert second["hermes_id"] == "H-6b" and len(second["passes"]) == 1


async def test_materials_installed_and_loaded_answer_the_reel_query(store: Store) -> None:
    """Per-board materials (installed) and reels loaded while a board was worked (loaded)."""
    txn = str(uuid.uuid4())
    installed = envelope(
        "CFX.Production.Assembly.MaterialsInstalled",
        PLACER,
        1.5,
        {
            "TransactionId": txn,
            "InstalledMaterials": [
                {
                    "UnitIdentifier": "SN-7",
                    "QuantityInstalled": 2.0,
                    "Material": {
                        "UniqueIdentifier": "REEL-42",
                        "InternalPartNumber": "RES-10K",
                        "BatchId": "LOT-9",
                    },
                    "CarrierLocation": {
                        "LocationIdentifier": "1-01",
                        "CarrierInformation": {"UniqueIdentifier": "FDR-1"},
                    },
                    "InstalledComponents": [{"ReferenceDesignator": "R1"}, {"ReferenceDesignator": "R2"}],
                }
            ],
        },
    )
    loaded = envelope(
        "CFX.Materials.Storage.MaterialsLoaded",
        "Acme.Placer.2",
        0,
        {
            "Materials": [
                {
                    "LocationIdentifier": "2-03",
                    "MaterialPackage": {"UniqueIdentifier": "REEL-43", "BatchId": "LOT-9"},
                }
            ]
        },
    )
    events = [
        installed,
        *visit(PLACER, "SN-7", "H-7", 0, txn=txn),
        loaded,
        *visit("Acme.Placer.2", "SN-7", "H-7", 10),
    ]
    await store.run(lambda: ingest(events))
    by_reel = await store.run(lambda: q.material_boards("REEL-42"))
    assert [(r["barcode"], r["designators"], r["source"]) for r in by_reel] == [
        ("SN-7", "R1,R2", "installed")
    ]
    by_lot = await store.run(lambda: q.material_boards("LOT-9"))
    assert {(r["reel"], r["source"]) for r in by_lot} == {("REEL-42", "installed"), ("REEL-43", "loaded")}
    assert (await _genealogy(store, "SN-7"))["materials"][0]["feeder"] == "FDR-1"


async def test_operator_recipe_and_work_order_come_with_each_pass(store: Store) -> None:
    """Operator on duty, the recipe activated before the pass, the work order of WorkStarted."""
    events = [
        envelope("CFX.Production.OperatorActivated", OVEN, 0, {"Operator": {"OperatorIdentifier": "OP-1"}}),
        envelope("CFX.Production.RecipeActivated", OVEN, 0.5, {"RecipeName": "SAC305", "Revision": "3"}),
        envelope("CFX.Production.UnitsArrived", OVEN, 1, board_body("SN-8", "H-8")),
        envelope(
            "CFX.Production.WorkStarted",
            OVEN,
            2,
            board_body(
                "SN-8", "H-8", TransactionID=str(uuid.uuid4()), WorkOrderIdentifier={"WorkOrderId": "WO-1"}
            ),
        ),
    ]
    await store.run(lambda: ingest(events))
    record = await _genealogy(store, "SN-8")
    [passage] = record["passes"]
    assert (passage["operator"], passage["recipe"], passage["revision"]) == ("OP-1", "SAC305", "3")
    assert passage["work_order"] == record["work_order"] == "WO-1"


async def test_unhandled_and_boardless_messages_are_recorded_as_seen(store: Store) -> None:
    """A heartbeat is stored as seen (so a redelivery is a duplicate) and otherwise ignored."""
    beat = envelope("CFX.Heartbeat", OVEN, 0, {"CFXHandle": OVEN, "HeartbeatFrequency": "00:01:00"})
    nameless = envelope("CFX.Production.UnitsArrived", OVEN, 1, {"UnitCount": 0, "Units": []})
    stats = await store.run(lambda: ingest([beat, nameless]))
    assert stats.outcomes == {"ignored": 1, "no-board": 1}
    assert (await store.run(lambda: ingest([beat]))).duplicates == 1


def _line(tag: str) -> list[Envelope]:
    """Two boards through a placer (materials) and an oven (reflow data), identifiers tagged."""
    events: list[Envelope] = []
    for n in (1, 2):
        barcode, hermes = f"SN-{tag}-{n}", f"H-{tag}-{n}"
        placed, reflowed = str(uuid.uuid4()), str(uuid.uuid4())
        placer = visit(PLACER, barcode, hermes, 10 * n, txn=placed)
        oven = visit(OVEN, barcode, hermes, 10 * n + 5, txn=reflowed)
        material = envelope(
            "CFX.Production.Assembly.MaterialsInstalled",
            PLACER,
            10 * n + 1.5,
            {
                "TransactionId": placed,
                # No unit identifier: only the transaction names the board.
                "InstalledMaterials": [{"Material": {"UniqueIdentifier": f"REEL-{tag}"}}],
            },
        )
        events += [*placer[:2], material, *placer[2:], *oven[:2], _reflow(reflowed, 10 * n + 6.5, [200, 240])]
        events += oven[2:]
    return events


def _same_shape(record: dict[str, Any], tag: str) -> dict[str, Any]:
    # The genealogy without database ids and TransactionIDs, with the line's tag taken out.
    drop = {"board", "pass", "id", "transaction_id"}

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k not in drop}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value.replace(tag, "TAG") if isinstance(value, str) else value

    return clean(record)  # type: ignore[no-any-return]


async def test_a_batch_with_a_duplicate_and_reordered_events_gives_the_clean_genealogy(store: Store) -> None:
    """One batch in line order, and one batch of the same line with an envelope twice and events
    out of order (completed before started, departed before arrived, reflow data and materials
    before their transaction): the same genealogy, board by board."""
    clean = await store.run(lambda: ingest(_line("clean")))
    assert (clean.stored, clean.duplicates) == (len(_line("x")), 0)
    messy = _line("messy")
    # Board 1 at the placer: materials first, then WorkCompleted before WorkStarted; at the
    # oven: UnitsDeparted before UnitsArrived, reflow data before WorkStarted; and a redelivery.
    arrived, started, material, completed, departed = messy[:5]
    oven_arrived, oven_started, reflow, oven_completed, oven_departed = messy[5:10]
    reordered = [material, arrived, completed, started, departed, oven_departed, reflow]
    reordered += [oven_arrived, oven_completed, oven_started, *messy[10:], started]
    stats = await store.run(lambda: ingest(reordered))
    assert (stats.stored, stats.duplicates) == (len(messy), 1)
    # The materials and the reflow data wait for their transactions, joined later in the batch.
    assert stats.outcomes == {"ingested": len(messy) - 2, "pending-transaction": 2}
    for n in (1, 2):
        ordered = await _genealogy(store, f"SN-clean-{n}")
        shuffled = await _genealogy(store, f"SN-messy-{n}")
        assert len(ordered["passes"]) == 2 and len(ordered["process"]) == 1 and ordered["materials"]
        assert all(p["transaction_id"] for p in (*ordered["passes"], *shuffled["passes"]))
        assert _same_shape(shuffled, "messy") == _same_shape(ordered, "clean")
    for tag in ("clean", "messy"):
        reel = await store.run(lambda tag=tag: q.material_boards(f"REEL-{tag}"))
        assert sorted(r["barcode"] for r in reel) == [f"SN-{tag}-1", f"SN-{tag}-2"]
    # Nothing written twice: one pass per board and machine, one process row per reflow.
    assert await store.run(lambda: _count("trace_pass")) == 8
    assert await store.run(lambda: _count("trace_process")) == 4


async def test_rows_waiting_for_a_transaction_in_earlier_batches_join_its_board(store: Store) -> None:
    """Materials and reflow data of a transaction not seen yet wait in the store, and the batch
    that names the transaction links them, with one statement for all of them."""
    events = _line("late")
    waiting = [e for e in events if e.message_name.endswith(("MaterialsInstalled", "UnitsProcessed"))]
    first = await store.run(lambda: ingest(waiting))
    assert first.outcomes == {"pending-transaction": 4}
    await store.run(lambda: ingest([e for e in events if e not in waiting]))
    for n in (1, 2):
        record = await _genealogy(store, f"SN-late-{n}")
        assert len(record["process"]) == 1 and len(record["materials"]) == 1


def _counted(work: Work[Any], counts: list[int]) -> Work[Any]:
    # The unit of work as it is, counting the statements it yields.
    rows: Any = None
    try:
        statement = work.send(None)
        while True:
            counts.append(1)
            rows = yield statement
            statement = work.send(rows)
    except StopIteration as stop:
        return stop.value


async def test_a_batch_costs_the_same_statements_whatever_its_size(store: Store) -> None:
    """Set-based: 20 boards or 80 (220 envelopes or 880) through the same machines, one batch
    each, take the same number of statements (per table, not per envelope or row)."""
    used = []
    for tag, lines in (("few", 10), ("many", 40)):
        events = [e for n in range(lines) for e in _line(f"{tag}{n}")]
        counts: list[int] = []
        stats = await store.run(lambda events=events, counts=counts: _counted(ingest(events), counts))
        assert stats.stored == len(events) and stats.outcomes == {"ingested": len(events)}
        used.append(len(counts))
    assert used[0] == used[1] < 25, used
