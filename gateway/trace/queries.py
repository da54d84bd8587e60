"""Questions the trace store answers, each a unit of work over either database.

- ``find_boards(identifier)``: every board known by a barcode, Hermes BoardId or unit identifier.
  A barcode can name several boards (a reused label, two runs of the same serial range): all of
  them are returned, oldest first, and the caller shows them all.
- ``genealogy(board)``: the board's whole history (passes with times, recipe, operator and work
  order; process data with reflow zone peaks and time above liquidus; inspection and test results
  with defects; repairs; materials; faults active while it was in a machine).
- ``material_boards(lot_or_reel)``: the boards that got parts from a reel or lot.
- ``window_boards(machine, start, end)``: the boards in a machine during a time window.
- ``fault_boards(occurrence)``: the boards in the machine while a fault occurrence was active.

Times come back as ISO 8601 UTC strings; the store keeps µs since the epoch.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.trace.store import Row, Sql, Work

Record = dict[str, Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: "Still open": a pass with no departure yet, or a fault not cleared, lasts until this.
FOREVER = 2**62


def iso(us: int | None) -> str | None:
    """A store time as ISO 8601 UTC (``2026-12-06T07:36:22.360680Z``), or None."""
    if us is None:
        return None
    # Always with microseconds: one fixed width, so the strings sort as the times do.
    when = _EPOCH + timedelta(microseconds=int(us))
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _records(columns: str, rows: list[Row], times: tuple[str, ...] = ()) -> list[Record]:
    names = [c.strip() for c in columns.split(",")]
    out = []
    for row in rows:
        record = dict(zip(names, row, strict=True))
        for name in times:
            record[name] = iso(record[name])
        out.append(record)
    return out


def find_boards(identifier: str) -> Work[list[int]]:
    """The ids of every board known by ``identifier`` (any kind), oldest first."""
    rows = yield Sql("SELECT DISTINCT board FROM trace_ident WHERE value = ? ORDER BY board", (identifier,))
    return [int(r[0]) for r in rows]


#: A pass's interval: from its first known time to its last (open while the board is inside).
_START = "COALESCE(p.arrived_us, p.started_us, p.completed_us, p.departed_us)"
_END = f"COALESCE(p.departed_us, p.completed_us, {FOREVER})"

_PASS_COLUMNS = (
    "pass, machine, lane, transaction_id, arrived, started, completed, departed, result, recipe, revision,"
    " work_order, operator"
)
_PASS_SQL = f"""
SELECT p.id, p.machine, p.lane, p.transaction_id, p.arrived_us, p.started_us, p.completed_us, p.departed_us,
  p.result,
  COALESCE(p.recipe, (SELECT r.recipe FROM trace_recipe r WHERE r.machine = p.machine
    AND r.time_us <= {_START} ORDER BY r.time_us DESC LIMIT 1)),
  COALESCE(p.revision, (SELECT r.revision FROM trace_recipe r WHERE r.machine = p.machine
    AND r.time_us <= {_START} ORDER BY r.time_us DESC LIMIT 1)),
  COALESCE(p.work_order, (SELECT r.work_order FROM trace_recipe r WHERE r.machine = p.machine
    AND r.time_us <= {_START} ORDER BY r.time_us DESC LIMIT 1)),
  (SELECT o.operator FROM trace_operator o WHERE o.machine = p.machine AND o.from_us <= {_START}
    AND (o.to_us IS NULL OR o.to_us > {_START}) ORDER BY o.from_us DESC LIMIT 1)
FROM trace_pass p WHERE p.board = ? ORDER BY {_START}, p.id
"""


def genealogy(board: int) -> Work[Record]:
    """Everything the store knows about one board (see the module docstring)."""
    rows = yield Sql(
        "SELECT id, barcode, hermes_id, work_order, batch, first_us, last_us FROM trace_board WHERE id = ?",
        (board,),
    )
    if not rows:
        return {}
    record = _records(
        "board, barcode, hermes_id, work_order, batch, first_seen, last_seen",
        rows,
        ("first_seen", "last_seen"),
    )[0]
    rows = yield Sql("SELECT kind, value FROM trace_ident WHERE board = ? ORDER BY kind, value", (board,))
    record["identifiers"] = _records("kind, value", rows)
    rows = yield Sql(_PASS_SQL, (board,))
    record["passes"] = _records(_PASS_COLUMNS, rows, ("arrived", "started", "completed", "departed"))
    # The board row is updated only when something about the board changes; its passes know
    # when it was last seen.
    times = [p[k] for p in record["passes"] for k in ("arrived", "started", "completed", "departed") if p[k]]
    record["last_seen"] = max([record["last_seen"], *times])
    record["process"] = yield from _process(board)
    rows = yield Sql(
        "SELECT id, machine, time_us, kind, method, unit_identifier, result, recipe, operator"
        " FROM trace_result WHERE board = ? ORDER BY time_us, id",
        (board,),
    )
    results = _records(
        "id, machine, time, kind, method, unit_identifier, result, recipe, operator", rows, ("time",)
    )
    for result in results:
        rows = yield Sql(
            "SELECT test_name, code, component, description FROM trace_defect WHERE result = ?",
            (result.pop("id"),),
        )
        result["defects"] = _records("check, code, component, description", rows)
    record["results"] = results
    rows = yield Sql(
        "SELECT machine, time_us, unit_identifier, result, operator, component, name FROM trace_repair"
        " WHERE board = ? ORDER BY time_us",
        (board,),
    )
    record["repairs"] = _records(
        "machine, time, unit_identifier, result, operator, component, repair", rows, ("time",)
    )
    rows = yield Sql(
        "SELECT machine, time_us, reel, lot, part_number, location, feeder, quantity, designators"
        " FROM trace_material WHERE board = ? ORDER BY time_us, location",
        (board,),
    )
    record["materials"] = _records(
        "machine, time, reel, lot, part_number, location, feeder, quantity, designators", rows, ("time",)
    )
    rows = yield Sql(
        f"SELECT f.occurrence_id, f.machine, f.code, f.severity, f.description, f.occurred_us, f.cleared_us"
        f" FROM trace_pass p JOIN trace_fault f ON f.machine = p.machine"
        f" AND f.occurred_us <= {_END} AND COALESCE(f.cleared_us, {FOREVER}) >= {_START}"
        f" WHERE p.board = ? ORDER BY f.occurred_us",
        (board,),
    )
    record["faults"] = _records(
        "occurrence_id, machine, code, severity, description, occurred, cleared",
        rows,
        ("occurred", "cleared"),
    )
    return record


def _process(board: int) -> Work[list[Record]]:
    rows = yield Sql(
        "SELECT id, machine, time_us, kind, result, conveyor_speed, peak_c, liquidus_c, above_liquidus_s"
        " FROM trace_process WHERE board = ? ORDER BY time_us",
        (board,),
    )
    out = _records(
        "id, machine, time, kind, result, conveyor_speed, peak_c, liquidus_c, above_liquidus_s",
        rows,
        ("time",),
    )
    for process in out:
        rows = yield Sql(
            "SELECT sequence, name, peak_c, setpoint_c FROM trace_zone WHERE process = ? ORDER BY sequence",
            (process.pop("id"),),
        )
        process["zones"] = _records("sequence, name, peak_c, setpoint_c", rows)
    return out


_BOARD = "b.id, b.barcode, b.hermes_id"


def material_boards(lot_or_reel: str) -> Work[list[Record]]:
    """Boards with parts from a reel or lot: installed (per board) or loaded (inferred).

    ``source`` is ``installed`` when the machine reported the material on the board
    (MaterialsInstalled), ``loaded`` when the reel was loaded on the machine (MaterialsLoaded)
    while the board was worked there and the machine reported no per-board materials for it.
    """
    rows = yield Sql(
        f"SELECT DISTINCT {_BOARD}, m.machine, m.reel, m.lot, m.part_number, m.location, m.designators,"
        # Two indexed lookups: an OR of two columns is a table scan in SQLite, and an IN over
        # a UNION a hash join over the whole table in PostgreSQL.
        " m.time_us FROM (SELECT * FROM trace_material WHERE reel = ?"
        " UNION ALL SELECT * FROM trace_material WHERE lot = ? AND (reel IS NULL OR reel <> lot)) m"
        " JOIN trace_board b ON b.id = m.board ORDER BY m.time_us, b.id",
        (lot_or_reel, lot_or_reel),
    )
    out = _records(
        "board, barcode, hermes_id, machine, reel, lot, part_number, location, designators, time",
        rows,
        ("time",),
    )
    for record in out:
        record["source"] = "installed"
    rows = yield Sql(
        f"SELECT DISTINCT {_BOARD}, l.machine, l.reel, l.lot, l.part_number, l.location, {_START}"
        f" FROM trace_load l JOIN trace_pass p ON p.machine = l.machine"
        f" AND {_START} >= l.loaded_us AND {_START} < COALESCE(l.unloaded_us, {FOREVER})"
        " JOIN trace_board b ON b.id = p.board"
        " WHERE (l.reel = ? OR l.lot = ?) AND NOT EXISTS (SELECT 1 FROM trace_material m"
        " WHERE m.board = p.board AND m.machine = p.machine) ORDER BY b.id",
        (lot_or_reel, lot_or_reel),
    )
    for record in _records(
        "board, barcode, hermes_id, machine, reel, lot, part_number, location, time", rows, ("time",)
    ):
        record["designators"] = None
        record["source"] = "loaded"
        out.append(record)
    return out


def window_boards(machine_id: str, start_us: int, end_us: int) -> Work[list[Record]]:
    """Boards whose pass through ``machine`` overlaps [start, end] (a pass still open counts)."""
    rows = yield Sql(
        f"SELECT {_BOARD}, p.arrived_us, p.started_us, p.completed_us, p.departed_us, p.result"
        f" FROM trace_pass p JOIN trace_board b ON b.id = p.board"
        f" WHERE p.machine = ? AND {_START} <= ? AND {_END} >= ? ORDER BY {_START}, b.id",
        (machine_id, end_us, start_us),
    )
    return _records(
        "board, barcode, hermes_id, arrived, started, completed, departed, result",
        rows,
        ("arrived", "started", "completed", "departed"),
    )


def fault(occurrence: str) -> Work[Record]:
    """One fault occurrence, or an empty record when unknown."""
    rows = yield Sql(
        "SELECT occurrence_id, machine, code, severity, cause, description, occurred_us, cleared_us"
        " FROM trace_fault WHERE occurrence_id = ?",
        (occurrence.lower(),),
    )
    found = _records("occurrence_id, machine, code, severity, cause, description, occurred, cleared", rows)
    return found[0] if found else {}


def fault_boards(occurrence: str) -> Work[tuple[Record, list[Record]]]:
    """The fault and the boards in its machine while it was active (uncleared: until now)."""
    record = yield from fault(occurrence)
    if not record or record["occurred"] is None:
        return record, []
    boards = yield from window_boards(record["machine"], record["occurred"], record["cleared"] or FOREVER)
    record["occurred"], record["cleared"] = iso(record["occurred"]), iso(record["cleared"])
    return record, boards


def machines() -> Work[list[str]]:
    """Every machine (CFX handle) with a board pass in the store."""
    rows = yield Sql("SELECT DISTINCT machine FROM trace_pass ORDER BY machine")
    return [str(r[0]) for r in rows]


__all__ = [
    "FOREVER",
    "Record",
    "fault",
    "fault_boards",
    "find_boards",
    "genealogy",
    "iso",
    "machines",
    "material_boards",
    "window_boards",
]
