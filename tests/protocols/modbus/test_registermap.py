"""Points decode register words as the device means them, and encode writes that read back equal."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.errors import ConfigError
from protocols.modbus import DataType, Point, Table, WordOrder, decode_point, encode_point, load_points

HR = Table.HOLDING_REGISTERS


def test_float32_big_and_little_word_order() -> None:
    hi, lo = struct.unpack(">HH", struct.pack(">f", 231.5))
    big = Point("t", HR, 0, DataType.FLOAT32)
    little = Point("t", HR, 0, DataType.FLOAT32, word_order=WordOrder.LITTLE)
    assert decode_point(big, [hi, lo]) == 231.5
    assert decode_point(little, [lo, hi]) == 231.5
    assert encode_point(little, 231.5) == [lo, hi]


def test_scaled_int16_temperature() -> None:
    # A zone reading of 2315 tenths of a degree is 231.5 °C; -12.5 °C is 0xFF83.
    zone = Point("zone1", HR, 10, DataType.INT16, scale=0.1)
    assert decode_point(zone, [2315]) == pytest.approx(231.5)
    assert decode_point(zone, [0xFF83]) == pytest.approx(-12.5)
    assert encode_point(zone, 231.5) == [2315]


def test_offset_applies_after_scale() -> None:
    point = Point("o2", Table.INPUT_REGISTERS, 0, DataType.UINT16, scale=2.0, offset=-100.0)
    assert decode_point(point, [75]) == 50.0


def test_bit_of_a_status_register() -> None:
    alarm = Point("door_open", HR, 5, DataType.BOOL, bit=3)
    assert decode_point(alarm, [0b1000]) is True
    assert decode_point(alarm, [0b0111]) is False
    with pytest.raises(ValueError, match="read-modify-write"):
        encode_point(alarm, True)


def test_mask_and_shift_extract_a_field() -> None:
    mode = Point("mode", HR, 0, DataType.UINT16, mask=0x0F00, shift=8)
    assert decode_point(mode, [0xA5C3]) == 5


def test_string_of_registers() -> None:
    name = Point("recipe", HR, 100, DataType.STRING, length=4)
    words = encode_point(name, "PCB-7")
    assert len(words) == 4
    assert decode_point(name, words) == "PCB-7"
    with pytest.raises(ValueError, match="longer"):
        encode_point(name, "MUCH-TOO-LONG")


def test_coils_and_read_only_tables() -> None:
    run = Point("conveyor_run", Table.COILS, 3, DataType.BOOL)
    assert encode_point(run, True) == [1]
    assert decode_point(run, [0]) is False
    sensor = Point("board_present", Table.DISCRETE_INPUTS, 0, DataType.BOOL)
    with pytest.raises(ValueError, match="cannot be written"):
        encode_point(sensor, True)


def test_value_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit uint16"):
        encode_point(Point("n", HR, 0, DataType.UINT16), 70000)
    with pytest.raises(ValueError, match="finite"):
        encode_point(Point("n", HR, 0, DataType.INT16, scale=0.1), float("nan"))


def test_wrong_word_count_is_refused() -> None:
    with pytest.raises(ValueError, match="needs 2 words"):
        decode_point(Point("n", HR, 0, DataType.UINT32), [1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"address": 70000}, "outside 0..65535"),
        ({"table": Table.COILS, "data_type": DataType.UINT16}, "data_type must be bool"),
        ({"data_type": DataType.BOOL}, "needs a bit"),
        ({"data_type": DataType.STRING}, "needs a length"),
        ({"scale": 0.0}, "scale must not be 0"),
        ({"address": 65535, "data_type": DataType.UINT32}, "past address 65535"),
    ],
)
def test_invalid_points(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"name": "p", "table": HR, "address": 0} | kwargs
    with pytest.raises(ValueError, match=message):
        Point(**args)  # type: ignore[arg-type]


INT_TYPES = {
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.UINT16: (0, 2**16 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.UINT32: (0, 2**32 - 1),
    DataType.INT64: (-(2**63), 2**63 - 1),
    DataType.UINT64: (0, 2**64 - 1),
}


@given(st.sampled_from(sorted(INT_TYPES, key=lambda t: t.value)), st.sampled_from(WordOrder), st.data())
def test_integer_round_trip(data_type: DataType, order: WordOrder, data: st.DataObject) -> None:
    low, high = INT_TYPES[data_type]
    value = data.draw(st.integers(low, high))
    point = Point("v", HR, 0, data_type, word_order=order)
    words = encode_point(point, value)
    assert all(0 <= w <= 0xFFFF for w in words)
    assert decode_point(point, words) == value


@given(st.floats(width=32, allow_nan=False, allow_infinity=False), st.sampled_from(WordOrder))
def test_float32_round_trip(value: float, order: WordOrder) -> None:
    point = Point("v", HR, 0, DataType.FLOAT32, word_order=order)
    assert decode_point(point, encode_point(point, value)) == value


def test_load_points_from_a_map() -> None:
    points = load_points(
        {
            "zone1_pv": {"table": "input_registers", "address": 10, "type": "int16", "scale": 0.1},
            "run": {"table": "coils", "address": 0},
        }
    )
    assert points[0] == Point("zone1_pv", Table.INPUT_REGISTERS, 10, DataType.INT16, scale=0.1)
    assert points[1].data_type is DataType.BOOL


@pytest.mark.parametrize(
    ("spec", "key", "problem"),
    [
        ({"address": 1}, "points.p.table", "is required"),
        ({"table": "registers", "address": 1}, "points.p.table", "must be one of"),
        ({"table": "coils", "address": "1"}, "points.p.address", "must be an integer"),
        ({"table": "input_registers", "address": 1, "type": "float16"}, "points.p.type", "must be one of"),
        ({"table": "input_registers", "address": 1, "sacle": 2}, "points.p.sacle", "unknown key"),
        ({"table": "input_registers", "address": 1, "scale": "x"}, "points.p.scale", "must be a number"),
        (
            {"table": "input_registers", "address": 1, "word_order": "abcd"},
            "points.p.word_order",
            "big or little",
        ),
        ({"table": "input_registers", "address": 1, "type": "bool"}, "points.p", "needs a bit"),
    ],
)
def test_map_errors_name_file_and_key_path(spec: dict[str, object], key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_points({"p": spec}, path="maps/oven.toml")
    assert exc.value.key == key
    assert problem in exc.value.problem
    assert str(exc.value).startswith(f"maps/oven.toml: {key}: ")
