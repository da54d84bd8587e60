"""Hermes attribute values: how each type is read from the wire, written to it, and checked
(reference §1, "Value formats").

Reading is strict where lib_cpp is: integers in xs:int form (surrounding whitespace allowed),
decimals in xs:double's finite decimal forms, enum values as integers, an integer outside its
enumeration read as the enumeration's 0 member. Writing: integers and enums in decimal, decimals
with exactly three places (as lib_cpp writes doubles), strings escaped so that they survive
attribute normalization. A check refuses a value the wire cannot carry (ValueError); it runs
when a message is built, so the writers can trust what they are given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from enum import IntEnum
from typing import Any

from native.hermes_codec import ENUM, FLOAT, INT, STR

# xs:int / xs:double lexical forms, with the surrounding whitespace XML readers tolerate.
_INTEGER = re.compile(r"[ \t\r\n]*[+-]?[0-9]+[ \t\r\n]*")
_U16_FIELDS = frozenset({"port", "route", "action", "command", "pos", "supervisory_system_port"})
_UINT_MAX = 0xFFFFFFFF
_U16_MAX = 0xFFFF

_ESCAPE_NEEDED = re.compile('[&<>"\x00-\x1f\ud800-\udfff\ufffe\uffff]')
_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}
)
# XML 1.0 §2.2: these cannot appear in a document at all, not even as references.
_UNREPRESENTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def escape(value: str) -> str:
    if _ESCAPE_NEEDED.search(value) is None:
        return value
    if _UNREPRESENTABLE.search(value) is not None:
        raise ValueError("holds a character XML 1.0 cannot carry")
    return value.translate(_ESCAPES)


def int_reader(maximum: int) -> Callable[[str], int]:
    def read(raw: str) -> int:
        # Fast path: plain ASCII digits; everything else must match the xs:int form.
        if not (raw.isascii() and raw.isdigit()) and _INTEGER.fullmatch(raw) is None:
            raise ValueError("not an integer")
        value = int(raw)
        if not 0 <= value <= maximum:
            raise ValueError(f"outside 0..{maximum}")
        return value

    return read


def read_float(raw: str) -> float:
    # float() alone also takes "1_0", "nan", "inf" and non-ASCII digits; refusing those leaves
    # xs:double's decimal forms (with surrounding whitespace).
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("not a decimal number") from None
    if not raw.isascii() or "_" in raw or not math.isfinite(value):
        raise ValueError("not a finite decimal number")
    return value


def enum_reader(enum: type[IntEnum]) -> Callable[[str], IntEnum]:
    canonical = {str(member.value): member for member in enum}
    members = {member.value: member for member in enum}
    zero = enum(0)

    def read(raw: str) -> IntEnum:
        member = canonical.get(raw)
        if member is not None:
            return member
        if _INTEGER.fullmatch(raw) is None:
            raise ValueError("not an integer")
        # lib_cpp reads an out-of-range enum value as 0 (reference §2); so do we.
        return members.get(int(raw), zero)

    return read


# The checks run once per message built; they only refuse (ValueError), the writers format.


def int_check(maximum: int) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if type(value) is not int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"must be an integer in 0..{maximum}")
        if not 0 <= value <= maximum:
            raise ValueError(f"must be an integer in 0..{maximum}")

    return check


def check_float(value: Any) -> None:
    if type(value) is not float and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValueError("must be a finite number")
    if not math.isfinite(value):
        raise ValueError("must be a finite number")


def check_str(value: Any) -> None:
    if not isinstance(value, str):
        raise ValueError("must be a str")
    # A printable string holds none of the characters XML cannot carry (all are unprintable).
    if not value.isprintable() and _UNREPRESENTABLE.search(value) is not None:
        raise ValueError("holds a character XML 1.0 cannot carry")


def enum_check(enum: type[IntEnum]) -> Callable[[Any], None]:
    values = frozenset(member.value for member in enum)

    def check(value: Any) -> None:
        if type(value) is enum:
            return
        if isinstance(value, bool) or not isinstance(value, int) or int(value) not in values:
            raise ValueError(f"must be a {enum.__name__}")

    return check


def write_number(value: Any) -> str:
    return str(int(value))


def write_decimal(value: Any) -> str:
    # Reference §1: lib writes doubles with exactly 3 decimals.
    return f"{value:.3f}"


def scalar(
    field: str, hint: Any
) -> tuple[Callable[[str], Any], Callable[[Any], str], Callable[[Any], None], int, Any]:
    """(reader, writer, check, kind, table) of one attribute type (kind and table: for the
    shapes of :mod:`native.hermes_codec`)."""
    if isinstance(hint, type) and issubclass(hint, IntEnum):
        canonical = {str(member.value): member for member in hint}  # as enum_reader's
        return enum_reader(hint), write_number, enum_check(hint), ENUM, canonical
    if hint is str:
        return str, escape, check_str, STR, None
    if hint is float:
        return read_float, write_decimal, check_float, FLOAT, None
    if hint is int:
        maximum = _U16_MAX if field in _U16_FIELDS else _UINT_MAX
        return int_reader(maximum), write_number, int_check(maximum), INT, maximum
    raise TypeError(f"no codec for {hint!r}")  # pragma: no cover - a programming error


__all__ = [
    "check_float",
    "check_str",
    "enum_check",
    "enum_reader",
    "escape",
    "int_check",
    "int_reader",
    "read_float",
    "scalar",
    "write_decimal",
    "write_number",
]
