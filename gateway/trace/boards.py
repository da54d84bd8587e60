"""Boards and their passes through machines, as one ingest batch finds, creates and changes them.

The ingest (``gateway.trace.ingest``) is set-based: a batch first reads every board, identifier
and pass its envelopes can touch (a few statements for the whole batch), then applies the
envelopes in order to that picture in memory (``Batch``), and finally writes what changed with
one statement per table (``gateway.trace.rows``). The rules a handler follows (which board an
identifier names, which pass an event fills) read only the picture, so they give the same answers
as if every step had asked the database, and the database sees the batch's end state.

A lookup the batch did not read up front (a key only a handler computes) is read on demand, so
the up-front read is an optimisation, never a condition for correct answers.

Rows this batch creates get keys from ``NEW`` up: above any id the database holds, so "the
newest board with this barcode" compares them correctly; ``gateway.trace.rows`` swaps them for
reserved ids when it writes.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from gateway.trace.store import Sql, Statement

log = structlog.get_logger("linegate.trace.ingest")

Body = dict[str, Any]
Rows = list[tuple[Any, ...]]
Step = Generator[Statement, Rows, str]

#: The first key of a row the batch creates (the database's ids stay far below it).
NEW = 1 << 60

#: Values per ``IN (...)`` list: far below SQLite's 32,766 parameters and PostgreSQL's 65,535.
CHUNK = 500

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


def lane_of(body: Body) -> int | None:
    # An integer column in both databases: anything else on the wire is no lane.
    value = body.get("Lane")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


_NAMING = frozenset({"HermesIdentifier", "PrimaryIdentifier", "UnitIdentifier"})


def identifiers_in(body: Body, out: list[str]) -> None:
    """The board identifiers a wire body names where handlers look: its own members and those
    of the objects its lists hold (Units, InspectedUnits, InstalledMaterials, ...)."""
    for key, member in body.items():
        if isinstance(member, str):
            if member and key in _NAMING:
                out.append(member)
        elif isinstance(member, list):
            for item in member:
                if isinstance(item, dict) and (unit := text(item.get("UnitIdentifier"))):
                    out.append(unit)


# --- the batch's picture ---------------------------------------------------------------------


@dataclass(slots=True)
class Board:
    """A ``trace_board`` row as the batch sees it."""

    id: int
    barcode: str | None
    hermes_id: str | None
    work_order: str | None
    batch: str | None
    first_us: int
    last_us: int
    changed: bool = False


#: ``trace_pass``'s columns, in ``Pass`` field order.
PASS_COLUMNS = (
    "id, board, machine, transaction_id, lane, recipe, revision, work_order, result,"
    " arrived_us, started_us, completed_us, departed_us"
)


@dataclass(slots=True)
class Pass:
    """A ``trace_pass`` row (one visit of a board to a machine) as the batch sees it."""

    id: int
    board: int
    machine_id: str
    transaction_id: str | None = None
    lane: int | None = None
    recipe: str | None = None
    revision: str | None = None
    work_order: str | None = None
    result: str | None = None
    arrived_us: int | None = None
    started_us: int | None = None
    completed_us: int | None = None
    departed_us: int | None = None
    changed: bool = False


@dataclass(frozen=True, slots=True)
class Event:
    """One envelope, as the handlers need it, with its batch."""

    unique_id: str
    name: str
    machine_id: str
    time_us: int
    body: Body
    batch: Batch


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    return (values[i : i + size] for i in range(0, len(values), size))


def marks(count: int) -> str:
    return ", ".join("?" * count)


@dataclass(slots=True)
class Batch:
    """What one ingest batch (one transaction) knows and will write (see the module docstring)."""

    boards: dict[int, Board] = field(default_factory=dict)
    #: identifier -> (kind, board) of every ``trace_ident`` row with it (read or new)
    idents: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    new_idents: list[tuple[str, str, int]] = field(default_factory=list)
    passes: dict[int, Pass] = field(default_factory=dict)
    #: (board, machine) -> its passes there
    visits: dict[tuple[int, str], list[Pass]] = field(default_factory=dict)
    by_txn: dict[str, Pass] = field(default_factory=dict)
    #: TransactionIDs this batch gave a board: rows waiting for them join it
    linked: dict[str, int] = field(default_factory=dict)
    #: rows to append, per table (``gateway.trace.rows`` knows their columns)
    rows: dict[str, list[list[Any]]] = field(default_factory=dict)
    _values: set[str] = field(default_factory=set)
    _txns: set[str] = field(default_factory=set)
    _boards: set[int] = field(default_factory=set)  # boards whose passes were read
    _next: int = NEW

    def key(self) -> int:
        """A key for a row this batch creates."""
        self._next += 1
        return self._next

    def add(self, table: str, row: list[Any]) -> None:
        """Append a row to ``table`` (written at the end of the batch)."""
        self.rows.setdefault(table, []).append(row)

    def load(
        self, values: Iterable[str] = (), txns: Iterable[str] = (), boards: Iterable[int] = ()
    ) -> Generator[Sql, Rows, None]:
        """Read the boards these identifiers name, and the passes of those boards and of these
        TransactionIDs; what was read before (and may have changed since) is kept as it is."""
        wanted = [v for v in dict.fromkeys(values) if v not in self._values]
        self._values.update(wanted)
        found = list(boards)
        for chunk in chunks(wanted):
            rows = yield Sql(
                "SELECT i.value, i.kind, b.id, b.barcode, b.hermes_id, b.work_order, b.batch, b.first_us,"
                " b.last_us FROM trace_ident i JOIN trace_board b ON b.id = i.board"
                f" WHERE i.value IN ({marks(len(chunk))})",
                chunk,
            )
            for value, kind, board, *rest in rows:
                if board not in self.boards:
                    self.boards[board] = Board(board, *rest)
                    found.append(board)
                self.idents.setdefault(value, []).append((kind, board))
        unread = [b for b in dict.fromkeys(found) if b < NEW and b not in self._boards]
        self._boards.update(unread)
        fresh = [t for t in dict.fromkeys(txns) if t not in self._txns]
        self._txns.update(fresh)
        for where, keys in (("board", unread), ("transaction_id", fresh)):
            for chunk in chunks(keys):
                rows = yield Sql(
                    f"SELECT {PASS_COLUMNS} FROM trace_pass"
                    f" WHERE {where} IN ({marks(len(chunk))}) ORDER BY id",
                    chunk,
                )
                for row in rows:
                    known = self.passes.get(row[0]) or self._add_pass(Pass(*row))
                    if known.transaction_id is not None:
                        self.by_txn.setdefault(known.transaction_id, known)

    def _add_pass(self, visit: Pass) -> Pass:
        self.passes[visit.id] = visit
        self.visits.setdefault((visit.board, visit.machine_id), []).append(visit)
        if visit.transaction_id is not None:
            self.by_txn.setdefault(visit.transaction_id, visit)
        return visit

    def new_pass(self, board: int, machine_id: str, **values: Any) -> Pass:
        """A pass this batch creates."""
        return self._add_pass(Pass(self.key(), board, machine_id, changed=True, **values))

    def txn_pass(self, txn: str) -> Generator[Sql, Rows, Pass | None]:
        """The pass with TransactionID ``txn``, or None (not seen yet)."""
        if txn not in self._txns:
            yield from self.load(txns=[txn])
        return self.by_txn.get(txn)

    def latest_open(self, board: int, machine_id: str, column: str) -> Generator[Sql, Rows, Pass | None]:
        """The latest pass of ``board`` at ``machine`` whose ``column`` is still empty."""
        if board < NEW and board not in self._boards:
            yield from self.load(boards=[board])
        open_passes = [p for p in self.visits.get((board, machine_id), ()) if getattr(p, column) is None]
        return max(open_passes, key=lambda p: p.id) if open_passes else None


# --- boards and passes -----------------------------------------------------------------------


def find_board(
    event: Event,
    *,
    hermes: str | None = None,
    barcode: str | None = None,
    units: Sequence[str] = (),
    work_order: tuple[str | None, str | None] = (None, None),
) -> Generator[Statement, Rows, tuple[int | None, bool]]:
    """The board these identifiers name, created if new; returns (board key or None, created).

    Every event that names a known board widens its first/last seen times to the event's time.
    """
    batch = event.batch
    wanted = [
        (k, v) for k, v in (("hermes", hermes), ("barcode", barcode), *(("unit", u) for u in units)) if v
    ]
    if not wanted:
        return None, False
    yield from batch.load(values=[v for _, v in wanted])
    key = _choose(batch, hermes, [v for v in (barcode, *units) if v])
    created = key is None
    t = event.time_us
    if key is None:
        key = batch.key()
        first = barcode or (units[0] if units else None)
        batch.boards[key] = Board(key, first, hermes, *work_order, t, t, changed=True)
    else:
        board = batch.boards[key]
        order, lot = work_order
        now = (
            board.barcode or barcode,
            board.hermes_id or hermes,
            order or board.work_order,
            lot or board.batch,
            min(board.first_us, t),
            max(board.last_us, t),
        )
        then = (board.barcode, board.hermes_id, board.work_order, board.batch, board.first_us, board.last_us)
        if now != then:
            board.barcode, board.hermes_id, board.work_order, board.batch, board.first_us, board.last_us = now
            board.changed = True
    for kind, value in wanted:
        named = batch.idents.setdefault(value, [])
        if (kind, key) not in named:
            named.append((kind, key))
            batch.new_idents.append((value, kind, key))
    return key, created


def _choose(batch: Batch, hermes: str | None, labels: list[str]) -> int | None:
    # By Hermes BoardId first; else the newest board with the first label that has one, unless
    # that board has another Hermes BoardId (a reused barcode: a new board).
    if hermes:
        by_hermes = [b for kind, b in batch.idents.get(hermes, ()) if kind == "hermes"]
        if by_hermes:
            return max(by_hermes)
    for label in labels:
        named = [b for kind, b in batch.idents.get(label, ()) if kind in ("barcode", "unit")]
        if named:
            newest = max(named)
            other = batch.boards[newest].hermes_id
            if not (hermes and other and other != hermes):
                return newest
    return None


def board_of(event: Event) -> Generator[Statement, Rows, tuple[int | None, bool]]:
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
        log.debug("trace.ingest.new_board", message=event.name, machine=event.machine_id)
        return outcome
    log.warning(
        "trace.ingest.unknown_board", message=event.name, machine=event.machine_id, unique_id=event.unique_id
    )
    return "unknown-board"


def pass_for(event: Event, board: int, txn: str | None) -> Generator[Statement, Rows, Pass]:
    """The pass of ``board`` at the event's machine for ``txn``: by TransactionID, else the
    latest pass there with none yet (made by UnitsArrived), else a new one."""
    batch = event.batch
    if txn is not None:
        named = yield from batch.txn_pass(txn)
        if named is not None:
            return named
    visit = yield from batch.latest_open(board, event.machine_id, "transaction_id")
    if visit is None:
        visit = batch.new_pass(board, event.machine_id, transaction_id=txn)
    elif txn is not None:
        visit.transaction_id = txn
        visit.changed = True
    if txn is not None:
        batch.by_txn[txn] = visit
        # What arrived before this transaction was known to belong to a board joins it now.
        batch.linked[txn] = board
    return visit


def board_by_txn(event: Event, txn: str | None) -> Generator[Statement, Rows, int | None]:
    """The board whose pass has TransactionID ``txn``, or None (not seen yet)."""
    if txn is None:
        return None
    visit = yield from event.batch.txn_pass(txn)
    return None if visit is None else visit.board


__all__ = [
    "ENTRY",
    "NEW",
    "PASS_COLUMNS",
    "Batch",
    "Board",
    "Body",
    "Event",
    "Pass",
    "Rows",
    "Step",
    "board_by_txn",
    "board_of",
    "chunks",
    "designator_of",
    "find_board",
    "identifiers_in",
    "items",
    "lane_of",
    "marks",
    "note_unknown",
    "number",
    "obj",
    "operator_of",
    "pass_for",
    "text",
    "txn_of",
    "units_of",
]
