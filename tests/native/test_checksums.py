"""The compiled checksums and their pure-Python twin agree, and both match published check values."""

from __future__ import annotations

from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from native import checksums, checksums_pure
from tests.native.twins import compiled_module

FUNCTIONS = ("crc16_modbus", "lrc", "xor8", "sum8")


@pytest.fixture(params=["cython", "python"])
def impl(request: pytest.FixtureRequest) -> ModuleType:
    return compiled_module("_checksums") if request.param == "cython" else checksums_pure


# Published check values over the standard "123456789" input (CRC catalogue: CRC-16/MODBUS check=0x4B37).
CHECK = b"123456789"


def test_crc16_modbus_check_value(impl: ModuleType) -> None:
    assert impl.crc16_modbus(CHECK) == 0x4B37


def test_crc16_modbus_of_known_rtu_frame(impl: ModuleType) -> None:
    # Read holding registers, unit 1, address 0, count 10: the CRC goes on the wire low byte first (C5 CD).
    frame = bytes.fromhex("01030000000a")
    assert impl.crc16_modbus(frame).to_bytes(2, "little") == bytes.fromhex("c5cd")


def test_crc16_of_frame_with_its_crc_is_zero(impl: ModuleType) -> None:
    frame = bytes.fromhex("01030000000a")
    full = frame + impl.crc16_modbus(frame).to_bytes(2, "little")
    assert impl.crc16_modbus(full) == 0


def test_lrc_of_modbus_ascii_example(impl: ModuleType) -> None:
    # Modbus ASCII ":010300000001FB": LRC of 01 03 00 00 00 01 is 0xFB.
    assert impl.lrc(bytes.fromhex("010300000001")) == 0xFB


def test_xor8_and_sum8_check_values(impl: ModuleType) -> None:
    assert impl.xor8(CHECK) == 0x31
    assert impl.sum8(CHECK) == 0xDD


@pytest.mark.parametrize("name", FUNCTIONS)
def test_empty_input(impl: ModuleType, name: str) -> None:
    expected = {"crc16_modbus": 0xFFFF, "lrc": 0, "xor8": 0, "sum8": 0}[name]
    assert getattr(impl, name)(b"") == expected


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_accepts_every_buffer_type(impl: ModuleType, wrap: type) -> None:
    data = wrap(CHECK)
    assert (impl.crc16_modbus(data), impl.lrc(data), impl.xor8(data), impl.sum8(data)) == (
        0x4B37,
        checksums_pure.lrc(CHECK),
        0x31,
        0xDD,
    )


@pytest.mark.parametrize("name", FUNCTIONS)
def test_refuses_str_and_none(impl: ModuleType, name: str) -> None:
    with pytest.raises(TypeError):
        getattr(impl, name)("123456789")
    with pytest.raises(TypeError):
        getattr(impl, name)(None)


@given(st.binary(max_size=4096))
def test_twins_agree_on_arbitrary_input(data: bytes) -> None:
    compiled = compiled_module("_checksums")
    for name in FUNCTIONS:
        assert getattr(compiled, name)(data) == getattr(checksums_pure, name)(data), name


@given(st.binary(max_size=512), st.binary(max_size=512))
def test_crc16_continues_a_running_value(head: bytes, tail: bytes) -> None:
    compiled = compiled_module("_checksums")
    for impl in (compiled, checksums_pure):
        assert impl.crc16_modbus(tail, impl.crc16_modbus(head)) == impl.crc16_modbus(head + tail)


@given(st.binary(min_size=1, max_size=256))
def test_lrc_makes_the_sum_zero(data: bytes) -> None:
    assert (sum(data) + checksums.lrc(data)) & 0xFF == 0


def test_memoryview_slices_agree() -> None:
    compiled = compiled_module("_checksums")
    buf = memoryview(bytes(range(256)) * 4)[17:900]
    for name in FUNCTIONS:
        assert getattr(compiled, name)(buf) == getattr(checksums_pure, name)(buf)
