"""Round trips over the whole catalogue, driven by hypothesis.

Invariants: for any model, model → JSON → model is equal; the JSON we write is canonical, so
JSON → model → JSON is byte-identical; the same JSON with every key lower-cased (the lenient path)
decodes to the same model.
"""

from __future__ import annotations

import typing
import uuid
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum
from typing import Any, Union

import msgspec
import orjson
from hypothesis import given
from hypothesis import strategies as st

from protocols.cfx import Envelope, decode_envelope, encode_envelope
from protocols.cfx.messages import MESSAGE_TYPES, POLYMORPHIC_BASE, POLYMORPHIC_SUBCLASSES, CFXStruct
from protocols.cfx.timefmt import TimeSpan, Timestamp

OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))])
TIMES = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=OFFSETS)
SPANS = st.timedeltas(min_value=timedelta(days=-400), max_value=timedelta(days=400))
# Raw JSON objects (dict[str, Any] members) use lower-case keys, so lower-casing a whole document for
# the lenient-path test leaves them as they were.
RAW_KEYS = st.text(alphabet="abcxyz_", max_size=4)
JSONISH = st.dictionaries(RAW_KEYS, st.one_of(st.none(), st.integers(), st.text(max_size=4)), max_size=2)
SIMPLE: dict[Any, st.SearchStrategy[Any]] = {
    str: st.text(max_size=8),
    int: st.integers(min_value=-(2**31), max_value=2**31 - 1),
    float: st.floats(allow_nan=False, allow_infinity=False),
    bool: st.booleans(),
    uuid.UUID: st.uuids(),
    bytes: st.binary(max_size=12),
    datetime: TIMES,
    Timestamp: TIMES,
    TimeSpan: SPANS,
}


def strategy(tp: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """A strategy for any field type of the catalogue (depth-limited for recursive structures)."""
    origin = typing.get_origin(tp)
    if origin in (Union, __import__("types").UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(tp))
        if len(args) > 1 or (args and args[0] in POLYMORPHIC_BASE):
            inner = structs(POLYMORPHIC_BASE[args[0]], depth)
        else:
            inner = strategy(args[0], depth)
        return st.one_of(st.none(), inner) if nullable else inner
    if origin is list:
        return st.lists(strategy(typing.get_args(tp)[0], depth + 1), max_size=0 if depth > 2 else 2)
    if origin is dict:
        value_type = typing.get_args(tp)[1]
        if value_type is str:
            return st.dictionaries(RAW_KEYS, st.text(max_size=4), max_size=2)
        return JSONISH
    if tp is Any:
        return JSONISH
    if isinstance(tp, type) and issubclass(tp, Enum):
        return st.sampled_from(list(tp))
    if isinstance(tp, type) and issubclass(tp, CFXStruct):
        # A plain slot holds its declared class; only polymorphic slots (tagged unions) hold the family.
        return build(tp, depth)
    return SIMPLE[tp]


def structs(cls: type[Any], depth: int) -> st.SearchStrategy[Any]:
    """The class, or any class of its polymorphic family."""
    family = [cls, *POLYMORPHIC_SUBCLASSES.get(cls, [])]
    return st.one_of(*(build(c, depth) for c in family))


def build(cls: type[Any], depth: int) -> st.SearchStrategy[Any]:
    fields = {
        f.name: st.none() if depth > 3 and _nullable(f.type) else strategy(f.type, depth + 1)
        for f in msgspec.structs.fields(cls)
    }
    return st.builds(cls, **fields)


def _nullable(tp: Any) -> bool:
    return type(None) in typing.get_args(tp)


@st.composite
def envelopes(draw: st.DrawFn) -> Envelope:
    cls = draw(st.sampled_from(sorted(MESSAGE_TYPES.values(), key=lambda c: c.MESSAGE_NAME)))
    body = draw(build(cls, 0))
    return Envelope(
        cls.MESSAGE_NAME,
        draw(TIMES),
        draw(st.uuids()),
        draw(st.none() | st.text(max_size=8)),
        draw(st.none() | st.text(max_size=8)),
        draw(st.none() | st.text(max_size=8)),
        body,
    )


def lower_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k if k == "$type" else k.lower(): lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [lower_keys(v) for v in value]
    return value


@given(envelopes())
def test_model_json_model(envelope: Envelope) -> None:
    """model → JSON → model is equal, and the JSON re-encodes byte for byte."""
    data = encode_envelope(envelope)
    back = decode_envelope(data)
    assert back == envelope
    assert encode_envelope(back) == data


@given(envelopes())
def test_lenient_path_agrees(envelope: Envelope) -> None:
    """Every member name lower-cased sends the document down the lenient path: same model."""
    lowered = orjson.dumps(lower_keys(orjson.loads(encode_envelope(envelope))))
    assert decode_envelope(lowered) == envelope
