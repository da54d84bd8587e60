"""Timestamps and TimeSpans exactly as Newtonsoft.Json writes them for the CFX SDK, and lenient readers.

Writing (cfx.md §1.2, §1.3; checked against Newtonsoft's ``DateTimeUtils.WriteDefaultIsoDate``):

- DateTime: ``yyyy-MM-ddTHH:mm:ss`` then, only when the sub-second part is non-zero, ``.`` and up to
  7 fractional digits with trailing zeros dropped; then ``Z`` for Kind=Utc or ``±hh:mm`` for
  Kind=Local. Python carries no Kind, so an offset of zero is written ``Z`` (the SDK's Kind=Utc form)
  and every other offset as ``±hh:mm`` (Kind=Local). A naive datetime is refused: the SDK's doc
  comment requires a zone designator.
- TimeSpan: .NET ``"c"`` format, ``[-][d.]hh:mm:ss[.fffffff]`` with all 7 fraction digits when present.

Reading accepts 0-7 (or more) fractional digits, ``Z``/``z`` or ``±hh:mm``/``±hhmm``, and a missing
offset (read as the machine's local time, as a C# reader would); TimeSpans in every form
``TimeSpan.Parse`` takes (``d``, ``hh:mm``, ``hh:mm:ss``, ``d.hh:mm:ss[.f…]``, ``d:hh:mm:ss``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from native import cfx_time
from protocols.errors import LocalProtocolError

_ONE_US = timedelta(microseconds=1)
_ONE_MINUTE = timedelta(minutes=1)
_US_PER_DAY = 86_400_000_000


class TimeSpan(timedelta):
    """A ``timedelta`` the codec writes in .NET ``"c"`` format (``"00:01:00"``).

    A TimeSpan read from the wire keeps its text (``wire``), so the 100 ns tick a timedelta cannot
    hold survives a relay. Models accept plain ``timedelta`` values and convert them on construction.
    """

    __slots__ = ("_text",)
    _text: str

    @classmethod
    def of(cls, value: timedelta) -> TimeSpan:
        """Return ``value`` as a TimeSpan (itself when it already is one)."""
        if type(value) is cls:
            return value
        return cls(days=value.days, seconds=value.seconds, microseconds=value.microseconds)

    @classmethod
    def from_wire(cls, text: str) -> TimeSpan:
        """Parse ``text`` (any form ``TimeSpan.Parse`` takes) and keep it for writing back.

        Raises:
            ValueError: not a TimeSpan.
        """
        span = cfx_time.parse_timespan(text, cls)
        if span is None:
            span = parse_timespan(text)
            span._text = text
        return span

    def wire(self) -> str:
        """The text to write: as read, or .NET "c" format for a value made here."""
        try:
            return self._text
        except AttributeError:
            return format_timespan(self)


class Timestamp(datetime):
    """A ``datetime`` the codec writes as Newtonsoft does (see module docstring).

    A Timestamp read from the wire keeps its text, so all 7 fractional digits and the offset form
    (``Z``, ``+00:00``, none) survive a relay byte for byte; its value is the instant, rounded to the
    microsecond (a naive text reads as local time). Arithmetic gives a value without text, written
    afresh.
    """

    __slots__ = ("_text",)
    _text: str

    @classmethod
    def of(cls, value: datetime) -> Timestamp:
        """Return ``value`` as a Timestamp (itself when it already is one)."""
        if type(value) is cls:
            return value
        return cls(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            tzinfo=value.tzinfo,
            fold=value.fold,
        )

    @classmethod
    def from_wire(cls, text: str) -> Timestamp:
        """Parse an ISO-8601 ``text`` leniently and keep it for writing back.

        Raises:
            ValueError: not an ISO-8601 date and time.
        """
        stamp = cfx_time.parse_timestamp(text, cls)
        if stamp is None:
            try:
                stamp = cls.of(parse_timestamp(text))
            except ValueError:
                if _TIMESTAMP_ZONE.search(text) is not None:
                    raise
                # A naive text whose local reading is out of range (DateTime.MinValue east of UTC).
                stamp = cls.of(parse_timestamp(text.rstrip() + "Z"))
        stamp._text = text
        return stamp

    def wire(self) -> str:
        """The text to write: as read, or Newtonsoft's form for a value made here.

        Raises:
            LocalProtocolError: a naive value made here (CFX needs an offset).
        """
        try:
            return self._text
        except AttributeError:
            return format_timestamp(self)


_TIMESTAMP_ZONE = re.compile(r"(?:[Zz]|[+-]\d{2}:?\d{2})\s*$")


def time_default(text: str) -> Timestamp:
    """A constant default DateTime as the SDK writes it (``DateTime.MinValue`` has no offset)."""
    stamp = cfx_time.parse_timestamp(text, Timestamp)
    if stamp is None:
        # A naive constant (MinValue): its value in UTC, its text as the SDK writes it.
        stamp = Timestamp.of(datetime.fromisoformat(text).replace(tzinfo=UTC))
    stamp._text = text
    return stamp


def span_default(text: str) -> TimeSpan:
    """A constant default TimeSpan (``"00:00:00"``)."""
    return TimeSpan.from_wire(text)


def writable_time(value: datetime) -> datetime:
    """``value`` in a form the codec writes exactly as Newtonsoft does.

    msgspec's native datetime output is already Newtonsoft's whenever the microseconds are zero or
    do not end in 0 (same digits, ``Z`` for a zero offset, ``±hh:mm`` otherwise), so such values pass
    through as plain datetimes and skip a Python call per value; the rest become Timestamps.

    Raises:
        LocalProtocolError: ``value`` is naive.
    """
    offset = value.utcoffset()
    if offset is None:
        raise LocalProtocolError(f"naive datetime {value.isoformat()} cannot be written: CFX needs an offset")
    micro = value.microsecond
    if type(value) is datetime and (micro % 10 or not micro) and not offset.seconds % 60:
        return value
    return Timestamp.of(value)


def format_timestamp(value: datetime) -> str:
    """Format an aware datetime as the SDK writes a DateTime.

    Raises:
        LocalProtocolError: ``value`` is naive (cfx.md §1.3: the zone designator is required).
    """
    offset = value.utcoffset()
    if offset is None:
        raise LocalProtocolError(f"naive datetime {value.isoformat()} cannot be written: CFX needs an offset")
    text = f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
    text += f"T{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    if value.microsecond:
        # Newtonsoft writes the 7-digit tick fraction with trailing zeros dropped (WriteDefaultIsoDate).
        text += "." + f"{value.microsecond:06d}".rstrip("0")
    if not offset:
        return text + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"{text}{sign}{hours:02d}:{mins:02d}"


_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"\s*(?:([Zz])|([+-])(\d{2}):?(\d{2}))?"
)


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO-8601 timestamp leniently into an aware datetime.

    Fractions beyond microseconds are rounded to the nearest microsecond (a .NET tick is 100 ns).
    A missing offset is read as local time, as the SDK's RoundtripKind reader does.

    Raises:
        ValueError: ``text`` is not an ISO-8601 date and time.
    """
    match = _TIMESTAMP.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not an ISO-8601 timestamp: {text!r}")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    micro = 0
    if fraction:
        digits = (fraction + "000000")[:7]
        micro = (int(digits) + 5) // 10  # ticks → microseconds, rounding half up
    tz: timezone | None
    if zulu:
        tz = UTC
    elif sign:
        delta = timedelta(hours=int(off_h), minutes=int(off_m))
        tz = timezone(-delta if sign == "-" else delta)
    else:
        tz = None
    try:
        base = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), tzinfo=tz)
        result = base + timedelta(microseconds=micro)
        if tz is None:
            # cfx.md §1.3: a missing offset is ambiguous; take it as line-local time.
            result = result.astimezone()
    except OverflowError:
        raise ValueError(f"timestamp out of range: {text!r}") from None
    return result


def format_timespan(value: timedelta) -> str:
    """Format a timedelta in .NET ``"c"`` format: ``[-][d.]hh:mm:ss[.fffffff]``."""
    days, seconds, micro = value.days, value.seconds, value.microseconds
    sign = ""
    if days < 0:
        sign = "-"
        days, rest = divmod(-(value // _ONE_US), _US_PER_DAY)
        seconds, micro = divmod(rest, 1_000_000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = (
        f"{sign}{days}.{hours:02d}:{minutes:02d}:{seconds:02d}"
        if days
        else f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}"
    )
    if micro:
        return f"{text}.{micro * 10:07d}"  # "c" keeps all seven tick digits
    return text


# [-][d.]hh:mm[:ss[.fffffff]] or [-]d:hh:mm:ss[.fffffff]
_TIMESPAN = re.compile(
    r"(-)?(?:(\d+)\.(?=\d+:\d+)|(\d+):(?=\d+:\d+:\d+))?(\d+):(\d+)(?::(\d+)(?:\.(\d{1,7}))?)?"
)
_DAYS_ONLY = re.compile(r"-?\d+")


def parse_timespan(text: str) -> TimeSpan:
    """Parse a TimeSpan in any form ``TimeSpan.Parse`` accepts with the invariant culture.

    Raises:
        ValueError: ``text`` is not a TimeSpan.
    """
    size = len(text)
    if (size == 8 or (size == 16 and text[8] == ".")) and text[2] == ":" and text[5] == ":":
        # The SDK's own "hh:mm:ss[.fffffff]" forms, without the regex.
        try:
            hours, minutes, secs = int(text[:2]), int(text[3:5]), int(text[6:8])
            ticks = int(text[9:]) if size == 16 else 0
        except ValueError:
            pass
        else:
            if minutes < 60 and secs < 60 and hours < 24 and text[:1].isdigit():
                return TimeSpan(0, hours * 3600 + minutes * 60 + secs, (ticks + 5) // 10)
    stripped = text.strip()
    if _DAYS_ONLY.fullmatch(stripped):
        try:
            return TimeSpan(days=int(stripped))
        except OverflowError:
            raise ValueError(f"TimeSpan out of range: {text!r}") from None
    match = _TIMESPAN.fullmatch(stripped)
    if match is None:
        raise ValueError(f"not a TimeSpan: {text!r}")
    negative, dot_days, colon_days, h_text, m_text, s_text, fraction = match.groups()
    days = dot_days or colon_days
    hours, minutes, seconds = int(h_text), int(m_text), int(s_text or 0)
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ValueError(f"TimeSpan component out of range: {text!r}")
    micro = (int((fraction + "000000")[:7]) + 5) // 10 if fraction else 0
    try:
        span = timedelta(
            days=int(days or 0), hours=hours, minutes=minutes, seconds=seconds, microseconds=micro
        )
    except OverflowError:
        raise ValueError(f"TimeSpan out of range: {text!r}") from None
    return TimeSpan.of(-span if negative else span)


__all__ = [
    "TimeSpan",
    "Timestamp",
    "format_timespan",
    "format_timestamp",
    "parse_timespan",
    "parse_timestamp",
    "span_default",
    "time_default",
]
