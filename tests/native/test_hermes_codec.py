"""Hermes shapes: the compiled module and its pure twin read and write exactly what the codec's
general path reads and writes.

Invariants, for every message class and both twins, with the shapes built from the codec's own
tables:

- writing: ``Shape.document``/``Shape.write`` give the very bytes/text of the codec's general
  writer (the shapes switched off), or None only for an object with child elements to write; an
  object holding a value its writer refuses raises the same error.
- reading: ``Shape.build`` of any attribute dict (mutated: attributes dropped, odd texts,
  unknown attributes) gives an object equal to the general reader's, with the same field types,
  or None exactly when the general reader raises; and ``decode`` gives the same message or the
  same error text with and without the shapes.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
from collections.abc import Callable, Iterator
from datetime import datetime
from enum import IntEnum
from types import ModuleType
from typing import Any
from unittest import mock

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from native import hermes_codec, hermes_codec_pure
from native.hermes_codec_pure import ENUM, FLOAT, INT, STR, Field
from native.hermes_xml import parse
from protocols.hermes import codec
from protocols.hermes import messages as m
from protocols.hermes.codec import HermesDecodeError
from tests.native.twins import compiled_module

STAMP = datetime(2024, 5, 14, 8, 15, 2, 117000)
STAMP_TEXT = codec.format_timestamp(STAMP)
SPECS = codec._all_specs()


@pytest.fixture(scope="module", params=["cython", "python"])
def impl(request: pytest.FixtureRequest) -> ModuleType:
    return compiled_module("_hermes_codec") if request.param == "cython" else hermes_codec_pure


@functools.cache
def _shapes(module: ModuleType) -> dict[type[Any], Any]:
    """Class -> shape of ``module``, built from the codec's tables as the codec builds its own."""
    found = {}
    for spec in SPECS.values():
        shape = codec._make_shape(spec, module.Shape)
        if shape is not None:
            found[spec.cls] = shape
    return found


@contextlib.contextmanager
def _general_path() -> Iterator[None]:
    """The codec as it was before the shapes: its general reader and writer only."""
    with (
        mock.patch.dict(codec._SHAPES, clear=True),
        mock.patch.dict(codec._MESSAGE_SHAPES, clear=True),
        mock.patch.dict(codec._MESSAGE_SHAPES_BY_TAG, clear=True),
    ):
        yield


def _outcome(action: Callable[[], Any]) -> Any:
    try:
        return ("ok", action())
    except Exception as exc:  # the kind and text of any error must agree
        return ("error", type(exc), str(exc))


def _typed(value: Any) -> Any:
    """The fields of a message object with their exact types, recursively."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [(f.name, _typed(getattr(value, f.name))) for f in dataclasses.fields(value)]
        return (type(value), fields)
    if isinstance(value, tuple):
        return (tuple, [_typed(item) for item in value])
    return (type(value), value)


# --------------------------------------------------------------------------------------------
# Strategies: valid messages of every class, from the codec's own tables
# --------------------------------------------------------------------------------------------

# Texts XML carries, with the characters that need escaping and some multi-byte UTF-8.
_CHARACTERS = st.characters(
    codec="utf-8",
    exclude_characters="".join(chr(c) for c in range(0x20) if chr(c) not in "\t\n\r") + "\ufffe\uffff",
)
_TEXT = st.text(_CHARACTERS, max_size=12) | st.sampled_from(
    ["", "6f1c2a4e-0d3b", "a&b<c>d\"e'f", "\t\n\r", "ä€😀", "\ufffd\ufeff", "\uefbf", "x" * 70]
)
# Floats: any finite double, three-decimal ones, and ints (a float field takes an int).
_FLOAT = (
    st.floats(allow_nan=False, allow_infinity=False)
    | st.floats(-1e9, 1e9).map(lambda x: round(x, 3))
    | st.integers(-(10**20), 10**20)
    | st.integers(-(2**56), 2**56).map(lambda n: n / 8)  # exact three-decimal doubles
    | st.sampled_from([0.0, -0.0, 0.0005, 0.0015, -0.0004, 1e16, 5e-324, 2.5e-3, 160.0])
)


def _enum(table: dict[str, IntEnum]) -> type[IntEnum]:
    return type(next(iter(table.values())))


def _attribute_values(attribute: Any) -> st.SearchStrategy[Any]:
    if attribute.kind == STR:
        return _TEXT
    if attribute.kind == ENUM:
        enum = _enum(attribute.table)
        # A plain int of a member's value is a valid enum field value too.
        return st.sampled_from(list(enum)) | st.sampled_from([member.value for member in enum])
    if attribute.kind == INT:
        small = [member for member in m.BoardQuality if member <= attribute.table]
        return st.integers(0, attribute.table) | st.sampled_from([0, attribute.table, *small])
    assert attribute.kind == FLOAT
    return _FLOAT


def _objects(cls: type[Any]) -> st.SearchStrategy[Any]:
    spec = SPECS[cls]
    if spec.markers:  # a feature set or OptionalMessages: each marker present or not
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        return st.fixed_dictionaries(
            {field: st.sampled_from([defaults[field], value]) for field, value in spec.markers.values()}
        ).map(lambda kwargs: cls(**kwargs))
    kwargs: dict[str, st.SearchStrategy[Any]] = {}
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    for attribute in spec.attributes:
        values = _attribute_values(attribute)
        # An optional field's default: None, or 0 in CapabilityAttributes.
        kwargs[attribute.field] = (
            values if attribute.mandatory else st.just(defaults[attribute.field]) | values
        )
    for child in spec.children.values():
        if child.kind == "list":
            kwargs[child.field] = st.lists(_objects(child.spec.cls), max_size=2).map(tuple)
        else:
            kwargs[child.field] = _objects(child.spec.cls)
    return st.fixed_dictionaries(kwargs).map(lambda values: cls(**values))


_MESSAGES = st.sampled_from(m.MESSAGE_TYPES).flatmap(_objects)
# Often childless: the case the shapes write.
_CHILDLESS = (
    st.sampled_from(m.MESSAGE_TYPES)
    .flatmap(_objects)
    .map(
        lambda message: (
            dataclasses.replace(message, sub_boards=()) if getattr(message, "sub_boards", ()) else message
        )
    )
)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _reference_document(message: Any) -> Any:
    with _general_path():
        return _outcome(lambda: codec.encode(message, timestamp=STAMP))


@given(_MESSAGES | _CHILDLESS)
@example(m.BoardAvailable("b", "UP", m.BoardQuality.GOOD, m.FlippedBoard.TOP_SIDE_IS_UP, length=160.0))
@example(m.MachineReady(failed_board=m.BoardQuality.ANY))
def test_documents_are_the_general_writers_bytes(impl: ModuleType, message: Any) -> None:
    shape = _shapes(impl)[type(message)]
    expected = _reference_document(message)
    document = _outcome(lambda: shape.document(message, STAMP_TEXT))
    spec = SPECS[type(message)]
    has_children = any(
        child.kind != "list" or getattr(message, child.field) for child in spec.children.values()
    )
    if has_children:
        assert document == ("ok", None)
    else:
        assert document == expected
    # The codec, whichever twin it runs on, writes the same bytes.
    assert _outcome(lambda: codec.encode(message, timestamp=STAMP)) == expected


@given(_MESSAGES)
def test_nested_elements_are_written_as_the_general_writer_does(impl: ModuleType, message: Any) -> None:
    shapes = _shapes(impl)
    for child in SPECS[type(message)].children.values():
        items = getattr(message, child.field)
        for item in items if child.kind == "list" else (items,):
            shape = shapes.get(type(item))
            if shape is None:
                continue
            parts: list[str] = []
            with _general_path():
                codec._write(child.spec, item, parts)
            text = shape.write(item)
            assert text is None or text == "".join(parts)
            assert (text is None) == (child.kind == "element" and bool(child.spec.children))


# Values the checks let through only when bypassed (object.__setattr__): the shapes must hand
# them to the writers, which write or refuse them exactly as the general path does.
_BYPASS = st.one_of(
    st.text(max_size=6),
    st.sampled_from(["\ufffe", "a\uffffb", "\ud800", "x\x01", "\x7f\x80\x9f", "\uefbf\ufffd"]),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.sampled_from([m.BoardQuality.FAILED, m.TransferState.COMPLETE, 2**63, -(2**63), 2**64]),
    st.builds(lambda x: type("F", (float,), {})(x), st.floats(-10, 10)),
    st.just(b"bytes"),
)


@given(st.sampled_from([cls for cls in m.MESSAGE_TYPES if SPECS[cls].attributes]), st.data())
def test_bypassed_values_are_written_or_refused_as_the_general_writer_does(
    impl: ModuleType, cls: type[Any], data: st.DataObject
) -> None:
    message = data.draw(_objects(cls))
    for attribute in SPECS[cls].attributes:
        if data.draw(st.booleans()):
            object.__setattr__(message, attribute.field, data.draw(_BYPASS))
    shape = _shapes(impl)[cls]
    document = _outcome(lambda: shape.document(message, STAMP_TEXT))
    if document != ("ok", None):  # written here: the same text, or the same refusal
        assert document == _reference_document(message)


def test_the_stamp_is_copied_as_given(impl: ModuleType) -> None:
    shape = _shapes(impl)[m.StartTransport]
    message = m.StartTransport("b")
    assert (
        shape.document(message, "ä&<")
        == '<Hermes Timestamp="ä&<"><StartTransport BoardId="b"/></Hermes>'.encode()
    )
    assert shape.write(message) == '<StartTransport BoardId="b"/>'


def test_a_subclass_or_another_class_is_left_to_the_codec(impl: ModuleType) -> None:
    shape = _shapes(impl)[m.StartTransport]
    assert shape.write(m.StopTransport(m.TransferState.COMPLETE, "b")) is None
    assert shape.document(object(), STAMP_TEXT) is None


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------

# Texts around the readers' edges: signs, whitespace, exponents, underscores, non-ASCII digits,
# non-finite, out of range, very long.
ODD_TEXT_LIST = [
    "",
    " ",
    "0",
    "1",
    "2",
    "3",
    "4",
    "7",
    "01",
    "007",
    "+1",
    "-1",
    "-0",
    " 2 ",
    "2 ",
    "\t3\n",
    "1e3",
    "1E3",
    "1.5",
    ".5",
    "5.",
    "-0.0",
    "0.0005",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1_0",
    "1_0.5",
    "\u0661",  # ARABIC-INDIC DIGIT ONE: float() and int() take it
    "²",
    "\u00a01",
    "0x10",
    " 1.25e-2 ",
    "1e400",
    "-1e400",
    "1e-400",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "999999999999999999",
    "9999999999999999999",
    "0" * 30 + "1",
    "1" * 5000,
    "abc",
    "ä",
    "160.000",
    "-12.5",
    "1.0000000000000000000001",
    "18446744073709551621",  # 2**64 + 5: wraps to 5 in 64 bits
    "-9223372036854775808",
]
_ODD_TEXTS = (
    st.sampled_from(ODD_TEXT_LIST)
    | st.text(st.sampled_from("0123456789 +-.eE_x\t"), max_size=8)
    | st.text(max_size=4)
)


def _reference_build(spec: Any, attrs: dict[str, str]) -> Any:
    with _general_path():
        return _outcome(lambda: codec._build(spec, (spec.tag, attrs, []), spec.tag))


@given(st.sampled_from(list(SPECS)), st.data())
def test_built_objects_are_the_general_readers(impl: ModuleType, cls: type[Any], data: st.DataObject) -> None:
    shape = _shapes(impl).get(cls)
    if shape is None:
        return  # a feature set: only the general reader
    spec = SPECS[cls]
    message = data.draw(_objects(cls))
    with _general_path():
        parts: list[str] = []
        codec._write(spec, message, parts)
    attrs = dict(parse(f"<X>{''.join(parts)}</X>".encode())[2][0][1])
    wires = [a.wire for a in spec.attributes]
    for _ in range(data.draw(st.integers(0, 4))):
        action = data.draw(st.sampled_from(["drop", "odd", "unknown"]))
        if action == "drop" and attrs:
            del attrs[data.draw(st.sampled_from(sorted(attrs)))]
        elif action == "odd" and wires:
            attrs[data.draw(st.sampled_from(wires))] = data.draw(_ODD_TEXTS)
        else:
            attrs[data.draw(st.sampled_from(["Unknown", "boardid", "BoardID", "X"]))] = data.draw(_ODD_TEXTS)
    expected = _reference_build(spec, attrs)
    built = shape.build(attrs)
    if expected[0] == "error":
        assert expected[1] is HermesDecodeError, expected
        assert built is None
    else:
        assert built is not None
        assert built == expected[1]
        assert _typed(built) == _typed(expected[1])


@given(_MESSAGES, st.data())
def test_decode_gives_the_same_message_or_error_with_and_without_shapes(
    message: Any, data: st.DataObject
) -> None:
    document = bytearray(codec.encode(message, timestamp=STAMP))
    # Replace some attribute values (between quotes after the message tag) with odd texts.
    text = document.decode()
    pieces = text.split('"')
    for _ in range(data.draw(st.integers(0, 3))):
        if len(pieces) > 3:
            index = data.draw(st.integers(1, (len(pieces) - 1) // 2)) * 2 - 1
            if index > 1:  # not the Timestamp
                odd = data.draw(_ODD_TEXTS)
                pieces[index] = odd.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
    mutated = '"'.join(pieces).encode()
    fast = _outcome(lambda: codec.decode(mutated))
    with _general_path():
        general = _outcome(lambda: codec.decode(mutated))
    assert fast == general
    if fast[0] == "ok":
        assert _typed(fast[1]) == _typed(general[1])
        # And a fixed point: what is read is written back to text that reads the same.
        again = codec.decode(codec.encode(fast[1], timestamp=STAMP))
        assert _typed(again) == _typed(fast[1])


@given(
    _MESSAGES.filter(
        lambda message: (
            not any(isinstance(getattr(message, f.name, None), float) for f in dataclasses.fields(message))
        )
    )
)
def test_messages_without_floats_round_trip(message: Any) -> None:
    assert codec.decode(codec.encode(message, timestamp=STAMP)) == message


def test_unknown_enum_values_read_as_member_zero(impl: ModuleType) -> None:
    shape = _shapes(impl)[m.MachineReady]
    for raw in ("7", " 2 ", "+1", "-1", "00"):
        built = shape.build({"FailedBoard": raw})
        assert built == m.MachineReady(
            m.BoardQuality(int(raw)) if int(raw) in (0, 1, 2) else m.BoardQuality.ANY
        )
        assert type(built.failed_board) is m.BoardQuality
    assert shape.build({"FailedBoard": "x"}) is None
    assert shape.build({}) is None


def test_absent_fields_take_their_defaults(impl: ModuleType) -> None:
    built = _shapes(impl)[m.ServiceDescription].build({"MachineId": "M", "LaneId": "1", "Version": "1.6"})
    assert built == m.ServiceDescription("M", 1, "1.6")
    assert built.supported_features is m.ServiceDescription("M", 1, "1.6").supported_features
    attributes = _shapes(impl)[m.CapabilityAttributes].build({"Length": "1"})
    assert attributes == m.CapabilityAttributes(length=1)


# --------------------------------------------------------------------------------------------
# Construction
# --------------------------------------------------------------------------------------------


def test_shapes_refuse_classes_they_cannot_fill(impl: ModuleType) -> None:
    class Plain:
        pass

    @dataclasses.dataclass
    class NoSlots:
        a: str

    field = Field("A", "a", STR, str, str, True, None, None)
    with pytest.raises(TypeError):
        impl.Shape(Plain, "P", [field])
    with pytest.raises(TypeError):
        impl.Shape(NoSlots, "N", [field])
    with pytest.raises(ValueError, match="kind"):
        impl.Shape(m.StartTransport, "S", [field._replace(name="board_id", kind=9)])
    with pytest.raises(TypeError, match="maximum"):
        impl.Shape(m.StartTransport, "S", [field._replace(name="board_id", kind=INT)])


def test_the_codec_runs_on_the_selected_twin() -> None:
    expected = "cython" if hermes_codec.IMPLEMENTATION == "cython" else "python"
    assert type(codec._SHAPES[m.BoardAvailable]).__module__.endswith(
        "_hermes_codec" if expected == "cython" else "hermes_codec_pure"
    )


# --------------------------------------------------------------------------------------------
# Every attribute of every class with every odd text / bypassed value (no sampling to miss one)
# --------------------------------------------------------------------------------------------

_SHAPED = [cls for cls in SPECS if not SPECS[cls].markers]
_VALID_TEXT = {STR: "s", ENUM: "1", INT: "1", FLOAT: "1.5"}


def _base_attrs(spec: Any) -> dict[str, str]:
    return {a.wire: _VALID_TEXT[a.kind] for a in spec.attributes if a.mandatory}


@pytest.mark.parametrize("cls", _SHAPED, ids=lambda cls: cls.__name__)
def test_every_attribute_reads_every_odd_text_as_the_general_reader(impl: ModuleType, cls: type[Any]) -> None:
    spec = SPECS[cls]
    shape = _shapes(impl)[cls]
    base = _base_attrs(spec)
    cases = [dict(base)]
    cases += [{k: v for k, v in base.items() if k != wire} for wire in base]  # one mandatory missing
    cases += [{**base, a.wire: text} for a in spec.attributes for text in ODD_TEXT_LIST]
    for attrs in cases:
        expected = _reference_build(spec, attrs)
        built = shape.build(attrs)
        if expected[0] == "error":
            assert expected[1] is HermesDecodeError, (attrs, expected)
            assert built is None, attrs
        else:
            assert _typed(built) == _typed(expected[1]), attrs


class _Float(float):
    pass


class _Int(int):
    def __int__(self) -> int:
        return 7


BYPASS_VALUES: list[Any] = [
    "\ufffe", "a\uffffb", "\ud800", "x\x01", "\x7f\x80", "\uefbf\ufffd", "ok", 'a&b"<>', "ä", "\t",
    True, False, 0, -1, 2**63 - 1, -(2**63), 2**63, 2**64, -(2**70),
    1.5, -0.0, 0.0005, float("nan"), float("inf"), 1e300, _Float(2.5), _Int(3),
    -0.125, 2.0**50 + 0.5, 2.0**53 - 1, 2.0**53, -(2.0**60), 1e15 + 0.25, 0.0625, 1 / 3,
    m.BoardQuality.FAILED, b"bytes", None,
]  # fmt: skip


def _general_write(spec: Any, value: Any) -> str:
    parts: list[str] = []
    codec._write(spec, value, parts)
    return "".join(parts)


@pytest.mark.parametrize(
    "cls", [cls for cls in _SHAPED if SPECS[cls].attributes], ids=lambda cls: cls.__name__
)
def test_every_attribute_writes_every_bypassed_value_as_the_general_writer(
    impl: ModuleType, cls: type[Any]
) -> None:
    spec = SPECS[cls]
    shape = _shapes(impl)[cls]
    base = _reference_build(spec, _base_attrs(spec))[1]
    nested = any(child.kind != "list" for child in spec.children.values())  # never written here
    for attribute in spec.attributes:
        for value in BYPASS_VALUES:
            message = copy.copy(base)
            object.__setattr__(message, attribute.field, value)
            with _general_path():
                expected = _outcome(functools.partial(_general_write, spec, message))
            written = _outcome(functools.partial(shape.write, message))
            assert written == (("ok", None) if nested else expected), (attribute.field, value)
            if cls in codec._SPECS and not nested:
                document = _outcome(functools.partial(shape.document, message, STAMP_TEXT))
                assert document == _reference_document(message), (attribute.field, value)


_DECIMALS = (
    st.from_regex(r"\A[+-]?[0-9]{0,17}\.?[0-9]{0,17}\Z")
    | st.floats(allow_nan=False).map(repr)
    | st.floats(allow_nan=False).map(lambda x: f"{x:.3f}")
    | st.decimals(allow_nan=False, allow_infinity=False, places=6).map(str)
)


@given(_DECIMALS)
@example("0.3")
@example("123456789012345.6")
@example("-0.000")
@example("9007199254740993")
def test_decimal_texts_read_as_the_float_reader_reads_them(impl: ModuleType, text: str) -> None:
    spec = SPECS[m.MachineReady]
    attrs = {"FailedBoard": "1", "Length": text}
    expected = _reference_build(spec, attrs)
    built = _shapes(impl)[m.MachineReady].build(attrs)
    if expected[0] == "error":
        assert built is None
    else:
        assert _typed(built) == _typed(expected[1])
        assert repr(built.length) == repr(expected[1].length)  # -0.0 is not 0.0


# --------------------------------------------------------------------------------------------
# The envelope's timestamp and the whole-document reader
# --------------------------------------------------------------------------------------------


class _Datetime(datetime):
    pass


_DATETIMES = (
    st.datetimes()
    | st.datetimes(timezones=st.timezones())
    | st.builds(_Datetime, st.integers(1, 9999), st.just(1), st.just(1))
)


@given(
    st.lists(
        _DATETIMES | st.sampled_from([datetime(999, 12, 31, 23, 59, 59, 999999), datetime(1000, 1, 1)]),
        max_size=6,
    )
)
def test_local_stamps_are_the_strftime_text_of_naive_datetimes(
    impl: ModuleType, stamps: list[datetime]
) -> None:
    for stamp in stamps:  # several in a row: the pure twin's cache of the second
        text = impl.local_stamp(stamp)
        if type(stamp) is datetime and stamp.tzinfo is None and stamp.year >= 1000:
            assert text == f"{stamp:%Y-%m-%dT%H:%M:%S}.{stamp.microsecond // 1000:03d}"
        else:
            assert text is None


@given(_MESSAGES, st.data())
def test_build_message_takes_only_childless_known_messages(
    impl: ModuleType, message: Any, data: st.DataObject
) -> None:
    shapes = {shape.tag: shape for cls, shape in _shapes(impl).items() if cls in codec._SPECS}
    root = parse(codec.encode(message, timestamp=STAMP))
    variants = ["as is", "root", "no message", "child", "unknown", "not a tuple", "list message"]
    variant = data.draw(st.sampled_from(variants))
    tag, attrs, children = root[2][0]
    if variant == "root":
        root = ("Hermes2", root[1], root[2])
    elif variant == "no message":
        root = (root[0], root[1], [])
    elif variant == "child":
        root = (root[0], root[1], [(tag, attrs, [("X", {}, [])])])
    elif variant == "unknown":
        root = (root[0], root[1], [("Unknown", attrs, [])])
    elif variant == "not a tuple":
        root = [root[0], root[1], root[2]]  # type: ignore[assignment]
    elif variant == "list message":
        root = (root[0], root[1], [[tag, attrs, []]])  # type: ignore[list-item]
    built = impl.build_message(shapes, root)
    if variant == "as is" and not children:
        assert _typed(built) == _typed(codec.message_from_tree(root))
    else:
        assert built is None
