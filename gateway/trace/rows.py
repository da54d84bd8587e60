"""Writing an ingest batch: what it created and changed, with one statement per table.

``write(batch)`` is the last step of the ingest's unit of work (``gateway.trace.ingest``), after
every envelope of the batch was applied to the batch's picture (``gateway.trace.boards.Batch``):

1. ids for the rows the batch created and other rows reference (boards, passes, process data,
   results), reserved up front (``Ids``), so the rows are written with their ids in one go;
2. new rows: one multi-row ``INSERT`` per table (split only past ``CHUNK`` rows);
3. changed boards and passes: one ``UPDATE ... FROM (VALUES ...)`` per table;
4. rows of earlier batches that waited for a TransactionID this batch gave a board: one
   ``UPDATE`` per table.

The statements are plain SQL both databases run (SQLite 3.35 or later, as ``RETURNING`` already
requires): VALUES lists name their columns ``column1``, ``column2``, ... in both, and the first
row of an update's list carries casts so PostgreSQL knows each column's type even when every
value in it is NULL.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

from gateway.trace.boards import NEW, PASS_COLUMNS, Batch, Board, Pass, Rows, chunks, marks
from gateway.trace.store import Ids, Sql, Statement


def _columns(names: str) -> tuple[str, ...]:
    return tuple(names.split(", "))


#: Columns of the rows handlers append (``Batch.add``), per table, in write order.
TABLES: dict[str, tuple[str, ...]] = {
    "trace_process": _columns(
        "id, unique_id, transaction_id, board, machine, time_us, kind, result, conveyor_speed,"
        " liquidus_c, above_liquidus_s, peak_c"
    ),
    "trace_zone": _columns("process, sequence, name, peak_c, setpoint_c"),
    "trace_result": _columns(
        "id, unique_id, transaction_id, board, unit_identifier, machine, time_us, kind, method, result,"
        " recipe, operator"
    ),
    "trace_defect": _columns("result, test_name, code, component, description"),
    "trace_repair": _columns(
        "unique_id, board, unit_identifier, machine, time_us, result, operator, component, name"
    ),
    "trace_material": _columns(
        "unique_id, transaction_id, board, unit_identifier, machine, time_us, reel, lot, part_number,"
        " location, feeder, quantity, designators"
    ),
    "trace_recipe": _columns("machine, time_us, recipe, revision, work_order"),
}

#: Per table, the columns holding the key of another row of the batch (or of this one: id).
_REFS: dict[str, tuple[str, ...]] = {
    "trace_process": ("id", "board"),
    "trace_zone": ("process",),
    "trace_result": ("id", "board"),
    "trace_defect": ("result",),
    "trace_repair": ("board",),
    "trace_material": ("board",),
}

#: Tables whose rows may wait for their TransactionID's board.
LINKED = ("trace_process", "trace_material", "trace_result")

#: Most parameters in one statement (SQLite allows 32,766, PostgreSQL 65,535).
_PARAMS = 30_000

_BOARD = ("id", "barcode", "hermes_id", "work_order", "batch", "first_us", "last_us")
_PASS = _columns(PASS_COLUMNS)
_PASS_TYPES = ("BIGINT", "BIGINT", "TEXT", "TEXT", "INTEGER", *("TEXT",) * 4, *("BIGINT",) * 4)


def insert(
    table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], tail: str = ""
) -> Generator[Sql, Rows, None]:
    """``rows`` into ``table`` with as few multi-row INSERTs as the parameter limits allow."""
    width = len(columns)
    one = f"({marks(width)})"
    for chunk in chunks(rows, max(1, _PARAMS // width)):
        yield Sql(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one] * len(chunk))}{tail}",
            [value for row in chunk for value in row],
        )


def update(
    table: str, types: Sequence[str], assignments: str, rows: Sequence[Sequence[Any]]
) -> Generator[Sql, Rows, None]:
    """An ``UPDATE table SET assignments FROM (VALUES rows) AS v WHERE id = v.column1``."""
    width = len(types)
    first = "(" + ", ".join(f"CAST(? AS {t})" for t in types) + ")"
    other = f"({marks(width)})"
    for chunk in chunks(rows, max(1, _PARAMS // width)):
        values = ", ".join([first] + [other] * (len(chunk) - 1))
        yield Sql(
            f"UPDATE {table} SET {assignments} FROM (VALUES {values}) AS v WHERE {table}.id = v.column1",
            [value for row in chunk for value in row],
        )


def write(batch: Batch) -> Generator[Statement, Rows, None]:
    """Write what ``batch`` created and changed (see the module docstring)."""
    ids: dict[int, int] = {}
    new_boards = [b for b in batch.boards.values() if b.id >= NEW]
    new_passes = [p for p in batch.passes.values() if p.id >= NEW]
    for table, keys in (
        ("trace_board", [b.id for b in new_boards]),
        ("trace_pass", [p.id for p in new_passes]),
        ("trace_process", [row[0] for row in batch.rows.get("trace_process", ())]),
        ("trace_result", [row[0] for row in batch.rows.get("trace_result", ())]),
    ):
        if keys:
            reserved = yield Ids(table, len(keys))
            ids.update(zip(keys, (int(r[0]) for r in reserved), strict=True))

    def real(key: int | None) -> int | None:
        return None if key is None else ids.get(key, key)

    yield from insert("trace_board", _BOARD, [_board_row(b, real) for b in new_boards])
    changed = [_board_row(b, real) for b in batch.boards.values() if b.changed and b.id < NEW]
    # Relative to the row as it is now, like every other writer's update of a board.
    yield from update(
        "trace_board",
        ("BIGINT", "TEXT", "TEXT", "TEXT", "TEXT", "BIGINT", "BIGINT"),
        "barcode = COALESCE(trace_board.barcode, v.column2),"
        " hermes_id = COALESCE(trace_board.hermes_id, v.column3),"
        " work_order = COALESCE(v.column4, trace_board.work_order),"
        " batch = COALESCE(v.column5, trace_board.batch),"
        " first_us = CASE WHEN trace_board.first_us > v.column6 THEN v.column6 ELSE trace_board.first_us END,"
        " last_us = CASE WHEN trace_board.last_us < v.column7 THEN v.column7 ELSE trace_board.last_us END",
        changed,
    )
    yield from insert(
        "trace_ident",
        ("value", "kind", "board"),
        [(value, kind, real(board)) for value, kind, board in batch.new_idents],
        " ON CONFLICT DO NOTHING",
    )
    yield from insert("trace_pass", _PASS, [_pass_row(p, real) for p in new_passes])
    # The batch's end state of each pass; what it left empty keeps what another writer may have
    # set meanwhile (the result is the last WorkCompleted's, as in memory).
    yield from update(
        "trace_pass",
        _PASS_TYPES,
        ", ".join(
            f"{column} = v.column{i}"
            if column == "result"
            else f"{column} = COALESCE(v.column{i}, trace_pass.{column})"
            for i, column in enumerate(_PASS, 1)
            if column not in ("id", "board", "machine")
        ),
        [_pass_row(p, real) for p in batch.passes.values() if p.changed and p.id < NEW],
    )
    linked = {txn: real(board) for txn, board in batch.linked.items()}
    # Rows of earlier batches that named a TransactionID this batch gave a board join it.
    for table in LINKED:
        for chunk in chunks(list(linked.items())):
            yield Sql(
                f"UPDATE {table} SET board = CASE transaction_id"
                + " WHEN ? THEN ?" * len(chunk)
                + f" END WHERE board IS NULL AND transaction_id IN ({marks(len(chunk))})",
                [*(value for pair in chunk for value in pair), *(txn for txn, _ in chunk)],
            )
    for table, columns in TABLES.items():
        rows = batch.rows.get(table)
        if not rows:
            continue
        refs = [columns.index(c) for c in _REFS.get(table, ())]
        board = columns.index("board") if "board" in columns else None
        txn = columns.index("transaction_id") if "transaction_id" in columns else None
        for row in rows:
            if board is not None and txn is not None and row[board] is None:
                # Rows of this batch that came before their TransactionID's board was known.
                row[board] = linked.get(row[txn])
            for i in refs:
                row[i] = real(row[i])
        yield from insert(table, columns, rows)


def _board_row(board: Board, real: Any) -> tuple[Any, ...]:
    return (
        real(board.id),
        board.barcode,
        board.hermes_id,
        board.work_order,
        board.batch,
        board.first_us,
        board.last_us,
    )


def _pass_row(visit: Pass, real: Any) -> tuple[Any, ...]:
    return (
        real(visit.id),
        real(visit.board),
        visit.machine_id,
        visit.transaction_id,
        visit.lane,
        visit.recipe,
        visit.revision,
        visit.work_order,
        visit.result,
        visit.arrived_us,
        visit.started_us,
        visit.completed_us,
        visit.departed_us,
    )


__all__ = ["LINKED", "TABLES", "insert", "update", "write"]
