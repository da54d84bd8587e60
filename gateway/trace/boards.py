"""Boards and their passes through machines, as the ingest finds or creates them.

Helpers for the ingest's handlers (``gateway.trace.ingest``): reading the SDK's wire JSON
leniently, finding the board a set of identifiers names, and the pass (one visit of a board to a
machine) an event belongs to. Every function that touches the store is a unit-of-work step
(``gateway.trace.store``).
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from gateway.trace.store import Sql

log = structlog.get_logger("linegate.trace.ingest")

Body = dict[str, Any]
Rows = list[tuple[Any, ...]]
Step = Generator[Sql, Rows, str]


@dataclass(slots=True)
class BatchCache:
    """What one batch (one transaction) already knows, so repeated lookups cost no statement.

    Only facts this transaction has read or written are kept, and only for its duration: a board
    found by an identifier, and the pass (and its board) of a TransactionID.
    """

    idents: dict[tuple[str, str], int] = field(default_factory=dict)
    passes: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Event:
    """One envelope, as the handlers need it, with its batch's cache."""

    unique_id: str
    name: str
    machine: str
    time_us: int
    body: Body
    cache: BatchCache


# --- reading the wire body -------------------------------------------------------------------


def text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def obj(value: Any) -> Body:
    return value if isinstance(value, dict) else {}


def items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def txn_of(body: Body) -> str | None:
    # The SDK spells it TransactionID on some messages and TransactionId on others (cfx.md).
    value = text(body.get("TransactionID")) or text(body.get("TransactionId"))
    if value is None or value == str(uuid.UUID(int=0)):
        return None
    return value.lower()


def units_of(body: Body) -> list[str]:
    return [u for item in items(body.get("Units")) if (u := text(obj(item).get("UnitIdentifier")))]


def operator_of(value: Any) -> str | None:
    op = obj(value)
    return text(op.get("OperatorIdentifier")) or text(op.get("LoginName"))


def designator_of(value: Any) -> str | None:
    return text(obj(value).get("ReferenceDesignator"))


def number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


# --- boards and passes -----------------------------------------------------------------------


def find_board(
    event: Event,
    *,
    hermes: str | None = None,
    barcode: str | None = None,
    units: Sequence[str] = (),
    work_order: tuple[str | None, str | None] = (None, None),
) -> Generator[Sql, Rows, tuple[int | None, bool]]:
    """The board these identifiers name, created if new; returns (board id or None, created)."""
    wanted = [
        (k, v) for k, v in (("hermes", hermes), ("barcode", barcode), *(("unit", u) for u in units)) if v
    ]
    known = {event.cache.idents.get(key) for key in wanted}
    if wanted and len(known) == 1 and not any(work_order) and (cached := known.pop()) is not None:
        return cached, False
    board: int | None = None
    values = list(dict.fromkeys(v for _, v in wanted))
    if values:
        # Every board any of the identifiers names, in one query; the rules below pick one.
        rows = yield Sql(
            "SELECT i.kind, i.value, b.id, b.hermes_id"
            " FROM trace_ident i JOIN trace_board b ON b.id = i.board"
            f" WHERE i.value IN ({', '.join('?' * len(values))})",
            values,
        )
        board = _choose(rows, hermes, [v for v in (barcode, *units) if v])
    created = board is None
    if board is None:
        if not (hermes or barcode or units):
            return None, False
        rows = yield Sql(
            "INSERT INTO trace_board (barcode, hermes_id, work_order, batch, first_us, last_us)"
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (barcode or (units[0] if units else None), hermes, *work_order, event.time_us, event.time_us),
        )
        board = int(rows[0][0])
    new = [key for key in wanted if event.cache.idents.get(key) != board]
    if not created and (new or any(work_order)):
        # Something new about a known board (an identifier, its work order): first_us/last_us
        # move with it; the passes carry the rest of its times.
        yield Sql(
            "UPDATE trace_board SET hermes_id = COALESCE(hermes_id, ?), barcode = COALESCE(barcode, ?),"
            " work_order = COALESCE(?, work_order), batch = COALESCE(?, batch),"
            " first_us = CASE WHEN first_us > ? THEN ? ELSE first_us END,"
            " last_us = CASE WHEN last_us < ? THEN ? ELSE last_us END WHERE id = ?",
            (hermes, barcode, *work_order, *(event.time_us,) * 4, board),
        )
    for kind, value in new:
        yield Sql(
            "INSERT INTO trace_ident (value, kind, board) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (value, kind, board),
        )
        event.cache.idents[(kind, value)] = board
    return board, created


def _choose(rows: Rows, hermes: str | None, labels: list[str]) -> int | None:
    # By Hermes BoardId first; else the newest board with the first label that has one, unless
    # that board has another Hermes BoardId (a reused barcode: a new board).
    if hermes:
        by_hermes = [int(r[2]) for r in rows if r[0] == "hermes" and r[1] == hermes]
        if by_hermes:
            return max(by_hermes)
    for label in labels:
        named = [r for r in rows if r[0] in ("barcode", "unit") and r[1] == label]
        if named:
            newest = max(named, key=lambda r: int(r[2]))
            if not (hermes and newest[3] and newest[3] != hermes):
                return int(newest[2])
    return None


def board_of(event: Event) -> Generator[Sql, Rows, tuple[int | None, bool]]:
    body = event.body
    order = obj(body.get("WorkOrderIdentifier"))
    return (
        yield from find_board(
            event,
            hermes=text(body.get("HermesIdentifier")),
            barcode=text(body.get("PrimaryIdentifier")),
            units=units_of(body),
            work_order=(text(order.get("WorkOrderId")), text(order.get("Batch"))),
        )
    )


#: Where a board is expected to appear first: the line's entry (or its first CFX machine).
ENTRY = frozenset({"CFX.Production.UnitsArrived", "CFX.Production.WorkStarted"})


def note_unknown(event: Event, created: bool, outcome: str = "ingested") -> str:
    if not created:
        return outcome
    if event.name in ENTRY:
        log.debug("trace.ingest.new_board", message=event.name, machine=event.machine)
        return outcome
    log.warning(
        "trace.ingest.unknown_board", message=event.name, machine=event.machine, unique_id=event.unique_id
    )
    return "unknown-board"


LINKED = ("trace_process", "trace_material", "trace_result")


def pass_for(event: Event, board: int, txn: str | None) -> Generator[Sql, Rows, int]:
    """The pass of ``board`` at the event's machine for ``txn``: by TransactionID, else the
    latest pass there with none yet (made by UnitsArrived), else a new one."""
    if txn is not None and txn in event.cache.passes:
        return event.cache.passes[txn][0]
    # Both candidates in one round trip: the pass with this TransactionID (0), else the latest
    # pass here with none yet (1).
    rows = yield Sql(
        "SELECT id, 0 FROM trace_pass WHERE transaction_id = ?"
        " UNION ALL SELECT id, 1 FROM (SELECT id FROM trace_pass WHERE board = ? AND machine = ?"
        " AND transaction_id IS NULL ORDER BY id DESC LIMIT 1) open_pass",
        (txn, board, event.machine),
    )
    named = [int(r[0]) for r in rows if r[1] == 0]
    if named and txn is not None:
        event.cache.passes[txn] = (named[0], board)
        return named[0]
    if rows:
        pass_id = int(rows[0][0])
        yield Sql("UPDATE trace_pass SET transaction_id = ? WHERE id = ?", (txn, pass_id))
    else:
        rows = yield Sql(
            "INSERT INTO trace_pass (board, machine, transaction_id) VALUES (?, ?, ?) RETURNING id",
            (board, event.machine, txn),
        )
        pass_id = int(rows[0][0])
    if txn is not None:
        event.cache.passes[txn] = (pass_id, board)
        # What arrived before this transaction was known to belong to a board joins it now.
        for table in LINKED:
            yield Sql(
                f"UPDATE {table} SET board = ? WHERE transaction_id = ? AND board IS NULL", (board, txn)
            )
    return pass_id


def board_by_txn(event: Event, txn: str | None) -> Generator[Sql, Rows, int | None]:
    """The board whose pass has TransactionID ``txn``, or None (not seen yet)."""
    if txn is None:
        return None
    if txn in event.cache.passes:
        return event.cache.passes[txn][1]
    rows = yield Sql("SELECT id, board FROM trace_pass WHERE transaction_id = ? LIMIT 1", (txn,))
    if not rows:
        return None
    event.cache.passes[txn] = (int(rows[0][0]), int(rows[0][1]))
    return int(rows[0][1])


__all__ = [
    "ENTRY",
    "LINKED",
    "BatchCache",
    "Body",
    "Event",
    "Rows",
    "Step",
    "board_by_txn",
    "board_of",
    "designator_of",
    "find_board",
    "items",
    "note_unknown",
    "number",
    "obj",
    "operator_of",
    "pass_for",
    "text",
    "txn_of",
    "units_of",
]
