"""The lenient reader: builds models from decoded JSON the way the SDK's Newtonsoft reader accepts it.

The codec tries msgspec's strict decoder first (exact casing, canonical forms) and comes here when
that fails. Rules (cfx.md §1.2, §4):

- member names match case-insensitively; unknown members are ignored; missing members take defaults;
- ``$type`` is optional and resolved only through the allow-lists in ``messages.base``; a ``$type``
  outside the declared slot's family (or unknown) keeps the value verbatim as an UnknownStructure
  (``messages.base.build_polymorphic``), so nothing is dropped;
- enums by name in any case or by integer; ResourceState also as code, numeric string or legacy
  ``22A0``/``22B0``; an unknown name is an error naming the JSON path;
- DateTime with 0-7 fractional digits and ``Z``/offset/none; TimeSpan in every ``TimeSpan.Parse`` form;
  Guids in any case, with or without braces; ``byte[]`` as base64; numbers in strings.
"""

from __future__ import annotations

import base64
import binascii
import types
import typing
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, Union

import msgspec

from protocols.cfx.enums import enum_from_wire
from protocols.cfx.envelope import CFX_VERSION, Envelope, RawMessage
from protocols.cfx.messages.base import (
    MESSAGE_TYPES,
    CFXMessage,
    CFXStruct,
    build_polymorphic,
    is_polymorphic_slot,
)
from protocols.cfx.timefmt import TimeSpan, Timestamp
from protocols.errors import RemoteProtocolError

_MIN_TIME = datetime(1, 1, 1, tzinfo=UTC)  # DateTime.MinValue, for a missing TimeStamp


class LenientError(RemoteProtocolError):
    """A value the SDK would also refuse; ``path`` is its JSON path (``$.MessageBody.Fault.Cause``)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def build_envelope(obj: Any, path: str = "$") -> Envelope:
    """Build an Envelope from one decoded JSON object.

    Raises:
        LenientError: the object is not an envelope, or a member has a value the SDK refuses.
    """
    if not isinstance(obj, dict):
        raise LenientError(path, f"an envelope must be a JSON object, not {_kind(obj)}")
    members = {key.lower(): value for key, value in obj.items()}
    name = _text(members.get("messagename"), f"{path}.MessageName")
    body_obj = members.get("messagebody")
    body_path = f"{path}.MessageBody"
    if body_obj is not None and not isinstance(body_obj, dict):
        raise LenientError(body_path, f"expected an object, not {_kind(body_obj)}")
    if name is None and isinstance(body_obj, dict) and isinstance(body_obj.get("$type"), str):
        name = body_obj["$type"].split(",")[0].strip()
    if name is None:
        raise LenientError(f"{path}.MessageName", "missing: the message cannot be identified")
    cls = MESSAGE_TYPES.get(name)
    body: CFXMessage | RawMessage
    if cls is None:
        body = RawMessage(message_name=name, body=dict(body_obj or {}))
    else:
        body = build_struct(cls, body_obj or {}, body_path)
    stamp = members.get("timestamp")
    unique = members.get("uniqueid")
    version = members.get("version")
    return Envelope(
        message_name=name,
        time_stamp=_MIN_TIME if stamp is None else _timestamp(stamp, f"{path}.TimeStamp"),
        unique_id=uuid.UUID(int=0) if unique is None else _uuid(unique, f"{path}.UniqueID"),
        source=_text(members.get("source"), f"{path}.Source"),
        target=_text(members.get("target"), f"{path}.Target"),
        request_id=_text(members.get("requestid"), f"{path}.RequestID"),
        body=body,
        version=CFX_VERSION if version is None else str(version),
    )


def build_struct(cls: type[Any], value: Any, path: str) -> Any:
    """Build a Struct of ``cls`` from a JSON object.

    Args:
        cls: the class (a polymorphic slot resolves it first, see ``build_polymorphic``).
        value: the decoded JSON object.
        path: its JSON path, for errors.

    Raises:
        LenientError: with the JSON path of the first member the SDK would refuse.
    """
    if not isinstance(value, dict):
        raise LenientError(path, f"expected an object for {cls.__name__}, not {_kind(value)}")
    members = {key.lower(): item for key, item in value.items()}
    kwargs: dict[str, Any] = {}
    for attr, wire, lower, convert in _plan(cls):
        if lower in members:
            kwargs[attr] = convert(members[lower], f"{path}.{wire}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise LenientError(path, str(exc)) from exc


def _polymorphic_converter(declared: str) -> Converter:
    def convert(value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise LenientError(path, f"expected an object, not {_kind(value)}")
        return build_polymorphic(declared, value, lambda obj, cls: build_struct(cls, obj, path))

    return convert


Converter = Callable[[Any, str], Any]


_PLANS: dict[type[Any], tuple[tuple[str, str, str, Converter], ...]] = {}


def _plan(cls: type[Any]) -> tuple[tuple[str, str, str, Converter], ...]:
    # (attribute, wire name, lower-case wire name, converter) per field, compiled once per class.
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = tuple(
            (info.name, info.encode_name, info.encode_name.lower(), _converter(info.type))
            for info in msgspec.structs.fields(cls)
        )
    return plan


def _converter(tp: Any) -> Converter:
    origin = typing.get_origin(tp)
    if tp is Any or tp is object:
        return lambda value, path: value
    if origin in (Union, types.UnionType):
        return _union_converter(typing.get_args(tp))
    if origin is list or origin is Sequence:
        (item_type,) = typing.get_args(tp)
        item = _converter(item_type)

        # A C# List of a class may hold null; it is kept (and written back), though the model's
        # item type leaves it out for the readers' sake.
        keep_null = is_polymorphic_slot(item_type) or (
            isinstance(item_type, type) and issubclass(item_type, CFXStruct)
        )

        def convert_list(value: Any, path: str) -> list[Any]:
            if value is None:
                return []  # a C# List member may be null; our non-optional lists read it as empty
            return [
                None if v is None and keep_null else item(v, f"{path}[{i}]")
                for i, v in enumerate(_expect(value, list, path))
            ]

        return convert_list
    if origin is dict:
        _, value_type = typing.get_args(tp)
        inner = _converter(value_type)
        return lambda value, path: {
            str(k): inner(v, f"{path}.{k}") for k, v in _expect(value, dict, path).items()
        }
    if isinstance(tp, type):
        if is_polymorphic_slot(tp):
            return _polymorphic_converter(getattr(tp, "DECLARED"))  # noqa: B009  (a marker class)
        if issubclass(tp, CFXStruct):
            return lambda value, path: build_struct(tp, value, path)
        if issubclass(tp, Enum):
            return _enum_converter(tp)
        simple = _SIMPLE.get(tp)
        if simple is not None:
            return simple
    raise TypeError(f"no lenient reader for {tp!r}")


def _union_converter(args: tuple[Any, ...]) -> Converter:
    nullable = type(None) in args
    # UnsetType marks a member Newtonsoft leaves out at its default: read like the type it holds.
    rest = [a for a in args if a is not type(None) and a is not msgspec.UnsetType]
    if len(rest) != 1:
        raise TypeError(f"no lenient reader for union {args!r}")
    inner = _converter(rest[0])

    def convert(value: Any, path: str) -> Any:
        if value is None:
            if nullable:
                return None
            raise LenientError(path, "null is not allowed here")
        return inner(value, path)

    return convert


def _enum_converter(cls: type[Enum]) -> Converter:
    def convert(value: Any, path: str) -> Any:
        try:
            return enum_from_wire(cls, value)
        except ValueError as exc:
            raise LenientError(path, str(exc)) from None

    return convert


def _expect(value: Any, kind: type[Any], path: str) -> Any:
    if not isinstance(value, kind):
        raise LenientError(
            path, f"expected {'an array' if kind is list else 'an object'}, not {_kind(value)}"
        )
    return value


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _text(value: Any, path: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)  # Newtonsoft reads a primitive into a string member
    raise LenientError(path, f"expected a string, not {_kind(value)}")


def _integer(value: Any, path: str) -> int:
    if isinstance(value, bool):
        raise LenientError(path, "expected an integer, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise LenientError(path, f"expected an integer, not {value!r}")


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool):
        raise LenientError(path, "expected a number, not a boolean")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise LenientError(path, f"expected a number, not {value!r}")


def _decimal(value: Any, path: str) -> Decimal:
    # orjson has read the number as a float already: its shortest repr is the closest text.
    if isinstance(value, bool):
        raise LenientError(path, "expected a number, not a boolean")
    if isinstance(value, int | float | str):
        try:
            return Decimal(str(value).strip())
        except InvalidOperation:
            pass
    raise LenientError(path, f"expected a number, not {value!r}")


def _boolean(value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise LenientError(path, f"expected true or false, not {value!r}")


def _timestamp(value: Any, path: str) -> datetime:
    if isinstance(value, str):
        try:
            return Timestamp.from_wire(value)
        except ValueError as exc:
            raise LenientError(path, str(exc)) from None
    raise LenientError(path, f"expected an ISO-8601 timestamp string, not {_kind(value)}")


def _timespan(value: Any, path: str) -> TimeSpan:
    if isinstance(value, str):
        try:
            return TimeSpan.from_wire(value)
        except ValueError as exc:
            raise LenientError(path, str(exc)) from None
    raise LenientError(path, f"expected a TimeSpan string, not {_kind(value)}")


def _uuid(value: Any, path: str) -> uuid.UUID:
    if isinstance(value, str):
        try:
            return uuid.UUID(value.strip())
        except ValueError:
            pass
    raise LenientError(path, f"expected a GUID, not {value!r}")


def _bytes(value: Any, path: str) -> bytes:
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            pass
    raise LenientError(path, "expected base64 text (a C# byte[])")


_SIMPLE: dict[type[Any], Converter] = {
    str: _text,
    int: _integer,
    float: _number,
    Decimal: _decimal,
    bool: _boolean,
    Timestamp: _timestamp,
    datetime: _timestamp,
    TimeSpan: _timespan,
    uuid.UUID: _uuid,
    bytes: _bytes,
}

__all__ = ["LenientError", "build_envelope", "build_struct"]
