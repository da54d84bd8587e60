"""Pure-Python twin of ``native._cfx_time``: CFX DateTime and TimeSpan texts in the SDK's own forms.

Only the forms Newtonsoft writes are read here, by position: ``yyyy-MM-ddTHH:mm:ss[.f{1,7}]``
followed by ``Z`` or ``±hh:mm``, and ``[-][d.]hh:mm:ss[.fffffff]``. Anything else returns None and
the caller's general parser takes it. A value is built as ``cls`` (a datetime or timedelta subclass
with a ``_text`` slot), rounded to the microsecond, and keeps ``text`` in ``_text``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

D = TypeVar("D", bound=datetime)
T = TypeVar("T", bound=timedelta)

_ZONES: dict[int, timezone] = {0: UTC}


def _digits(text: str, start: int, end: int) -> int:
    # -1 when text[start:end] is not all ASCII digits
    value = 0
    for i in range(start, end):
        c = ord(text[i]) - 48
        if c < 0 or c > 9:
            return -1
        value = value * 10 + c
    return value


def _zone(minutes: int) -> timezone:
    zone = _ZONES.get(minutes)
    if zone is None:
        zone = _ZONES[minutes] = timezone(timedelta(minutes=minutes))
    return zone


def _fraction_us(text: str, start: int, end: int) -> int:
    # 1-7 digits of a second -> microseconds, rounding the 100 ns tick half up; -1 when malformed
    count = end - start
    if count < 1 or count > 7:
        return -1
    ticks = _digits(text, start, end)
    if ticks < 0:
        return -1
    ticks *= int(10 ** (7 - count))
    return (ticks + 5) // 10


def parse_timestamp(text: str, cls: type[D]) -> D | None:
    """``text`` as a ``cls`` if it is in the SDK's DateTime form, else None."""
    if not isinstance(text, str):  # as the compiled twin's typed argument
        raise TypeError(f"expected str, got {type(text).__name__}")
    size = len(text)
    if size < 20 or text[4] != "-" or text[7] != "-" or text[10] != "T" or text[13] != ":" or text[16] != ":":
        return None
    if text[size - 1] == "Z":
        offset = 0
        end = size - 1
    elif size >= 25 and text[size - 3] == ":" and text[size - 6] in "+-":
        hours = _digits(text, size - 5, size - 3)
        mins = _digits(text, size - 2, size)
        if hours < 0 or mins < 0 or mins > 59 or hours > 14:
            return None
        offset = hours * 60 + mins
        if text[size - 6] == "-":
            offset = -offset
        end = size - 6
    else:
        return None
    micro = 0
    if end != 19:
        if text[19] != ".":
            return None
        micro = _fraction_us(text, 20, end)
        if micro < 0:
            return None
    fields = [_digits(text, a, b) for a, b in ((0, 4), (5, 7), (8, 10), (11, 13), (14, 16), (17, 19))]
    if min(fields) < 0:
        return None
    year, month, day, hour, minute, second = fields
    if micro == 1_000_000:  # .9999995 and up rounds into the next second: the general parser's case
        return None
    try:
        value: Any = cls(year, month, day, hour, minute, second, micro, tzinfo=_zone(offset))
    except (ValueError, OverflowError):
        return None
    value._text = text
    result: D = value
    return result


def parse_timespan(text: str, cls: type[T]) -> T | None:
    """``text`` as a ``cls`` if it is in .NET "c" form ``[-][d.]hh:mm:ss[.fffffff]``, else None."""
    if not isinstance(text, str):  # as the compiled twin's typed argument
        raise TypeError(f"expected str, got {type(text).__name__}")
    size = len(text)
    start = 1 if size and text[0] == "-" else 0
    days = 0
    dot = text.find(".", start)
    colon = text.find(":", start)
    if colon < 0:
        return None
    if 0 <= dot < colon:
        days = _digits(text, start, dot)
        if days < 0 or dot == start or dot - start > 8:
            return None
        start = dot + 1
    if size - start < 8 or text[start + 2] != ":" or text[start + 5] != ":":
        return None
    hours = _digits(text, start, start + 2)
    minutes = _digits(text, start + 3, start + 5)
    seconds = _digits(text, start + 6, start + 8)
    if hours < 0 or minutes < 0 or seconds < 0 or hours > 23 or minutes > 59 or seconds > 59:
        return None
    micro = 0
    if size != start + 8:
        if text[start + 8] != ".":
            return None
        micro = _fraction_us(text, start + 9, size)
        if micro < 0:
            return None
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    try:
        value: Any = (
            cls(seconds=-total, microseconds=-micro)
            if text[0:1] == "-"
            else cls(seconds=total, microseconds=micro)
        )
    except OverflowError:
        return None
    value._text = text
    result: T = value
    return result


class DecodeHook:
    """A msgspec ``dec_hook``: DateTime and TimeSpan texts in the SDK's forms are read here; any
    other kind, or another form, goes to ``other(kind, obj)``."""

    def __init__(self, timestamp_cls: type[datetime], timespan_cls: type[timedelta], other: Any) -> None:
        self.timestamp_cls = timestamp_cls
        self.timespan_cls = timespan_cls
        self.other = other

    def __call__(self, kind: Any, obj: Any) -> Any:
        if type(obj) is str:
            if kind is self.timestamp_cls:
                stamp = parse_timestamp(obj, kind)
                if stamp is not None:
                    return stamp
            elif kind is self.timespan_cls:
                span = parse_timespan(obj, kind)
                if span is not None:
                    return span
        return self.other(kind, obj)


__all__ = ["DecodeHook", "parse_timespan", "parse_timestamp"]
