"""Records from field values: the part of parsing both formats share.

A parser finds, for one element or row, the text of each source the map names; these functions
turn that into records, converting and checking every value (a required value that is missing
or a number that is not one is a :class:`MalformedResultFile`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from protocols.files.records import (
    BoardRecord,
    DefectRecord,
    MalformedResultFile,
    MeasurementRecord,
    UnitRecord,
    Verdict,
)
from protocols.files.resultmap import REQUIRED, ResultMap

#: source (``@barcode``, a column name) → its text in the current element or row, or None
Getter = Callable[[str], str | None]


def _text(fields: Mapping[str, str], name: str, get: Getter) -> str | None:
    source = fields.get(name)
    if source is None:
        return None
    value = get(source)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _required(fields: Mapping[str, str], kind: str, get: Getter) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in REQUIRED.get(kind, ()):
        value = _text(fields, name, get)
        if value is None:
            raise MalformedResultFile(f"{kind} without {name} ({fields[name]})")
        values[name] = value
    return values


def board(m: ResultMap, get: Getter) -> BoardRecord:
    """A board record (without units yet) from the board's own fields."""
    f = m.board_fields
    result = _text(f, "result", get)
    start, end = _text(f, "start", get), _text(f, "end", get)
    return BoardRecord(
        barcode=_text(f, "barcode", get),
        outcome=m.words.outcome(result, "board result") if result else None,
        recipe=_text(f, "recipe", get),
        started=m.when(start, "board start") if start else None,
        ended=m.when(end, "board end") if end else None,
        inspector=_text(f, "inspector", get),
    )


def unit(m: ResultMap, get: Getter, default_position: int) -> UnitRecord:
    """A unit record (without findings yet) from a panel position's fields."""
    f = m.unit_fields
    position, result = _text(f, "position", get), _text(f, "result", get)
    return UnitRecord(
        position=m.position(position, "unit position") if position else default_position,
        barcode=_text(f, "barcode", get),
        outcome=m.words.outcome(result, "unit result") if result else None,
    )


def defect(m: ResultMap, get: Getter) -> DefectRecord:
    """A defect record.

    Raises:
        MalformedResultFile: no defect code, or an unknown verdict word.
    """
    f = m.defect_fields
    code = _required(f, "defect", get)["code"]
    verdict = _text(f, "verdict", get)
    return DefectRecord(
        code=code,
        refdes=_text(f, "refdes", get),
        verdict=m.words.verdict(verdict, "defect verdict") if verdict else Verdict.UNVERIFIED,
        description=_text(f, "description", get),
        category=_text(f, "category", get),
        part_number=_text(f, "part_number", get),
    )


def measurement(m: ResultMap, get: Getter) -> MeasurementRecord:
    """A measurement record.

    Raises:
        MalformedResultFile: no name or value, a value or limit that is not a number.
    """
    f = m.measurement_fields
    values = _required(f, "measurement", get)
    low, high, result = _text(f, "low", get), _text(f, "high", get), _text(f, "result", get)
    return MeasurementRecord(
        name=values["name"],
        value=m.number(values["value"], f"measurement {values['name']!r} value"),
        unit=_text(f, "unit", get),
        low=m.number(low, "low limit") if low else None,
        high=m.number(high, "high limit") if high else None,
        outcome=m.words.outcome(result, "measurement result") if result else None,
        refdes=_text(f, "refdes", get),
    )


def finish(record: BoardRecord) -> BoardRecord:
    """A board with at least one unit (position 1, the board's barcode)."""
    if not record.units:
        record.units.append(UnitRecord(position=1, barcode=record.barcode))
    return record


__all__ = ["Getter", "board", "defect", "finish", "measurement", "unit"]
