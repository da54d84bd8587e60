"""The trace store's side of the interlocks: a board's history for a decision, and holds.

Units of work (``gateway.trace.store``) for both databases:

- ``board_history(identifiers)``: what :func:`gateway.trace.control.decide` needs about the
  board any of the identifiers names (the newest such board), and the active holds;
- ``place_hold`` / ``release_hold`` / ``active_holds``: operators' holds on a board (by any
  identifier), a reel or a lot. A hold on something the store has never seen is refused
  (:class:`HoldError`, ``not_found``): a typo must not look like a hold that protects anything.
  Holding what is held already answers the existing hold (``created`` false).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog

from gateway.trace.control import HOLD_KINDS, History, Hold, Step, step_outcome
from gateway.trace.queries import iso
from gateway.trace.store import Sql, Work, now_us
from protocols.errors import LinegateError

log = structlog.get_logger("linegate.trace.control")

_HOLD_COLUMNS = "id, kind, value, reason, held_by, held_us"


class HoldError(LinegateError):
    """A hold or release that cannot be done: ``not_found`` (nothing by that name) or ``bad``."""

    def __init__(self, message: str, *, not_found: bool = False) -> None:
        super().__init__(message)
        self.not_found = not_found


def _hold(row: tuple[Any, ...]) -> Hold:
    return Hold(int(row[0]), str(row[1]), str(row[2]), row[3], row[4], int(row[5]))


def hold_json(hold: Hold) -> dict[str, Any]:
    """A hold as the CLI and the HTTP API show it."""
    return {
        "id": hold.id,
        "kind": hold.kind,
        "value": hold.value,
        "reason": hold.reason,
        "held_by": hold.held_by,
        "held": iso(hold.held_us),
    }


def active_holds() -> Work[list[Hold]]:
    """Every hold not released, oldest first."""
    rows = yield Sql(f"SELECT {_HOLD_COLUMNS} FROM trace_hold WHERE released_us IS NULL ORDER BY id")
    return [_hold(r) for r in rows]


_NT = "CAST(NULL AS TEXT)"
_NI = "CAST(NULL AS BIGINT)"
#: Everything about one board a decision reads, in one statement (one round trip on
#: PostgreSQL): (tag, a, b, x, y, z) rows; the board id is the parameter of every branch.
_HISTORY_SQL = f"""
SELECT 'i', value, {_NT}, {_NI}, {_NI}, {_NI} FROM trace_ident WHERE board = ?
UNION ALL SELECT 'p', machine, result, completed_us, departed_us, id FROM trace_pass WHERE board = ?
UNION ALL SELECT 'r', machine, result, time_us, {_NI}, id FROM trace_result WHERE board = ?
UNION ALL SELECT 'f', {_NT}, result, time_us, {_NI}, {_NI} FROM trace_repair WHERE board = ?
UNION ALL SELECT 'm', reel, lot, {_NI}, {_NI}, {_NI} FROM trace_material WHERE board = ?
UNION ALL SELECT 'm', l.reel, l.lot, {_NI}, {_NI}, {_NI} FROM trace_load l JOIN trace_pass p
  ON p.machine = l.machine AND COALESCE(p.arrived_us, p.started_us, p.completed_us) >= l.loaded_us
  AND (l.unloaded_us IS NULL OR COALESCE(p.arrived_us, p.started_us, p.completed_us) < l.unloaded_us)
  WHERE p.board = ?
"""


def board_history(identifiers: Sequence[str]) -> Work[tuple[History, list[Hold]]]:
    """The history of the newest board any of ``identifiers`` names, and the active holds.

    Two statements: the holds with the board's id, then the board's facts. A board the store
    does not know gets a history with no board and no steps (so route rules refuse it, and
    holds on its identifiers still apply).
    """
    wanted = [i for i in dict.fromkeys(identifiers) if i]
    board_sql = ""
    if wanted:
        board_sql = (
            f" UNION ALL SELECT {_NI}, '*board', {_NT}, {_NT}, {_NT}, MAX(board)"
            f" FROM trace_ident WHERE value IN ({', '.join('?' * len(wanted))})"
        )
    # The active holds, and (kind "*board", never a hold's) the newest board the identifiers name.
    active = "SELECT id, kind, value, reason, held_by, held_us FROM trace_hold WHERE released_us IS NULL"
    rows = yield Sql(active + board_sql, wanted)
    holds = sorted((_hold(r) for r in rows if r[1] != "*board"), key=lambda h: h.id)
    found = [r[5] for r in rows if r[1] == "*board" and r[5] is not None]
    if not found:
        return History(None, frozenset(wanted)), holds
    board = int(found[0])
    rows = yield Sql(_HISTORY_SQL, (board,) * 6)
    idents = frozenset([*wanted, *(str(r[1]) for r in rows if r[0] == "i")])
    fixes = [(int(r[3]), r[2]) for r in rows if r[0] == "f"]
    latest: dict[str, tuple[str | None, int]] = {}
    for _, machine, result, time_us, _, _ in sorted(
        (r for r in rows if r[0] == "r"), key=lambda r: (r[3], r[5])
    ):
        latest[str(machine)] = (result, int(time_us))
    steps: dict[str, Step] = {}
    for _, machine, work_result, completed_us, departed_us, _ in sorted(
        (r for r in rows if r[0] == "p"), key=lambda r: r[5]
    ):
        done = completed_us if completed_us is not None else departed_us
        result, result_us = latest.get(str(machine), (None, None))
        outcome = step_outcome(work_result, done is not None, result, result_us, fixes)
        steps[str(machine)] = Step(str(machine), outcome, None if done is None else int(done))
    for machine, (result, result_us) in latest.items():
        if machine not in steps:  # a result with no pass (a machine that reports only results)
            steps[machine] = Step(machine, step_outcome(None, True, result, result_us, fixes), result_us)
    reels = frozenset(str(r[1]) for r in rows if r[0] == "m" and r[1])
    lots = frozenset(str(r[2]) for r in rows if r[0] == "m" and r[2])
    return History(board, idents, steps, reels, lots), holds


def _exists(kind: str, value: str) -> Work[bool]:
    if kind == "board":
        rows = yield Sql("SELECT 1 FROM trace_ident WHERE value = ? LIMIT 1", (value,))
    else:
        column = "reel" if kind == "reel" else "lot"
        rows = yield Sql(
            f"SELECT 1 FROM trace_material WHERE {column} = ?"
            f" UNION ALL SELECT 1 FROM trace_load WHERE {column} = ? LIMIT 1",
            (value, value),
        )
    return bool(rows)


def _check(kind: str, value: str) -> None:
    if kind not in HOLD_KINDS:
        raise HoldError(f"a hold is on a board, reel or lot, not {kind!r}")
    if not value or len(value) > 256:
        raise HoldError("a hold needs the identifier of what it holds (1-256 characters)")


def place_hold(kind: str, value: str, reason: str | None, by: str | None) -> Work[tuple[Hold, bool]]:
    """Put ``kind`` ``value`` on hold; returns the hold and whether it is new.

    Raises:
        HoldError: a kind other than board/reel/lot, or nothing by that name in the store.
    """
    _check(kind, value)
    rows = yield Sql(
        f"SELECT {_HOLD_COLUMNS} FROM trace_hold WHERE kind = ? AND value = ? AND released_us IS NULL",
        (kind, value),
    )
    if rows:
        return _hold(rows[0]), False
    if not (yield from _exists(kind, value)):
        log.warning("trace.hold.unknown", kind=kind, value=value, by=by)
        raise HoldError(f"no {kind} {value!r} in the trace store: nothing to hold", not_found=True)
    rows = yield Sql(
        "INSERT INTO trace_hold (kind, value, reason, held_by, held_us) VALUES (?, ?, ?, ?, ?)"
        f" RETURNING {_HOLD_COLUMNS}",
        (kind, value, reason, by, now_us()),
    )
    hold = _hold(rows[0])
    log.warning("trace.hold.placed", kind=kind, value=value, reason=reason, by=by, hold=hold.id)
    return hold, True


def release_hold(kind: str, value: str, by: str | None) -> Work[list[Hold]]:
    """Release the active hold on ``kind`` ``value``; returns what was released.

    Raises:
        HoldError: no active hold on it (``not_found``).
    """
    _check(kind, value)
    rows = yield Sql(
        f"UPDATE trace_hold SET released_us = ?, released_by = ? WHERE kind = ? AND value = ?"
        f" AND released_us IS NULL RETURNING {_HOLD_COLUMNS}",
        (now_us(), by, kind, value),
    )
    if not rows:
        log.warning("trace.hold.release_unknown", kind=kind, value=value, by=by)
        raise HoldError(f"no {kind} {value!r} is on hold", not_found=True)
    log.info("trace.hold.released", kind=kind, value=value, by=by)
    return [_hold(r) for r in rows]


__all__ = [
    "HoldError",
    "active_holds",
    "board_history",
    "hold_json",
    "place_hold",
    "release_hold",
]
