"""The result-file map: which element, attribute or column of a station's file means what.

A map is read from TOML by ``adapters.files_map`` (docs/files.md shows the format); this module
holds its compiled form and the conversions every parser shares (result words, verdict words,
numbers, timestamps). Field sources are written the same way for both formats:

- XML: ``@name`` is an attribute of the element itself, ``Name`` the text of a direct child
  element, ``/@name`` an attribute of the document's root element;
- CSV: the column's name in the header row.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from protocols.files.records import MalformedResultFile, Outcome, Verdict


class FileFormat(enum.Enum):
    """The result file's syntax."""

    XML = "xml"
    CSV = "csv"


#: The fields each record kind may name, and which of them are required.
BOARD_FIELDS = ("barcode", "result", "recipe", "start", "end", "inspector")
UNIT_FIELDS = ("position", "barcode", "result")
DEFECT_FIELDS = ("code", "refdes", "verdict", "description", "category", "part_number")
MEASUREMENT_FIELDS = ("name", "value", "unit", "low", "high", "result", "refdes")
REQUIRED = {"defect": ("code",), "measurement": ("name", "value")}

#: Largest panel position accepted: CFX's UnitPositionNumber is a C# int, and real panels hold
#: a few hundred units at most.
MAX_POSITION = 100_000

_DEFAULT_WORDS: dict[Outcome, tuple[str, ...]] = {
    Outcome.PASSED: ("PASS", "PASSED", "OK", "GOOD", "GO"),
    Outcome.FAILED: ("FAIL", "FAILED", "NG", "BAD", "NOGO", "DEFECT"),
    Outcome.ERROR: ("ERROR",),
    Outcome.SKIPPED: ("SKIP", "SKIPPED", "BYPASS"),
}
_DEFAULT_VERDICTS: dict[Verdict, tuple[str, ...]] = {
    Verdict.CONFIRMED: ("REAL", "CONFIRMED", "TRUE", "DEFECT"),
    Verdict.FALSE_CALL: ("FALSECALL", "FALSE_CALL", "FALSE", "FC", "PASS"),
    Verdict.UNVERIFIED: ("", "UNVERIFIED", "NONE"),
}


@dataclass(frozen=True, slots=True)
class Words:
    """How the station spells results and verdicts (compared case-insensitively)."""

    outcomes: Mapping[Outcome, tuple[str, ...]] = field(default_factory=lambda: dict(_DEFAULT_WORDS))
    verdicts: Mapping[Verdict, tuple[str, ...]] = field(default_factory=lambda: dict(_DEFAULT_VERDICTS))

    def outcome(self, word: str, what: str) -> Outcome:
        """The outcome ``word`` spells.

        Raises:
            MalformedResultFile: a word the map does not know.
        """
        key = word.strip().upper()
        for outcome, words in self.outcomes.items():
            if key in words:
                return outcome
        raise MalformedResultFile(f"{what} {word!r} is none of the map's result words")

    def verdict(self, word: str, what: str) -> Verdict:
        """The verdict ``word`` spells.

        Raises:
            MalformedResultFile: a word the map does not know.
        """
        key = word.strip().upper()
        for verdict, words in self.verdicts.items():
            if key in words:
                return verdict
        raise MalformedResultFile(f"{what} {word!r} is none of the map's verdict words")


@dataclass(frozen=True, slots=True)
class ResultMap:
    """A compiled result-file map.

    Args:
        format: XML or CSV.
        method: the CFX InspectionMethod (``AOI``, ``AXI``, ``SPI``, ``Human``), or for a
            tester's results the CFX TestMethod (``ICT``, ``FPT``, ``FCT``, ``BST``, ``Automated``).
        board: XML: the element that is one inspected board (one ``UnitsInspected``).
        unit: XML: the element of one panel position inside a board (None: the board is one unit).
        defect: XML: the element of one defect (inside a unit, or the board when no unit element).
        measurement: XML: the element of one measurement, like ``defect``.
        board_fields, unit_fields, defect_fields, measurement_fields: field → source.
        words: result and verdict spellings.
        time_format: ``strptime`` format of timestamps; None: ISO 8601.
        timezone: the zone of timestamps written without one (the station's clock).
        delimiter, quotechar: CSV dialect.
        encoding: the file's text encoding (CSV; XML declares its own).
        max_defects: per board; a file beyond it is malformed (a runaway station, or garbage).
    """

    format: FileFormat
    method: str = "AOI"
    board: str = "Board"
    unit: str | None = None
    defect: str | None = None
    measurement: str | None = None
    board_fields: Mapping[str, str] = field(default_factory=dict)
    unit_fields: Mapping[str, str] = field(default_factory=dict)
    defect_fields: Mapping[str, str] = field(default_factory=dict)
    measurement_fields: Mapping[str, str] = field(default_factory=dict)
    words: Words = field(default_factory=Words)
    time_format: str | None = None
    timezone: tzinfo = UTC
    delimiter: str = ","
    quotechar: str = '"'
    encoding: str = "utf-8"
    max_defects: int = 1_000_000

    # --- conversions every parser uses -------------------------------------------------------

    def number(self, text: str, what: str) -> float:
        """``text`` as a number.

        Raises:
            MalformedResultFile: not a finite number.
        """
        try:
            value = float(text)
        except ValueError:
            raise MalformedResultFile(f"{what} {text!r} is not a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise MalformedResultFile(f"{what} {text!r} is not a finite number")
        return value

    def position(self, text: str, what: str) -> int:
        """``text`` as a panel position (1, 2, ...).

        Raises:
            MalformedResultFile: not a positive integer.
        """
        try:
            value = int(text)
        except ValueError:
            raise MalformedResultFile(f"{what} {text!r} is not a position number") from None
        if not 1 <= value <= MAX_POSITION:
            raise MalformedResultFile(f"{what} {value} is not a position (1 to {MAX_POSITION})")
        return value

    def when(self, text: str, what: str) -> datetime:
        """``text`` as an aware timestamp (naive ones are in the map's ``timezone``).

        Raises:
            MalformedResultFile: not a timestamp in the map's format.
        """
        try:
            if self.time_format is None:
                value = datetime.fromisoformat(text.strip())
            else:
                value = datetime.strptime(text.strip(), self.time_format)
        except ValueError:
            raise MalformedResultFile(f"{what} {text!r} is not a timestamp") from None
        return value if value.tzinfo is not None else value.replace(tzinfo=self.timezone)
