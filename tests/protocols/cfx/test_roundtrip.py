"""Round trips over the whole catalogue, driven by hypothesis.

Invariants: for any model, model → JSON → model is equal; the JSON we write is canonical, so
JSON → model → JSON is byte-identical; the same JSON with every key lower-cased (the lenient path)
decodes to the same model.
"""

from __future__ import annotations

import collections.abc
import typing
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Any, Union

import msgspec
import orjson
from hypothesis import given
from hypothesis import strategies as st

from protocols.cfx import Envelope, decode_envelope, encode_envelope
from protocols.cfx.messages import MESSAGE_TYPES, CFXStruct
from protocols.cfx.messages.base import family, is_polymorphic_slot, sdk_form
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
    Decimal: st.decimals(allow_nan=False, allow_infinity=False),
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
        members = typing.get_args(tp)
        args = [a for a in members if a is not type(None) and a is not msgspec.UnsetType]
        inner = strategy(args[0], depth)
        if msgspec.UnsetType in members:
            inner = st.one_of(st.just(msgspec.UNSET), inner)
        return st.one_of(st.none(), inner) if type(None) in members else inner
    if is_polymorphic_slot(tp):
        return structs(tp.DECLARED, depth)
    if origin is list or origin is collections.abc.Sequence:
        return st.lists(strategy(typing.get_args(tp)[0], depth + 1), max_size=0 if depth > 1 else 2)
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
        # A plain slot holds its declared class; only polymorphic slots hold the family.
        return build(tp, depth)
    return SIMPLE[tp]


def structs(declared: str, depth: int) -> st.SearchStrategy[Any]:
    """Any class of a polymorphic slot's family."""
    return st.one_of(*(build(c, depth) for c in family(declared)))


def build(cls: type[Any], depth: int) -> st.SearchStrategy[Any]:
    if depth > 2:
        return st.builds(cls)  # every member at its default: ends recursive structures
    fields = {f.name: strategy(f.type, depth + 1) for f in msgspec.structs.fields(cls)}
    return st.builds(cls, **fields)


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
        sdk_form(body),
    )


def lower_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k if k == "$type" else k.lower(): lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [lower_keys(v) for v in value]
    return value


@given(envelopes())
def test_model_json_model(envelope: Envelope) -> None:
    """model → JSON → model → JSON gives the same bytes: decoding loses nothing the JSON carries.

    (model → JSON → model is not always equal: a subclass with no members of its own, written
    without ``$type`` where the SDK writes none, reads back as its base, as in the SDK.)
    """
    data = encode_envelope(envelope)
    back = decode_envelope(data)
    assert encode_envelope(back) == data
    assert decode_envelope(encode_envelope(back)) == back


@given(envelopes())
def test_lenient_path_agrees(envelope: Envelope) -> None:
    """Every member name lower-cased sends the document down the lenient path: same model."""
    data = encode_envelope(envelope)
    lowered = orjson.dumps(lower_keys(orjson.loads(data)))
    assert encode_envelope(decode_envelope(lowered)) == data
