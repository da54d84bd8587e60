"""What a result file says, protocol-free: one record per inspected board, and the error for bad files.

The streaming parsers (:mod:`protocols.files.xml_stream`, :mod:`protocols.files.csv_stream`)
turn a file into :class:`BoardRecord` values through a map (:mod:`protocols.files.resultmap`).
A board record holds its panel positions (units), each with its defects and measurements.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from protocols.errors import RemoteProtocolError


class Outcome(enum.Enum):
    """A board's, unit's or measurement's result as the station wrote it, mapped."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"


class Verdict(enum.Enum):
    """What became of a defect the station flagged: an operator's verification, if any."""

    UNVERIFIED = "unverified"
    CONFIRMED = "confirmed"  # a real defect
    FALSE_CALL = "false_call"  # the operator cleared it: the station was wrong


@dataclass(frozen=True, slots=True)
class DefectRecord:
    """One defect found on a component (or a region when ``refdes`` is None)."""

    code: str
    refdes: str | None = None
    verdict: Verdict = Verdict.UNVERIFIED
    description: str | None = None
    category: str | None = None
    part_number: str | None = None


@dataclass(frozen=True, slots=True)
class MeasurementRecord:
    """One numeric measurement with its limits, where the file has them."""

    name: str
    value: float
    unit: str | None = None
    low: float | None = None
    high: float | None = None
    outcome: Outcome | None = None  # None: decided from the limits
    refdes: str | None = None


@dataclass(slots=True)
class UnitRecord:
    """One panel position of a board: its own barcode (if any), result, defects, measurements."""

    position: int = 1
    barcode: str | None = None
    outcome: Outcome | None = None  # None: failed if any confirmed or unverified defect
    defects: list[DefectRecord] = field(default_factory=list)
    measurements: list[MeasurementRecord] = field(default_factory=list)


@dataclass(slots=True)
class BoardRecord:
    """One inspected board (or panel): the unit of one ``UnitsInspected``."""

    barcode: str | None = None
    outcome: Outcome | None = None
    recipe: str | None = None
    started: datetime | None = None
    ended: datetime | None = None
    inspector: str | None = None
    units: list[UnitRecord] = field(default_factory=list)

    @property
    def defect_count(self) -> int:
        """Defects over all units."""
        return sum(len(u.defects) for u in self.units)


class MalformedResultFile(RemoteProtocolError):
    """A result file that cannot be read as its map says: not well-formed, refused (DTD,
    entities), truncated, or missing a required value.

    Args:
        reason: what is wrong.
        name: the file's name, when the caller knows it.
        line: 1-based line of the problem, where known.
        column: 0-based column (XML) where known.
        offset: byte offset where known.
    """

    def __init__(
        self,
        reason: str,
        *,
        name: str | None = None,
        line: int | None = None,
        column: int | None = None,
        offset: int | None = None,
    ) -> None:
        self.reason = reason
        self.name = name
        self.line = line
        self.column = column
        self.offset = offset
        super().__init__(self._text())

    def _text(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column}")
        if self.offset is not None:
            where.append(f"byte {self.offset}")
        place = f" ({', '.join(where)})" if where else ""
        return f"{self.name or '<result file>'}{place}: {self.reason}"

    def named(self, name: str) -> MalformedResultFile:
        """The same error naming the file ``name``."""
        return MalformedResultFile(
            self.reason, name=name, line=self.line, column=self.column, offset=self.offset
        )
