"""The simulators' Modbus request checks, without a socket (the oven's wire tests use a socket)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.modbus_server import SUPPORTED, ExceptionCode, check_request, exception_response


@given(st.binary(min_size=1, max_size=253))
def test_any_pdu_is_checked_without_raising(pdu: bytes) -> None:
    """Every PDU a frame can carry is either passed on or refused with a code; nothing raises."""
    assert check_request(pdu, SUPPORTED) in (None, *ExceptionCode)


@given(st.integers(0, 0xFFFF), st.integers(1, 125))
def test_well_formed_register_reads_pass(address: int, count: int) -> None:
    """An FC 03 of 1-125 registers passes, whatever its address (the tables check addresses)."""
    assert check_request(struct.pack(">BHH", 3, address, count), SUPPORTED) is None


def test_a_supported_function_the_device_does_not_list_is_illegal() -> None:
    """The device's list decides: FC 15 on a device that lists only reads is exception 01."""
    write = struct.pack(">BHHBB", 15, 0, 1, 1, 1)
    assert check_request(write, SUPPORTED) is None
    assert check_request(write, {1, 2, 3, 4}) == ExceptionCode.ILLEGAL_FUNCTION


@pytest.mark.parametrize("function", [0x01, 0x10, 0x2B, 0x7F])
def test_exception_response_sets_bit_7_of_the_request_function(function: int) -> None:
    """The exception PDU is the request's function code | 0x80, then the code."""
    assert exception_response(function, 3) == bytes([function | 0x80, 3])
