"""Board identity across the line: barcode, Hermes BoardId, panel unit identifiers, transactions.

Machines name a board in different ways: Hermes by its BoardId, a scanner and most inspection and
test stations by its barcode (and a panel's units by their own codes or positions), CFX by the
TransactionID of each machine's work on it. :class:`BoardIdentities` is the line's one table
linking them, fed by the normalizers (every arrival, scanner read and work start they see), so
that a result file naming a board only by barcode, after the board has long left the tester, still
carries the TransactionID of that tester's WorkStarted, and a scanner's read carries the board's
Hermes BoardId.

Bounded: the oldest boards are forgotten beyond ``capacity`` (a line holds a few dozen boards;
results come within minutes). Pure: no I/O and no clock.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(slots=True)
class BoardIdentity:
    """What the line knows of one board: its names and each machine's work transaction."""

    board_id: str | None = None
    barcode: str | None = None
    #: panel position → the unit's own identifier (its code, or ``<barcode>-<position>``)
    units: dict[int, str] = field(default_factory=dict)
    #: CFX handle → the TransactionID of that machine's work on the board (the latest)
    transactions: dict[str, uuid.UUID] = field(default_factory=dict)

    def names(self) -> set[str]:
        """Every identifier the board is known by."""
        return {n for n in (self.board_id, self.barcode, *self.units.values()) if n}


class BoardIdentities:
    """The line's link table (see the module docstring).

    Args:
        capacity: boards remembered; the least recently seen are forgotten first.
    """

    def __init__(self, capacity: int = 4096) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._boards: OrderedDict[int, BoardIdentity] = OrderedDict()
        self._by_name: dict[str, int] = {}
        self._next = 0

    def __len__(self) -> int:
        return len(self._boards)

    def find(self, *names: str | None) -> BoardIdentity | None:
        """The board known by any of ``names`` (BoardId, barcode, a unit's identifier)."""
        for name in names:
            key = self._by_name.get(name) if name else None
            if key is not None:
                self._boards.move_to_end(key)
                return self._boards[key]
        return None

    def link(self, board_id: str | None, barcode: str | None) -> BoardIdentity | None:
        """Record that ``board_id`` and ``barcode`` name one board (either may be None); two
        records that turn out to be one board are merged. None when both are None."""
        if not board_id and not barcode:
            return None
        found = [self._by_name.get(n) for n in (board_id, barcode) if n]
        keys = list(dict.fromkeys(k for k in found if k is not None))
        if not keys:
            key = self._next
            self._next += 1
            self._boards[key] = BoardIdentity()
            keys = [key]
        board = self._boards[keys[0]]
        for other in keys[1:]:  # the same board, known apart until now
            self._merge(board, keys[0], self._boards.pop(other))
        board.board_id = board_id or board.board_id
        board.barcode = barcode or board.barcode
        self._index(keys[0], board.names())
        self._boards.move_to_end(keys[0])
        self._trim()
        return board

    def add_units(self, board: BoardIdentity, units: Iterable[tuple[int, str]]) -> None:
        """Record the identifiers of a board's panel positions."""
        key = self._by_name.get(board.board_id or board.barcode or "")
        for position, name in units:
            board.units[position] = name
        if key is not None:
            self._index(key, board.names())

    def started(self, handle: str, transaction: uuid.UUID, board_id: str | None, barcode: str | None) -> None:
        """Machine ``handle`` started work ``transaction`` on the board."""
        board = self.link(board_id, barcode)
        if board is not None:
            board.transactions[handle] = transaction

    def transaction(self, handle: str, *names: str | None) -> uuid.UUID | None:
        """The TransactionID of machine ``handle``'s work on the board known by any of ``names``."""
        board = self.find(*names)
        return board.transactions.get(handle) if board is not None else None

    def _merge(self, into: BoardIdentity, key: int, other: BoardIdentity) -> None:
        into.board_id = into.board_id or other.board_id
        into.barcode = into.barcode or other.barcode
        into.units = {**other.units, **into.units}
        into.transactions = {**other.transactions, **into.transactions}
        self._index(key, into.names())

    def _index(self, key: int, names: Iterable[str]) -> None:
        for name in names:
            self._by_name[name] = key

    def _trim(self) -> None:
        while len(self._boards) > self.capacity:
            key, board = self._boards.popitem(last=False)
            for name in board.names():
                if self._by_name.get(name) == key:
                    del self._by_name[name]


__all__ = ["BoardIdentities", "BoardIdentity"]
