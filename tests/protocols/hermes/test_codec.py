"""The Hermes codec writes what lib_cpp writes and reads what peers send, hardened (reference §1, §2).

Fuzz invariant: any bytes decode to a message, an UnknownMessage, or raise HermesDecodeError.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import re
import types
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from enum import IntEnum
from typing import Any, get_args, get_type_hints

import pytest
from hypothesis import given
from hypothesis import strategies as st

from native import hermes_xml_pure
from protocols.errors import LocalProtocolError, RemoteProtocolError
from protocols.hermes import messages as m
from protocols.hermes.codec import (
    MAX_MESSAGE_SIZE,
    HermesDecodeError,
    decode,
    encode,
    format_timestamp,
    message_from_tree,
)

STAMP = datetime(2024, 5, 14, 8, 15, 2, 117000)


def _value(hint: Any, name: str) -> Any:
    """A non-default value of the field type ``hint`` (unwrapping ``X | None``)."""
    if isinstance(hint, types.UnionType):
        hint = next(arg for arg in get_args(hint) if arg is not type(None))
    if isinstance(hint, type) and issubclass(hint, IntEnum):
        return list(hint)[-1]
    if hint is str:
        return f"{name} <&>\"' ä\t\n"
    if hint is int:
        return 65535  # the largest u16; uint fields take more (test_uint_fields_take_32_bits)
    if hint is float:
        return 123.456
    if hint is bool:
        return True
    if getattr(hint, "__origin__", None) is tuple:
        return (_full(get_args(hint)[0]), _full(get_args(hint)[0]))
    return _full(hint)


def _full(cls: type[Any]) -> Any:
    """An instance of ``cls`` with every field set."""
    hints = get_type_hints(cls, vars(m))
    return cls(**{f.name: _value(hints[f.name], f.name) for f in dataclasses.fields(cls)})


def _minimal(cls: type[Any]) -> Any:
    """An instance of ``cls`` with only the mandatory fields set."""
    hints = get_type_hints(cls, vars(m))
    mandatory = [f for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
    return cls(**{f.name: _value(hints[f.name], f.name) for f in mandatory})


@pytest.mark.parametrize("cls", m.MESSAGE_TYPES, ids=lambda cls: cls.TAG)
@pytest.mark.parametrize("build", [_full, _minimal], ids=["full", "minimal"])
def test_round_trip_every_message(cls: type[Any], build: Any) -> None:
    message = build(cls)
    data = encode(message, timestamp=STAMP)
    assert decode(data) == message
    # The pure twin's tree gives the very same message.
    assert message_from_tree(hermes_xml_pure.parse(data)) == message


def test_uint_fields_take_32_bits() -> None:
    message = m.ServiceDescription("M", 4294967295, "1.6")
    assert decode(encode(message)) == message
    with pytest.raises(LocalProtocolError):
        encode(m.ServiceDescription("M", 4294967296, "1.6"))


def test_envelope_has_no_declaration_and_a_local_millisecond_timestamp() -> None:
    data = encode(m.CheckAlive(), timestamp=STAMP)
    assert data == b'<Hermes Timestamp="2024-05-14T08:15:02.117"><CheckAlive/></Hermes>'


def test_timestamps_in_other_seconds_are_formatted_afresh() -> None:
    """The formatted-second cache never leaks one second's text into another's timestamp."""
    stamps = [
        datetime(2024, 5, 14, 8, 15, 2, 117000),
        datetime(2024, 5, 14, 8, 15, 2, 999000),
        datetime(2024, 5, 14, 8, 15, 3, 0),
        datetime(2025, 5, 14, 8, 15, 3, 1000),
        datetime(2024, 5, 14, 8, 15, 2, 117000),
    ]
    assert [format_timestamp(stamp) for stamp in stamps] == [
        "2024-05-14T08:15:02.117",
        "2024-05-14T08:15:02.999",
        "2024-05-14T08:15:03.000",
        "2025-05-14T08:15:03.001",
        "2024-05-14T08:15:02.117",
    ]


def test_default_timestamp_is_now_in_local_time() -> None:
    before = datetime.now().replace(microsecond=0)
    data = encode(m.CheckAlive())
    stamp = re.search(rb'Timestamp="([^"]+)"', data)
    assert stamp is not None
    assert re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}", stamp.group(1))
    assert datetime.fromisoformat(stamp.group(1).decode()) >= before


def test_aware_timestamps_are_written_in_local_time_without_offset() -> None:
    aware = datetime(2024, 5, 14, 6, 15, 2, 117999, tzinfo=UTC)
    local = aware.astimezone()
    assert format_timestamp(aware) == local.strftime("%Y-%m-%dT%H:%M:%S") + ".117"
    assert format_timestamp(datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02T03:04:05.000"
    assert (
        format_timestamp(datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))).count("+") == 0
    )


def test_floats_have_three_decimals_and_enums_are_integers() -> None:
    message = m.BoardAvailable(
        "b", "M", m.BoardQuality.FAILED, m.FlippedBoard.BOTTOM_SIDE_IS_UP, length=160, width=0.0005
    )
    data = encode(message, timestamp=STAMP)
    assert b'Length="160.000"' in data and b'Width="0.001"' in data
    assert b'FailedBoard="2"' in data and b'FlippedBoard="2"' in data


def test_attribute_values_are_escaped() -> None:
    data = encode(m.Notification(m.NotificationCode.UNSPECIFIC, m.SeverityType.INFO, 'a&b<c>d"e\tf\ng\rh'))
    assert b'Description="a&amp;b&lt;c&gt;d&quot;e&#9;f&#10;g&#13;h"' in data
    assert decode(data).description == 'a&b<c>d"e\tf\ng\rh'  # type: ignore[union-attr]


def test_features_are_empty_marker_elements() -> None:
    data = encode(
        m.ServiceDescription(
            "M1", 2, "1.6", m.SupportedFeatures(feature_board_forecast=m.FeatureBoardForecast())
        )
    )
    assert b"<SupportedFeatures><FeatureBoardForecast/></SupportedFeatures>" in data
    empty = encode(m.ServiceDescription("M1", 2, "1.6"))
    assert b"<SupportedFeatures/>" in empty


def test_empty_sub_boards_are_left_out() -> None:
    data = encode(m.BoardAvailable("b", "M", m.BoardQuality.ANY, m.FlippedBoard.SIDE_UP_IS_UNKNOWN))
    assert b"SubBoards" not in data


def _board_with_sub_boards(count: int) -> m.BoardAvailable:
    subs = tuple(m.SubBoard(i % 65536, m.SubBoardState.GOOD, f"BC{i:08d}") for i in range(count))
    return m.BoardAvailable("b", "M", m.BoardQuality.GOOD, m.FlippedBoard.TOP_SIDE_IS_UP, sub_boards=subs)


def test_sub_boards_are_dropped_rather_than_exceed_64_kib() -> None:
    # Reference §1: lib drops <SubBoards> when the message would exceed 65,536 bytes.
    big = _board_with_sub_boards(2000)
    data = encode(big, timestamp=STAMP)
    assert len(data) <= MAX_MESSAGE_SIZE
    assert decode(data) == dataclasses.replace(big, sub_boards=())
    small = _board_with_sub_boards(10)
    assert decode(encode(small)) == small


def test_too_large_without_sub_boards_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError, match="more than 65536"):
        encode(m.Notification(m.NotificationCode.UNSPECIFIC, m.SeverityType.INFO, "x" * MAX_MESSAGE_SIZE))


# Each builds a message the wire cannot carry; the error names the message element.
INVALID: list[tuple[str, Any]] = [
    ("StartTransport", lambda: m.StartTransport(None)),  # type: ignore[arg-type]
    ("Command", lambda: m.Command(70000)),
    ("Command", lambda: m.Command(-1)),
    ("ServiceDescription", lambda: m.ServiceDescription("M", 1, "1.6\x00")),
    ("ServiceDescription", lambda: m.ServiceDescription("M", 1, "\ud800")),
    ("StartTransport", lambda: m.StartTransport("b", conveyor_speed=float("nan"))),
    ("StopTransport", lambda: m.StopTransport(7, "b")),  # type: ignore[arg-type]
    ("CheckAlive", lambda: m.CheckAlive(id=5)),  # type: ignore[arg-type]
    ("ServiceDescription", lambda: m.ServiceDescription("M", 1, "1.6", None)),  # type: ignore[arg-type]
    (
        "BoardAvailable",
        lambda: m.BoardAvailable(
            "b",
            "M",
            m.BoardQuality.ANY,
            m.FlippedBoard.TOP_SIDE_IS_UP,
            sub_boards=(1,),  # type: ignore[arg-type]
        ),
    ),
    ("SB", lambda: m.SubBoard(70000, m.SubBoardState.GOOD)),
    ("ServiceDescription", lambda: m.ServiceDescription("M", 4294967296, "1.6")),
]


@pytest.mark.parametrize(("tag", "build"), INVALID)
def test_invalid_field_values_are_refused_when_the_message_is_built(tag: str, build: Any) -> None:
    """A value the wire cannot carry raises LocalProtocolError at construction, naming the element."""
    with pytest.raises(LocalProtocolError, match=tag):
        build()


def test_replace_validates_like_construction() -> None:
    """dataclasses.replace builds through __init__, so it cannot smuggle in an invalid value."""
    start = m.StartTransport("b")
    with pytest.raises(LocalProtocolError, match="StartTransport"):
        dataclasses.replace(start, conveyor_speed=float("inf"))


def test_decoded_messages_equal_built_ones() -> None:
    """The reader's trusted path (no second check) gives the same object as the checked one."""
    board = m.BoardAvailable("b", "M", m.BoardQuality.GOOD, m.FlippedBoard.TOP_SIDE_IS_UP, length=160.0)
    decoded = decode(encode(board))
    assert decoded == board
    assert type(decoded) is m.BoardAvailable


def test_not_a_message_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        encode(m.SubBoard(1, m.SubBoardState.GOOD))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def _doc(body: str) -> bytes:
    return f'<Hermes Timestamp="2024-05-14T08:15:02.117">{body}</Hermes>'.encode()


def test_missing_mandatory_attribute_names_message_and_attribute() -> None:
    with pytest.raises(HermesDecodeError) as info:
        decode(_doc('<StartTransport ConveyorSpeed="1"/>'))
    error = info.value
    assert str(error) == "StartTransport: missing attribute BoardId"
    assert (error.tag, error.attribute) == ("StartTransport", "BoardId")
    assert isinstance(error, RemoteProtocolError)
    # Reference §3: the reaction is Notification code 1 / severity Fatal, then close.
    assert error.hint == m.Notification(
        m.NotificationCode.PROTOCOL_ERROR, m.SeverityType.FATAL, "StartTransport: missing attribute BoardId"
    )


def test_missing_attribute_in_a_nested_element_names_it() -> None:
    with pytest.raises(HermesDecodeError, match="BoardAvailable: missing attribute St"):
        decode(
            _doc(
                '<BoardAvailable BoardId="b" BoardIdCreatedBy="M" FailedBoard="1" FlippedBoard="1">'
                '<SubBoards><SB Pos="1"/></SubBoards></BoardAvailable>'
            )
        )


def test_unknown_attributes_and_child_elements_are_ignored() -> None:
    # Acceptance checklist (reference §4.2): "unknown attribute ignored".
    data = _doc(
        '<MachineReady FailedBoard="1" VendorX="7" Future="&amp;">'
        '<VendorData Key="v"><Deep/></VendorData></MachineReady>'
    )
    assert decode(data) == m.MachineReady(m.BoardQuality.GOOD)


def test_unknown_message_is_reported_not_refused() -> None:
    assert decode(_doc('<FutureMessage Foo="1"/>')) == m.UnknownMessage("FutureMessage")


def test_out_of_range_enum_reads_as_zero_like_lib() -> None:
    message = decode(_doc('<StopTransport TransferState="9" BoardId="b"/>'))
    assert message == m.StopTransport(m.TransferState.UNKNOWN, "b")
    status = decode(_doc('<ReplyWorkOrderInfo WorkOrderId="w" Status="-3"/>'))
    assert status == m.ReplyWorkOrderInfo("w", m.ReplyWorkOrderInfoStatus.REJECTED)


@pytest.mark.parametrize(
    ("body", "attribute"),
    [
        ('<StopTransport TransferState="three" BoardId="b"/>', "TransferState"),
        ('<ServiceDescription MachineId="M" LaneId="-1" Version="1"/>', "LaneId"),
        ('<ServiceDescription MachineId="M" LaneId="1_0" Version="1"/>', "LaneId"),
        ('<Command Command="65536"/>', "Command"),
        ('<StartTransport BoardId="b" ConveyorSpeed="fast"/>', "ConveyorSpeed"),
        ('<StartTransport BoardId="b" ConveyorSpeed="nan"/>', "ConveyorSpeed"),
        ('<StartTransport BoardId="b" ConveyorSpeed="1e999"/>', "ConveyorSpeed"),
    ],
)
def test_malformed_values_are_errors_naming_the_attribute(body: str, attribute: str) -> None:
    with pytest.raises(HermesDecodeError) as info:
        decode(_doc(body))
    assert info.value.attribute == attribute
    assert attribute in str(info.value)


def test_values_are_read_leniently() -> None:
    data = _doc('<StartTransport BoardId="b" ConveyorSpeed=" 1.5e2 "/>')
    assert decode(data) == m.StartTransport("b", 150.0)
    assert decode(_doc('<Command Command="+0042"/>')) == m.Command(42)


def test_the_first_child_is_the_message_and_the_timestamp_is_not_read() -> None:
    data = b'<Hermes Timestamp="yesterday"> <CheckAlive Type="1" Id="x"/><Command Command="1"/></Hermes>'
    assert decode(data) == m.CheckAlive(m.CheckAliveType.PING, "x")


def test_lib_style_pretty_printed_message_with_declaration_decodes() -> None:
    data = b"""<?xml version="1.0" encoding="utf-8"?>
<Hermes Timestamp="2024-05-14T08:15:02.117">
 <ServiceDescription MachineId="LIB" LaneId="1" Version="1.5">
  <SupportedFeatures>
   <FeatureCheckAliveResponse />
  </SupportedFeatures>
 </ServiceDescription>
</Hermes>
"""
    features = m.SupportedFeatures(feature_check_alive_response=m.FeatureCheckAliveResponse())
    assert decode(data) == m.ServiceDescription("LIB", 1, "1.5", features)


def test_service_description_padded_to_exactly_65536_bytes_decodes() -> None:
    # Acceptance test_maximum_message_size (reference §1, §4.2).
    head = _doc('<ServiceDescription MachineId="M" LaneId="1" Version="1.6" Pad="')
    tail = b'"><SupportedFeatures/></ServiceDescription></Hermes>'
    head = head[: -len(b"</Hermes>")]
    data = head + b"p" * (MAX_MESSAGE_SIZE - len(head) - len(tail)) + tail
    assert len(data) == MAX_MESSAGE_SIZE
    assert decode(data) == m.ServiceDescription("M", 1, "1.6")
    with pytest.raises(HermesDecodeError, match="65537 bytes"):
        decode(data[:100] + b"p" + data[100:])


@pytest.mark.parametrize(
    "data",
    [
        b'<!DOCTYPE x [<!ENTITY a "b">]><Hermes><CheckAlive Id="&a;"/></Hermes>',
        b'<Hermes><CheckAlive Id="&xxe;"/></Hermes>',
        b'<Hermes><CheckAlive Id="\xff"/></Hermes>',
        b"<Hermes><CheckAlive/>",
        b"<Hermes>" + b"<a>" * 20 + b"</a>" * 20 + b"</Hermes>",
        b"<Hermes/>",
        b"<NotHermes><CheckAlive/></NotHermes>",
    ],
)
def test_bad_documents_are_decode_errors_with_the_protocol_error_hint(data: bytes) -> None:
    with pytest.raises(HermesDecodeError) as info:
        decode(data)
    hint = info.value.hint
    assert isinstance(hint, m.Notification)
    assert (hint.notification_code, hint.severity) == (
        m.NotificationCode.PROTOCOL_ERROR,
        m.SeverityType.FATAL,
    )


def test_hint_text_is_bounded() -> None:
    with pytest.raises(HermesDecodeError) as info:
        decode(b"<" + b"x" * 1000 + b">")
    assert len(info.value.hint.description) <= 200


@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_a_decode_error(data: bytes) -> None:
    with contextlib.suppress(HermesDecodeError):
        decode(data)


_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cc"]), max_size=30)


@given(
    board_id=_text,
    created_by=_text,
    quality=st.sampled_from(m.BoardQuality),
    length=st.none() | st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: round(x, 3)),
    route=st.none() | st.integers(0, 65535),
    subs=st.lists(
        st.builds(m.SubBoard, st.integers(0, 65535), st.sampled_from(m.SubBoardState), st.none() | _text),
        max_size=3,
    ),
)
def test_board_available_round_trips(
    board_id: str,
    created_by: str,
    quality: m.BoardQuality,
    length: float | None,
    route: int | None,
    subs: list[m.SubBoard],
) -> None:
    message = m.BoardAvailable(
        board_id,
        created_by,
        quality,
        m.FlippedBoard.TOP_SIDE_IS_UP,
        length=length,
        route=route,
        sub_boards=tuple(subs),
    )
    assert decode(encode(message)) == message


_SAMPLES = [encode(_full(cls), timestamp=STAMP) for cls in m.MESSAGE_TYPES]


@given(st.sampled_from(_SAMPLES), st.data())
def test_mutated_messages_decode_or_raise_a_decode_error(sample: bytes, data: st.DataObject) -> None:
    raw = bytearray(sample)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] = data.draw(st.sampled_from(b'<>&;#"=/ !?-x0129.e\x00\xff'))
    with contextlib.suppress(HermesDecodeError):
        decode(bytes(raw))


_ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**33), max_value=2**33),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from([m.BoardQuality.GOOD, m.FlippedBoard.TOP_SIDE_IS_UP, m.TransferState.COMPLETE]),
)


@given(
    cls=st.sampled_from([cls for cls in m.MESSAGE_TYPES if dataclasses.fields(cls)]),
    data=st.data(),
)
def test_the_unrolled_check_agrees_with_the_generic_one(cls: type[Any], data: st.DataObject) -> None:
    """Each class's compiled (straight-line) check refuses exactly what the field loop refuses,
    with the same text."""
    from protocols.hermes import codec

    spec = codec._SPECS[cls]
    value = _full(cls)
    for attribute in spec.attributes:  # overwrite some attributes with arbitrary values
        if data.draw(st.booleans()):
            object.__setattr__(value, attribute.field, data.draw(_ODD_VALUES))
    outcomes: list[str | None] = []
    generic: Callable[[Any], None] = functools.partial(codec._check, spec)
    for check in (generic, codec._compile_check(spec)):
        try:
            check(value)
        except LocalProtocolError as exc:
            outcomes.append(str(exc))
        else:
            outcomes.append(None)
    assert outcomes[0] == outcomes[1]
