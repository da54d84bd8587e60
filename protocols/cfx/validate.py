"""Output validator and linter: every way a CFX envelope departs from what the SDK writes.

``validate_json`` walks decoded JSON against the catalogue and reports each problem with its JSON
path and a rule name; ``validate_bytes`` starts from raw bytes; ``validate_envelope`` checks our
own output (encode, then validate). The rules, strict as cfx.md §4 recommends for output:

=================  =========================================================================
rule               meaning (reference)
=================  =========================================================================
json               not UTF-8 JSON, or not an object (§4)
envelope-order     envelope keys not in the SDK's order (§1.1)
key-casing         a member name differs from the SDK's only in case (§1.2)
unknown-member     a member the SDK type does not have (§1.2; ignored by readers, never written)
missing-member     a member the SDK would write is absent; it writes every member, nulls too (§1.2)
type-missing       MessageBody, or a subclass value where the SDK writes ``$type``, without it (§0, §1.2)
type-ignored       ``$type`` where the SDK's reader ignores it (the slot is not Auto): members lost
type-not-first     ``$type`` present but not the first key: C# readers then ignore it (§1.2)
type-unknown       ``$type`` outside the catalogue or the slot's family, or members no class of the
                   slot has: a subclass linegate does not know (kept verbatim when relayed) (§4)
type-mismatch      MessageBody ``$type`` names another class than MessageName (§1.1)
message-unknown    MessageName not in linegate's catalogue; the body cannot be checked (§4)
json-type          a value of the wrong JSON type (string for a number, ...) (§4)
null-not-allowed   null in a C# value-type member (int, double, bool, enum, Guid, DateTime)
enum-unknown       not a member of the enum: C# readers reject the message (§1.2, §4)
enum-form          a valid enum written in another form than the SDK's (case, integer, name) (§1.2)
timestamp-naive    a DateTime without ``Z`` or offset (§1.3)
timestamp-format   a DateTime that is not ISO-8601 with at most 7 fractional digits (§1.3)
timespan-format    a TimeSpan not in .NET "c" format (§1.2)
guid-format        a GUID that is malformed or not lowercase 8-4-4-4-12 (§1.1)
double-format      a double without a decimal point, as Newtonsoft always writes one (§1.2)
base64             a ``byte[]`` member that is not base64 (§3.2)
unit-count         UnitCount differs from the number of Units (§1.2)
=================  =========================================================================
"""

from __future__ import annotations

import base64
import binascii
import difflib
import re
import types
import typing
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum, IntEnum
from typing import Any, Union

import msgspec
import orjson

from protocols.cfx.codec import encode_envelope
from protocols.cfx.enums import ResourceState, enum_from_wire
from protocols.cfx.envelope import Envelope
from protocols.cfx.messages.base import (
    MESSAGE_TYPES,
    STRUCTURE_TYPES,
    CFXStruct,
    family,
    is_polymorphic_slot,
)
from protocols.cfx.messages.polymorphic import SLOTS
from protocols.cfx.timefmt import TimeSpan, Timestamp, parse_timestamp
from protocols.errors import LocalProtocolError

ENVELOPE_KEYS = (
    "MessageName",
    "Version",
    "TimeStamp",
    "UniqueID",
    "Source",
    "Target",
    "RequestID",
    "MessageBody",
)

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIMESPAN_C = re.compile(r"-?(?:\d+\.)?\d{2}:\d{2}:\d{2}(?:\.\d{7})?")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?")


@dataclass(frozen=True, slots=True)
class Problem:
    """One departure from the SDK's output.

    Attributes:
        path: JSON path (``$.MessageBody.CommonProcessData.ZoneData[2].Zone.ReflowZoneType``).
        rule: the rule broken (see the module docstring).
        message: what is wrong, in words.
    """

    path: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: [{self.rule}] {self.message}"


# msgspec.structs.fields evaluates the class's annotations on every call (about 50 us for an
# envelope's types); the catalogue's classes never change, so their fields are read once.
_FIELDS: dict[type[Any], tuple[msgspec.structs.FieldInfo, ...]] = {}


def _fields(cls: type[Any]) -> tuple[msgspec.structs.FieldInfo, ...]:
    fields = _FIELDS.get(cls)
    if fields is None:
        fields = _FIELDS[cls] = msgspec.structs.fields(cls)
    return fields


def validate_envelope(envelope: Envelope) -> list[Problem]:
    """Check an envelope we are about to send: encode it, then validate the JSON.

    A value the encoder refuses (a naive datetime) is reported as a problem at ``$``.
    """
    try:
        data = encode_envelope(envelope)
    except LocalProtocolError as exc:
        rule = "timestamp-naive" if "naive" in str(exc) else "json-type"
        return [Problem("$", rule, str(exc))]
    return validate_bytes(data)


def validate_bytes(data: bytes | str) -> list[Problem]:
    """Validate one envelope or a JSON array of envelopes given as UTF-8 JSON."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return [Problem("$", "json", f"not valid UTF-8 JSON: {exc}")]
    if isinstance(obj, list):
        return [p for i, item in enumerate(obj) for p in validate_json(item, f"$[{i}]")]
    return validate_json(obj)


def validate_json(obj: Any, path: str = "$") -> list[Problem]:
    """Validate one decoded envelope object; returns every problem found (empty when clean)."""
    problems: list[Problem] = []
    if not isinstance(obj, dict):
        return [Problem(path, "json", f"an envelope must be a JSON object, not {_kind(obj)}")]
    exact = _check_members(obj, {k: k for k in ENVELOPE_KEYS}, path, problems)
    canonical = {k.lower(): k for k in ENVELOPE_KEYS}
    written = [canonical[k.lower()] for k in obj if k.lower() in canonical]
    if written != sorted(written, key=ENVELOPE_KEYS.index):
        problems.append(
            Problem(path, "envelope-order", f"keys must come in the order {', '.join(ENVELOPE_KEYS)}")
        )
    name = exact.get("MessageName")
    if not isinstance(name, str):
        problems.append(Problem(f"{path}.MessageName", "json-type", "MessageName must be a string"))
    if not isinstance(exact.get("Version"), str):
        problems.append(Problem(f"{path}.Version", "json-type", 'Version must be a string such as "2.1"'))
    _check_time(exact.get("TimeStamp"), f"{path}.TimeStamp", False, problems)
    _check_guid(exact.get("UniqueID"), f"{path}.UniqueID", False, problems)
    for key in ("Source", "Target", "RequestID"):
        if exact.get(key) is not None and not isinstance(exact[key], str):
            problems.append(Problem(f"{path}.{key}", "json-type", f"{key} must be a string or null"))
    body = exact.get("MessageBody")
    body_path = f"{path}.MessageBody"
    if not isinstance(body, dict):
        problems.append(Problem(body_path, "json-type", f"MessageBody must be an object, not {_kind(body)}"))
        return problems
    cls = MESSAGE_TYPES.get(name) if isinstance(name, str) else None
    tag = body.get("$type")
    if tag is None:
        problems.append(
            Problem(body_path, "type-missing", 'MessageBody must start with "$type": "<MessageName>, CFX"')
        )
    else:
        _check_tag_position(body, body_path, problems)
        if isinstance(name, str) and tag != f"{name}, CFX":
            problems.append(
                Problem(f"{body_path}.$type", "type-mismatch", f'expected "{name}, CFX", got {tag!r}')
            )
    if cls is None:
        hint = _did_you_mean(name, MESSAGE_TYPES) if isinstance(name, str) else ""
        problems.append(
            Problem(f"{path}.MessageName", "message-unknown", f"{name!r} is not a CFX 2.1 message{hint}")
        )
        return problems
    _check_struct(cls, body, body_path, problems, "Auto")
    return problems


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_members(
    obj: dict[str, Any],
    wanted: dict[str, str],
    path: str,
    problems: list[Problem],
    optional: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    # Maps wire names to values; reports casing, unknown and missing members.
    by_lower = {w.lower(): w for w in wanted}
    found: dict[str, Any] = {}
    for key, value in obj.items():
        if key == "$type":
            continue
        if key in wanted:
            found[key] = value
        elif key.lower() in by_lower:
            right = by_lower[key.lower()]
            problems.append(Problem(f"{path}.{key}", "key-casing", f"the SDK writes {right!r}"))
            found[right] = value
        else:
            hint = _did_you_mean(key, wanted)
            problems.append(
                Problem(f"{path}.{key}", "unknown-member", f"not a member of this CFX type{hint}")
            )
    for wire in wanted:
        if wire not in found and wire not in optional:
            problems.append(
                Problem(f"{path}.{wire}", "missing-member", "the SDK writes every member, null included")
            )
    return found


def _check_tag_position(obj: dict[str, Any], path: str, problems: list[Problem]) -> None:
    if next(iter(obj)) != "$type":
        problems.append(
            Problem(f"{path}.$type", "type-not-first", '"$type" must be the first key of its object')
        )


def _check_struct(
    cls: type[Any], obj: dict[str, Any], path: str, problems: list[Problem], holder_item: str | None
) -> None:
    # ``holder_item``: the ItemTypeNameHandling of the property holding ``obj`` (Newtonsoft's
    # containerProperty), which decides ``$type`` on obj's members with no setting of their own.
    fields = _fields(cls)
    optional = frozenset(f.encode_name for f in fields if _omittable(f.type))
    found = _check_members(obj, {f.encode_name: f.name for f in fields}, path, problems, optional)
    class_item, slots = SLOTS.get(cls.CFX_TYPE, (None, ()))
    rules = {slot[0]: slot for slot in slots}
    for info in fields:
        if info.encode_name not in found:
            continue
        rule = rules.get(info.name)
        slot: _Slot = (None, None)
        if rule is not None:
            _, shape, _, own, item = rule
            if shape == "one":
                slot = ((own or holder_item or class_item) == "Auto", item)
            else:
                slot = (item == "Auto", None)
        _check_value(info.type, found[info.encode_name], f"{path}.{info.encode_name}", problems, slot)
    if (
        "UnitCount" in found
        and isinstance(found.get("Units"), list)
        and found["UnitCount"] != len(found["Units"])
    ):
        problems.append(
            Problem(
                f"{path}.UnitCount", "unit-count", f"must equal the number of Units ({len(found['Units'])})"
            )
        )


# (is the slot TypeNameHandling.Auto, the ItemTypeNameHandling its value hands down); (None, None)
# for a member that cannot hold a subclass.
_Slot = tuple[bool | None, str | None]


def _omittable(tp: Any) -> bool:
    # DefaultValueHandling.Ignore members (typed ``X | UnsetType``) are left out at their default.
    return typing.get_origin(tp) in (Union, types.UnionType) and msgspec.UnsetType in typing.get_args(tp)


def _check_polymorphic(
    declared: str, obj: dict[str, Any], path: str, problems: list[Problem], slot: _Slot
) -> None:
    auto, item = slot
    classes = family(declared)
    tag = obj.get("$type")
    if tag is not None:
        _check_tag_position(obj, path, problems)
        found = STRUCTURE_TYPES.get(tag.split(",")[0].strip()) if isinstance(tag, str) else None
        if found is None or found not in classes or not tag.endswith(", CFX"):
            names = ", ".join(f'"{c.CFX_TYPE}, CFX"' for c in classes)
            problems.append(
                Problem(
                    f"{path}.$type", "type-unknown", f"{tag!r} is not a CFX class this slot holds ({names})"
                )
            )
            return
        if auto is False:
            problems.append(
                Problem(
                    f"{path}.$type",
                    "type-ignored",
                    "the SDK writes no $type here and its reader ignores it: the subclass's members are lost",
                )
            )
        _check_struct(found, obj, path, problems, item)
        return
    keys = {k.lower() for k in obj}
    fits = [c for c in classes if keys <= {f.encode_name.lower() for f in _fields(c)}]
    if not fits or fits[0] is classes[0]:
        _check_struct(classes[0], obj, path, problems, item)
        return
    sub = min(fits, key=lambda c: len(_fields(c)))
    if auto:
        problems.append(
            Problem(path, "type-missing", f'a {sub.__name__} needs "$type": "{sub.CFX_TYPE}, CFX"')
        )
    _check_struct(sub, obj, path, problems, item)


def _check_value(tp: Any, value: Any, path: str, problems: list[Problem], slot: _Slot = (None, None)) -> None:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        all_args = [a for a in typing.get_args(tp) if a is not msgspec.UnsetType]
        args = [a for a in all_args if a is not type(None)]
        if value is None:
            if len(args) == len(all_args):
                problems.append(Problem(path, "null-not-allowed", "this member cannot be null"))
            return
        tp = args[0]
        origin = typing.get_origin(tp)
    if value is None:
        if tp in (int, float, bool, uuid.UUID, datetime, Timestamp, TimeSpan) or _is_enum(tp):
            problems.append(Problem(path, "null-not-allowed", "a C# value type cannot be null"))
        return
    if tp is Any or tp is object:
        return
    if origin is list or origin is Sequence:
        if not isinstance(value, list):
            problems.append(Problem(path, "json-type", f"expected an array, not {_kind(value)}"))
            return
        (item,) = typing.get_args(tp)
        for i, v in enumerate(value):
            _check_value(item, v, f"{path}[{i}]", problems, slot)
        return
    if origin is dict:
        if not isinstance(value, dict):
            problems.append(Problem(path, "json-type", f"expected an object, not {_kind(value)}"))
            return
        _, inner = typing.get_args(tp)
        for k, v in value.items():
            _check_value(inner, v, f"{path}.{k}", problems, slot)
        return
    if is_polymorphic_slot(tp) or (isinstance(tp, type) and issubclass(tp, CFXStruct)):
        if not isinstance(value, dict):
            problems.append(Problem(path, "json-type", f"expected an object, not {_kind(value)}"))
        elif is_polymorphic_slot(tp):
            _check_polymorphic(tp.DECLARED, value, path, problems, slot)
        else:
            _check_struct(tp, value, path, problems, slot[1])
        return
    if _is_enum(tp):
        _check_enum(tp, value, path, problems)
    elif tp in (datetime, Timestamp):
        _check_time(value, path, True, problems)
    elif tp is TimeSpan:
        if not isinstance(value, str) or not _TIMESPAN_C.fullmatch(value):
            problems.append(
                Problem(
                    path, "timespan-format", f'{value!r} is not .NET "c" format [-][d.]hh:mm:ss[.fffffff]'
                )
            )
    elif tp is uuid.UUID:
        _check_guid(value, path, True, problems)
    elif tp is bytes:
        if not isinstance(value, str) or not _is_base64(value):
            problems.append(Problem(path, "base64", "a byte[] member must be base64 text"))
    else:
        _check_scalar(tp, value, path, problems)


def _check_scalar(tp: Any, value: Any, path: str, problems: list[Problem]) -> None:
    if tp is str and not isinstance(value, str):
        problems.append(Problem(path, "json-type", f"expected a string, not {_kind(value)}"))
    elif tp is bool and not isinstance(value, bool):
        problems.append(Problem(path, "json-type", f"expected true or false, not {_kind(value)}"))
    elif tp is int and (isinstance(value, bool) or not isinstance(value, int)):
        problems.append(Problem(path, "json-type", f"expected an integer, not {value!r}"))
    elif tp is float or tp is Decimal:
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(Problem(path, "json-type", f"expected a number, not {_kind(value)}"))
        elif isinstance(value, int):
            problems.append(
                Problem(path, "double-format", f"a double is written with a decimal point ({value}.0)")
            )


def _check_enum(tp: type[Enum], value: Any, path: str, problems: list[Problem]) -> None:
    if issubclass(tp, IntEnum):
        if isinstance(value, int) and not isinstance(value, bool) and value in tp._value2member_map_:
            return
    elif isinstance(value, str) and value in tp._value2member_map_:
        return
    try:
        member = enum_from_wire(tp, value)
    except ValueError:
        problems.append(Problem(path, "enum-unknown", f"{value!r} is not a {tp.__name__}"))
        return
    if tp is ResourceState:
        wanted = f'"{member.value}" (the numeric code as a string)'
    else:
        wanted = str(member.value) if issubclass(tp, IntEnum) else f'"{member.value}"'
    problems.append(Problem(path, "enum-form", f"the SDK writes {tp.__name__} {value!r} as {wanted}"))


def _check_time(value: Any, path: str, nullable: bool, problems: list[Problem]) -> None:
    if value is None and nullable:
        return
    if not isinstance(value, str):
        problems.append(Problem(path, "timestamp-format", f"expected an ISO-8601 string, not {_kind(value)}"))
        return
    match = _ISO.fullmatch(value)
    if match is None:
        try:
            parse_timestamp(value)
        except ValueError:
            problems.append(Problem(path, "timestamp-format", f"{value!r} is not ISO-8601"))
            return
        problems.append(
            Problem(path, "timestamp-format", f"{value!r} is not in the SDK's yyyy-MM-ddTHH:mm:ss form")
        )
        return
    fraction, zone = match.groups()
    try:
        parse_timestamp(value)
    except ValueError:
        problems.append(Problem(path, "timestamp-format", f"{value!r} is not a valid date and time"))
        return
    if zone is None:
        problems.append(
            Problem(path, "timestamp-naive", f"{value!r} has no offset or Z: the instant is ambiguous")
        )
    if fraction is not None and len(fraction) > 7:
        problems.append(Problem(path, "timestamp-format", f"{value!r} has more than 7 fractional digits"))


def _check_guid(value: Any, path: str, nullable: bool, problems: list[Problem]) -> None:
    if value is None and nullable:
        return
    if isinstance(value, str) and _GUID.fullmatch(value):
        return
    try:
        uuid.UUID(str(value))
    except ValueError:
        problems.append(Problem(path, "guid-format", f"{value!r} is not a GUID"))
        return
    problems.append(Problem(path, "guid-format", f"{value!r}: the SDK writes GUIDs lowercase 8-4-4-4-12"))


def _is_enum(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, Enum)


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


__all__ = ["ENVELOPE_KEYS", "Problem", "validate_bytes", "validate_envelope", "validate_json"]
