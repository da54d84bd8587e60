"""Ingest CFX envelopes into the trace store: each board's genealogy, built from the stream.

``ingest(envelopes, settings)`` is a unit of work (see ``gateway.trace.store``): one transaction
for a batch. It is idempotent on UniqueID (a duplicate is skipped: ``trace_envelope`` has it as
primary key, checked in the same transaction) and tolerates events in any order:

- a visit of a board to a machine (``trace_pass``) is found by TransactionID, else by board and
  machine with the column still empty, else created; so WorkCompleted before WorkStarted, or
  UnitsDeparted before UnitsArrived, fill the same row;
- process data, materials and results that name only a TransactionID not seen yet are kept with
  no board, and linked when WorkStarted/WorkCompleted names that transaction;
- FaultCleared before FaultOccurred fills the same fault row.

A board is one physical board: found by Hermes BoardId, else by barcode or unit identifier (the
most recent board with it, unless that one has another Hermes BoardId: a reused barcode is a new
board). An event that names a board never seen arriving anywhere records it (outcome
``unknown-board``, logged). Bodies are read as the wire JSON the CFX SDK writes, so Pascal-case
names and both spellings of TransactionID work for modelled and unmodelled messages alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
import structlog

from gateway.trace.boards import (
    Batch,
    Body,
    Event,
    Step,
    board_by_txn,
    board_of,
    chunks,
    designator_of,
    find_board,
    identifiers_in,
    items,
    lane_of,
    marks,
    note_unknown,
    number,
    obj,
    operator_of,
    pass_for,
    text,
    txn_of,
)
from gateway.trace.rows import write
from gateway.trace.store import Sql, Work, now_us
from protocols.cfx import Envelope, encode_body

log = structlog.get_logger("linegate.trace.ingest")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class TraceSettings:
    """What the ingest needs to know that the stream does not say.

    Args:
        liquidus_c: the solder's liquidus in °C (SAC305: 217); a reflow zone whose hottest reading
            reaches it counts toward the time above liquidus.
        heated_length_mm: the oven's heated tunnel length, split evenly over its zones; with the
            conveyor speed it gives each zone's dwell time.
    """

    liquidus_c: float = 217.0
    heated_length_mm: float = 3600.0


@dataclass(slots=True)
class IngestStats:
    """What one batch did: envelopes stored, duplicates skipped, and how each was used."""

    stored: int = 0
    duplicates: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


def micros(when: datetime) -> int:
    """An aware datetime as the store keeps times (µs since the epoch, UTC)."""
    return (when - _EPOCH) // _US


def wire_body(envelope: Envelope) -> Body:
    """The envelope's MessageBody as the SDK writes it (a JSON object, Pascal-case names)."""
    body = orjson.loads(encode_body(envelope.body))
    return body if isinstance(body, dict) else {}


def ingest(envelopes: Iterable[Envelope], settings: TraceSettings | None = None) -> Work[IngestStats]:
    """The unit of work that stores ``envelopes`` (one transaction for the batch).

    Set-based: the envelopes not stored before are found with one statement, everything they
    can touch is read with three more (identifiers, passes by board, passes by TransactionID),
    they are applied in order in memory (``gateway.trace.boards.Batch``), and what they created
    and changed is written with about one statement per table (``gateway.trace.rows``),
    whatever the batch's size.

    Args:
        envelopes: decoded CFX envelopes, in any order, duplicates allowed.
        settings: liquidus and oven geometry for the reflow figures.

    Returns:
        What was stored and skipped.
    """
    settings = settings or TraceSettings()
    stats = IngestStats()
    batch: dict[str, Envelope] = {}
    for envelope in envelopes:
        key = str(envelope.unique_id)
        if key in batch:
            stats.duplicates += 1
            log.debug("trace.ingest.duplicate", unique_id=key, message=envelope.message_name)
        else:
            batch[key] = envelope
    # The UniqueIDs not stored before, found with one statement per chunk (one round trip).
    fresh: set[str] = set()
    items = list(batch.items())
    for start in range(0, len(items), _CHUNK):
        chunk = items[start : start + _CHUNK]
        rows = yield Sql(
            "INSERT INTO trace_envelope (unique_id, message_name, source, time_us, ingested_us, outcome)"
            " VALUES "
            + ", ".join(["(?, ?, ?, ?, ?, 'ingested')"] * len(chunk))
            + " ON CONFLICT (unique_id) DO NOTHING RETURNING unique_id",
            [
                value
                for key, e in chunk
                for value in (key, e.message_name, e.source or "", micros(e.time_stamp), now_us())
            ],
        )
        fresh.update(str(row[0]) for row in rows)
    state = Batch()
    events: list[Event] = []
    for key, envelope in items:
        if key not in fresh:
            stats.duplicates += 1
            log.debug("trace.ingest.duplicate", unique_id=key, message=envelope.message_name)
            continue
        name = envelope.message_name
        body = wire_body(envelope) if name in _HANDLERS else {}
        events.append(Event(key, name, envelope.source or "", micros(envelope.time_stamp), body, state))
    # Every board, identifier and pass the batch can touch, read up front in three statements.
    values: list[str] = []
    for event in events:
        identifiers_in(event.body, values)
    yield from state.load(values, [t for e in events if (t := txn_of(e.body))])
    marked: dict[str, list[str]] = {}
    for event in events:
        handler = _HANDLERS.get(event.name)
        outcome = "ignored" if handler is None else (yield from handler(event, settings))
        if outcome != "ingested":
            marked.setdefault(outcome, []).append(event.unique_id)
        stats.stored += 1
        stats.outcomes[outcome] = stats.outcomes.get(outcome, 0) + 1
    yield from write(state)
    for outcome, keys in marked.items():
        for group in chunks(keys):
            yield Sql(
                f"UPDATE trace_envelope SET outcome = ? WHERE unique_id IN ({marks(len(group))})",
                [outcome, *group],
            )
    return stats


#: Envelopes per dedupe statement: 5 parameters each, below SQLite's 32,766 limit.
_CHUNK = 6000


def _work_started(event: Event, settings: TraceSettings) -> Step:
    board, created = yield from board_of(event)
    if board is None:
        return "no-board"
    body = event.body
    visit = yield from pass_for(event, board, txn_of(body))
    visit.started_us = event.time_us
    lane = lane_of(body)
    if lane is not None:
        visit.lane = lane
    visit.recipe = text(body.get("RecipeName")) or visit.recipe
    visit.revision = text(body.get("Revision")) or visit.revision
    visit.work_order = text(obj(body.get("WorkOrderIdentifier")).get("WorkOrderId")) or visit.work_order
    visit.changed = True
    return note_unknown(event, created)


def _work_completed(event: Event, settings: TraceSettings) -> Step:
    board, created = yield from board_of(event)
    if board is None:
        # WorkCompleted names its board only through TransactionID in some machines.
        board, created = (yield from board_by_txn(event, txn_of(event.body))), False
        if board is None:
            return "no-board"
    visit = yield from pass_for(event, board, txn_of(event.body))
    visit.completed_us = event.time_us
    visit.result = text(event.body.get("Result"))
    visit.changed = True
    return note_unknown(event, created)


def _movement(column: str) -> Callable[[Event, TraceSettings], Step]:
    def handle(event: Event, settings: TraceSettings) -> Step:
        board, created = yield from board_of(event)
        if board is None:
            return "no-board"
        visit = yield from event.batch.latest_open(board, event.machine_id, column)
        if visit is None:
            visit = event.batch.new_pass(board, event.machine_id)
        setattr(visit, column, event.time_us)
        if visit.lane is None:
            visit.lane = lane_of(event.body)
        visit.changed = True
        return note_unknown(event, created)

    return handle


# --- what happened inside a machine ----------------------------------------------------------


def reflow_figures(
    data: Body, settings: TraceSettings
) -> tuple[list[tuple[int | None, str | None, float | None, float | None]], float | None]:
    """Per zone (sequence, name, hottest reading, hottest setpoint), and the time above liquidus.

    A zone counts toward the time above liquidus when its hottest reading reaches
    ``settings.liquidus_c``; its dwell time is its share of the heated length at the conveyor
    speed (cm/min, as ReflowProcessData carries it). None when the speed is unknown or zero.
    """
    zones: list[tuple[int | None, str | None, float | None, float | None]] = []
    for item in items(data.get("ZoneData")):
        zone = obj(obj(item).get("Zone"))
        readings = [
            number(obj(r).get("ReadingValue"))
            for r in items(obj(item).get("Readings"))
            if obj(r).get("ReadingType") in (None, "Temperature")
        ]
        setpoints = [
            number(obj(s).get("Setpoint"))
            for s in items(obj(item).get("Setpoints"))
            if obj(s).get("SetpointType") in (None, "Temperature")
        ]
        peak = max((r for r in readings if r is not None), default=None)
        setpoint = max((s for s in setpoints if s is not None), default=None)
        sequence = zone.get("StageSequence")
        zones.append(
            (sequence if isinstance(sequence, int) else None, text(zone.get("StageName")), peak, setpoint)
        )
    speed = number(data.get("ConveyorSpeed"))
    if not zones or not speed or speed <= 0:
        return zones, None
    # Only heated zones share the tunnel (the SDK's whole-oven pseudo-zone carries O2, not heat).
    heated = sum(1 for _, _, peak, setpoint in zones if peak is not None or setpoint is not None)
    if not heated:
        return zones, None
    dwell_s = settings.heated_length_mm / heated / (speed * 10.0 / 60.0)
    above = sum(dwell_s for _, _, peak, _ in zones if peak is not None and peak >= settings.liquidus_c)
    return zones, round(above, 3)


def _units_processed(event: Event, settings: TraceSettings) -> Step:
    body = event.body
    txn = txn_of(body)
    board = yield from board_by_txn(event, txn)
    data = obj(body.get("CommonProcessData"))
    kind = str(data.get("$type") or "none").split(",")[0].rsplit(".", 1)[-1]
    is_reflow = "ZoneData" in data and "ConveyorSpeed" in data
    zones, above = reflow_figures(data, settings) if is_reflow else ([], None)
    peak = max((z[2] for z in zones if z[2] is not None), default=None)
    process = event.batch.key()
    event.batch.add(
        "trace_process",
        [
            process,
            event.unique_id,
            txn,
            board,
            event.machine_id,
            event.time_us,
            "reflow" if is_reflow else kind,
            text(body.get("OverallResult")),
            number(data.get("ConveyorSpeed")) if is_reflow else None,
            settings.liquidus_c if is_reflow else None,
            above,
            peak,
        ],
    )
    for sequence, name, zone_peak, setpoint in zones:
        event.batch.add("trace_zone", [process, sequence, name, zone_peak, setpoint])
    return "ingested" if board is not None else "pending-transaction"


def _results(
    kind: str, units_key: str, checks_key: str, name_key: str, operator_key: str, method_key: str
) -> Callable[[Event, TraceSettings], Step]:
    def handle(event: Event, settings: TraceSettings) -> Step:
        body = event.body
        txn = txn_of(body)
        by_txn = yield from board_by_txn(event, txn)
        outcome = "ingested"
        for unit in map(obj, items(body.get(units_key))):
            uid = text(unit.get("UnitIdentifier"))
            # The transaction's board when known (a panel's units share it), else the unit's own.
            if by_txn is not None or uid is None:
                board, created = by_txn, False
            else:
                board, created = yield from find_board(event, units=[uid])
            outcome = note_unknown(event, created, outcome)
            result = event.batch.key()
            event.batch.add(
                "trace_result",
                [
                    result,
                    event.unique_id,
                    txn,
                    board,
                    uid,
                    event.machine_id,
                    event.time_us,
                    kind,
                    text(body.get(method_key)),
                    text(unit.get("OverallResult")),
                    text(body.get("RecipeName")),
                    operator_of(body.get(operator_key)),
                ],
            )
            for check in map(obj, items(unit.get(checks_key))):
                for defect in map(obj, items(check.get("DefectsFound"))):
                    event.batch.add(
                        "trace_defect",
                        [
                            result,
                            text(check.get(name_key)),
                            text(defect.get("DefectCode")),
                            designator_of(defect.get("ComponentOfInterest")),
                            text(defect.get("Description")),
                        ],
                    )
        return outcome

    return handle


def _units_repaired(event: Event, settings: TraceSettings) -> Step:
    body = event.body
    outcome = "ingested"
    for unit in map(obj, items(body.get("RepairedUnits"))):
        uid = text(unit.get("UnitIdentifier"))
        board, created = yield from find_board(event, units=[uid] if uid else [])
        outcome = note_unknown(event, created, outcome)
        repairs = [obj(r) for r in items(unit.get("Repairs"))] or [{}]
        for repair in repairs:
            event.batch.add(
                "trace_repair",
                [
                    event.unique_id,
                    board,
                    uid,
                    event.machine_id,
                    event.time_us,
                    text(repair.get("Result")) or text(unit.get("OverallResult")),
                    operator_of(body.get("RepairOperator")),
                    text(repair.get("ReferenceDesignator"))
                    or designator_of(repair.get("ComponentOfInterest")),
                    text(repair.get("RepairName")),
                ],
            )
    return outcome


def _materials_installed(event: Event, settings: TraceSettings) -> Step:
    body = event.body
    txn = txn_of(body)
    by_txn = yield from board_by_txn(event, txn)
    outcome = "ingested" if by_txn is not None or txn is None else "pending-transaction"
    for item in map(obj, items(body.get("InstalledMaterials"))):
        uid = text(item.get("UnitIdentifier"))
        board, created = by_txn, False
        if board is None and uid is not None:
            board, created = yield from find_board(event, units=[uid])
            outcome = note_unknown(event, created, "ingested")
        material = obj(item.get("Material"))
        location = obj(item.get("CarrierLocation"))
        carrier = obj(location.get("CarrierInformation"))
        designators = [d for c in items(item.get("InstalledComponents")) if (d := designator_of(c))]
        event.batch.add(
            "trace_material",
            [
                event.unique_id,
                txn,
                board,
                uid,
                event.machine_id,
                event.time_us,
                text(material.get("UniqueIdentifier")),
                text(material.get("BatchId")),
                text(material.get("InternalPartNumber")),
                text(location.get("LocationIdentifier")),
                text(carrier.get("UniqueIdentifier")),
                number(item.get("QuantityInstalled")),
                ",".join(designators) or None,
            ],
        )
    return outcome


def _materials_loaded(event: Event, settings: TraceSettings) -> Step:
    for item in map(obj, items(event.body.get("Materials"))):
        location = text(item.get("LocationIdentifier"))
        package = obj(item.get("MaterialPackage"))
        yield Sql(
            "UPDATE trace_load SET unloaded_us = ?"
            " WHERE machine = ? AND location = ? AND unloaded_us IS NULL",
            (event.time_us, event.machine_id, location),
        )
        yield Sql(
            "INSERT INTO trace_load (machine, location, reel, lot, part_number, loaded_us)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                event.machine_id,
                location,
                text(package.get("UniqueIdentifier")),
                text(package.get("BatchId")),
                text(package.get("InternalPartNumber")),
                event.time_us,
            ),
        )
    return "ingested"


def _materials_unloaded(event: Event, settings: TraceSettings) -> Step:
    for reel in items(event.body.get("MaterialPackageIdentifiers")):
        yield Sql(
            "UPDATE trace_load SET unloaded_us = ? WHERE machine = ? AND reel = ? AND unloaded_us IS NULL",
            (event.time_us, event.machine_id, reel),
        )
    return "ingested"


def _fault(event: Event, settings: TraceSettings) -> Step:
    fault = obj(event.body.get("Fault"))
    occurrence = text(fault.get("FaultOccurrenceId"))
    if occurrence is None:
        return "no-occurrence"
    yield Sql(
        "INSERT INTO trace_fault (occurrence_id, machine, code, severity, cause, description, occurred_us)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (occurrence_id) DO UPDATE SET machine = excluded.machine,"
        " code = excluded.code, severity = excluded.severity, cause = excluded.cause,"
        " description = excluded.description, occurred_us = excluded.occurred_us",
        (
            occurrence.lower(),
            event.machine_id,
            text(fault.get("FaultCode")),
            text(fault.get("Severity")),
            text(fault.get("Cause")),
            text(fault.get("Description")),
            event.time_us,
        ),
    )
    return "ingested"


def _fault_cleared(event: Event, settings: TraceSettings) -> Step:
    occurrence = text(event.body.get("FaultOccurrenceId"))
    if occurrence is None:
        return "no-occurrence"
    yield Sql(
        "INSERT INTO trace_fault (occurrence_id, machine, cleared_us) VALUES (?, ?, ?)"
        " ON CONFLICT (occurrence_id) DO UPDATE SET cleared_us = excluded.cleared_us",
        (occurrence.lower(), event.machine_id, event.time_us),
    )
    return "ingested"


def _recipe_activated(event: Event, settings: TraceSettings) -> Step:
    yield from ()  # a step like the others, though its row needs nothing read
    body = event.body
    event.batch.add(
        "trace_recipe",
        [
            event.machine_id,
            event.time_us,
            text(body.get("RecipeName")),
            text(body.get("Revision")),
            text(obj(body.get("WorkOrderIdentifier")).get("WorkOrderId")),
        ],
    )
    return "ingested"


def _operator_activated(event: Event, settings: TraceSettings) -> Step:
    yield Sql(
        "UPDATE trace_operator SET to_us = ? WHERE machine = ? AND to_us IS NULL AND from_us <= ?",
        (event.time_us, event.machine_id, event.time_us),
    )
    yield Sql(
        "INSERT INTO trace_operator (machine, operator, from_us) VALUES (?, ?, ?)",
        (event.machine_id, operator_of(event.body.get("Operator")), event.time_us),
    )
    return "ingested"


def _operator_deactivated(event: Event, settings: TraceSettings) -> Step:
    yield Sql(
        "UPDATE trace_operator SET to_us = ? WHERE machine = ? AND operator = ? AND to_us IS NULL",
        (event.time_us, event.machine_id, operator_of(event.body.get("Operator"))),
    )
    return "ingested"


_HANDLERS: dict[str, Callable[[Event, TraceSettings], Step]] = {
    "CFX.Production.WorkStarted": _work_started,
    "CFX.Production.WorkCompleted": _work_completed,
    "CFX.Production.UnitsArrived": _movement("arrived_us"),
    "CFX.Production.UnitsDeparted": _movement("departed_us"),
    "CFX.Production.Processing.UnitsProcessed": _units_processed,
    "CFX.Production.TestAndInspection.UnitsInspected": _results(
        "inspection", "InspectedUnits", "Inspections", "InspectionName", "Inspector", "InspectionMethod"
    ),
    "CFX.Production.TestAndInspection.UnitsTested": _results(
        "test", "TestedUnits", "Tests", "TestName", "Tester", "TestMethod"
    ),
    "CFX.Production.ReworkAndRepair.UnitsRepaired": _units_repaired,
    "CFX.Production.Assembly.MaterialsInstalled": _materials_installed,
    "CFX.Materials.Storage.MaterialsLoaded": _materials_loaded,
    "CFX.Materials.Storage.MaterialsUnloaded": _materials_unloaded,
    "CFX.ResourcePerformance.FaultOccurred": _fault,
    "CFX.ResourcePerformance.FaultCleared": _fault_cleared,
    "CFX.Production.RecipeActivated": _recipe_activated,
    "CFX.Production.OperatorActivated": _operator_activated,
    "CFX.Production.OperatorDeactivated": _operator_deactivated,
}

#: The messages the trace store reads; everything else is recorded as seen and ignored.
HANDLED: frozenset[str] = frozenset(_HANDLERS)

__all__ = ["HANDLED", "IngestStats", "TraceSettings", "ingest", "micros", "reflow_figures", "wire_body"]
