"""The reflow oven on the wire: raw Modbus TCP frames over a socket, checked byte by byte.

A library client would hide what these tests look at (the function byte of an exception
response, frames that share a TCP segment), so they speak MBAP themselves. The expected bytes
come from the Modbus Application Protocol Specification V1.1b3 and from the oven's manual
(``simulators/reflow_oven.md``), typed in rather than imported from the simulator.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import pytest

from simulators import SteppedClock
from simulators.reflow_oven import ReflowOven

# Manual §1: the function codes the oven lists; every other one is answered with exception 01.
LISTED = {1, 2, 3, 4, 5, 6, 15, 16}
ILLEGAL_FUNCTION, ILLEGAL_DATA_ADDRESS, ILLEGAL_DATA_VALUE = 1, 2, 3
HR_CONVEYOR = 2
IR_STATE = 0
COIL_RUN, COIL_RESET, COIL_FIRST_RESERVED = 0, 2, 3
ANSWER_WITHIN = 5.0  # seconds; a request that gets no answer at all fails the test here


class RawModbus:
    """A Modbus TCP client that writes whole frames and reads responses as (tid, unit, pdu)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.next_tid = 1

    def frame(self, pdu: bytes, unit: int = 1) -> tuple[int, bytes]:
        """An MBAP frame (transaction id, protocol 0, length, unit) around ``pdu``, and its id."""
        tid, self.next_tid = self.next_tid, self.next_tid + 1
        return tid, struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu

    async def send(self, *pdus: bytes) -> list[int]:
        """Write every request in one ``write`` (one TCP segment on loopback); return their ids."""
        framed = [self.frame(pdu) for pdu in pdus]
        self.writer.write(b"".join(frame for _, frame in framed))
        await self.writer.drain()
        return [tid for tid, _ in framed]

    async def receive(self) -> tuple[int, int, bytes]:
        """The next response frame."""
        header = await asyncio.wait_for(self.reader.readexactly(7), ANSWER_WITHIN)
        tid, protocol, length, unit = struct.unpack(">HHHB", header)
        assert protocol == 0
        pdu = await asyncio.wait_for(self.reader.readexactly(length - 1), ANSWER_WITHIN)
        return tid, unit, pdu

    async def ask(self, pdu: bytes) -> bytes:
        """One request, one response PDU (checked to carry the request's transaction id)."""
        [tid] = await self.send(pdu)
        got_tid, _, answer = await self.receive()
        assert got_tid == tid
        return answer


@pytest.fixture
async def oven() -> AsyncIterator[ReflowOven]:
    async with ReflowOven(clock=SteppedClock()) as machine:
        yield machine


@pytest.fixture
async def raw(oven: ReflowOven) -> AsyncIterator[RawModbus]:
    reader, writer = await asyncio.open_connection("127.0.0.1", oven.port)
    yield RawModbus(reader, writer)
    writer.close()
    await writer.wait_closed()


def read(function: int, address: int, count: int) -> bytes:
    return struct.pack(">BHH", function, address, count)


def exception(function: int, code: int) -> bytes:
    # Modbus Application Protocol §7: function code + 0x80, then the exception code.
    return bytes([function | 0x80, code])


# A well-formed request for each function code the oven does not list, as a real client sends it.
UNLISTED_REQUESTS = {
    7: b"\x07",  # read exception status
    8: b"\x08\x00\x00\x12\x34",  # diagnostics, sub-function 0 (return query data)
    11: b"\x0b",  # get comm event counter
    17: b"\x11",  # report server id
    22: struct.pack(">BHHH", 22, 2, 0xFFFF, 0x0000),  # mask write register
    23: struct.pack(">BHHHHBH", 23, 0, 1, 2, 1, 2, 500),  # read/write multiple registers
    43: b"\x2b\x0e\x01\x00",  # read device identification
}


@pytest.mark.parametrize("function", sorted(UNLISTED_REQUESTS))
async def test_unlisted_function_is_illegal_function(raw: RawModbus, function: int) -> None:
    """A real request with a function code the manual does not list gets exception 01, fc | 0x80."""
    assert await raw.ask(UNLISTED_REQUESTS[function]) == exception(function, ILLEGAL_FUNCTION)


async def test_every_unlisted_function_code_is_illegal_function(raw: RawModbus) -> None:
    """Every function code 1-127 outside the manual's list gets exception 01, in order, on one link."""
    unlisted = [code for code in range(1, 128) if code not in LISTED]
    for function in unlisted:
        assert await raw.ask(bytes([function]) + b"\x00\x00\x00\x01") == exception(
            function, ILLEGAL_FUNCTION
        ), function
    # The connection is still good for a listed function afterwards.
    assert (await raw.ask(read(4, IR_STATE, 1)))[:2] == b"\x04\x02"


@pytest.mark.parametrize(
    ("pdu", "why"),
    [
        (read(1, 0, 0), "FC01 quantity 0"),
        (read(1, 0, 2001), "FC01 quantity above 2000"),
        (read(2, 0, 0), "FC02 quantity 0"),
        (read(3, 0, 0), "FC03 quantity 0"),
        (read(3, 0, 126), "FC03 quantity above 125"),
        (read(4, 0, 0), "FC04 quantity 0"),
        (read(4, 0, 126), "FC04 quantity above 125"),
        (struct.pack(">BHHB", 15, 0, 0, 0), "FC15 quantity 0"),
        (struct.pack(">BHHB", 15, 0, 1969, 247) + bytes(247), "FC15 quantity above 1968"),
        (struct.pack(">BHHBB", 15, 0, 9, 1, 0), "FC15 byte count 1 for 9 coils"),
        (struct.pack(">BHHB", 16, 0, 0, 0), "FC16 quantity 0"),
        (struct.pack(">BHHB", 16, 0, 124, 0), "FC16 quantity above 123"),
        (struct.pack(">BHHBH", 16, 2, 2, 2, 750), "FC16 byte count 2 for 2 registers"),
        (struct.pack(">BHHBHH", 16, 2, 1, 4, 750, 750), "FC16 byte count 4 for 1 register"),
        (b"\x03\x00\x00", "FC03 request cut short"),
        (read(3, 0, 1) + b"\x00", "FC03 request with a trailing byte"),
    ],
)
async def test_bad_quantity_is_illegal_data_value(raw: RawModbus, pdu: bytes, why: str) -> None:
    """A quantity out of the spec's range, or a count or length that does not add up: fc | 0x80, 03."""
    assert await raw.ask(pdu) == exception(pdu[0], ILLEGAL_DATA_VALUE), why


@pytest.mark.parametrize(
    "pdu",
    [read(1, 15, 2), read(2, 16, 1), read(3, 20, 7), read(4, 36, 1), read(3, 0xFFFF, 1)],
)
async def test_address_outside_tables_is_illegal_data_address(raw: RawModbus, pdu: bytes) -> None:
    """Manual §1: a request reaching past the end of a table gets exception 02 with fc | 0x80."""
    assert await raw.ask(pdu) == exception(pdu[0], ILLEGAL_DATA_ADDRESS)


@pytest.mark.parametrize("value", [0x1234, 0x0001, 0xFFFF, 0x00FF, 0xFF01])
async def test_write_single_coil_takes_only_ff00_and_0000(raw: RawModbus, value: int) -> None:
    """FC05: 0xFF00 is ON and 0x0000 is OFF; any other value gets 03 and leaves the coil as it was."""
    assert await raw.ask(struct.pack(">BHH", 5, COIL_RUN, value)) == exception(5, ILLEGAL_DATA_VALUE)
    assert await raw.ask(read(1, 0, 8)) == b"\x01\x01\x00"
    on = struct.pack(">BHH", 5, COIL_RUN, 0xFF00)
    assert await raw.ask(on) == on  # the echo of the request
    assert await raw.ask(read(1, 0, 8)) == b"\x01\x01\x01"
    off = struct.pack(">BHH", 5, COIL_RUN, 0x0000)
    assert await raw.ask(off) == off
    assert await raw.ask(read(1, 0, 8)) == b"\x01\x01\x00"


@pytest.mark.parametrize("coil", [COIL_FIRST_RESERVED, 7, 15])
@pytest.mark.parametrize("value", [0xFF00, 0x0000])
async def test_reserved_coil_write_is_illegal_data_address(raw: RawModbus, coil: int, value: int) -> None:
    """Manual §8: coils 3-15 are reserved; FC05 to one gets exception 02 and it still reads 0."""
    assert await raw.ask(struct.pack(">BHH", 5, coil, value)) == exception(5, ILLEGAL_DATA_ADDRESS)
    assert await raw.ask(read(1, 0, 16)) == b"\x01\x02\x00\x00"


async def test_multiple_coil_write_touching_a_reserved_coil_changes_nothing(raw: RawModbus) -> None:
    """FC15 over coils 0-3 (3 reserved) gets exception 02 as a whole: coil 0 stays off."""
    write = struct.pack(">BHHBB", 15, COIL_RUN, 4, 1, 0b1001)
    assert await raw.ask(write) == exception(15, ILLEGAL_DATA_ADDRESS)
    assert await raw.ask(read(1, 0, 16)) == b"\x01\x02\x00\x00"
    inside = struct.pack(">BHHBB", 15, COIL_RUN, 2, 1, 0b01)
    assert await raw.ask(inside) == inside[:5]  # FC15 answers address and quantity
    assert await raw.ask(read(1, 0, 16)) == b"\x01\x02\x01\x00"


async def test_two_requests_in_one_segment_are_both_answered_in_order(raw: RawModbus) -> None:
    """Two requests in one TCP segment: two responses, in request order, each with its own id."""
    tids = await raw.send(read(4, IR_STATE, 1), read(3, HR_CONVEYOR, 1))
    first, second = await raw.receive(), await raw.receive()
    assert [first[0], second[0]] == tids
    assert first[2][:2] == b"\x04\x02"
    assert second[2] == b"\x03\x02" + struct.pack(">H", 750)  # recipe 1: 75.0 cm/min


async def test_write_then_read_in_one_segment_reads_the_write(raw: RawModbus) -> None:
    """A write and a read of the same register in one segment are executed in arrival order."""
    write = struct.pack(">BHH", 6, HR_CONVEYOR, 900)
    tids = await raw.send(write, read(3, HR_CONVEYOR, 1), read(1, COIL_RESET, 1))
    answers = [await raw.receive() for _ in tids]
    assert [tid for tid, _, _ in answers] == tids
    assert [pdu for _, _, pdu in answers] == [write, b"\x03\x02" + struct.pack(">H", 900), b"\x01\x01\x00"]


async def test_a_request_split_across_segments_is_answered(raw: RawModbus) -> None:
    """A frame that arrives a byte at a time is answered once complete."""
    tid, frame = raw.frame(read(4, IR_STATE, 1))
    for byte in frame:
        raw.writer.write(bytes([byte]))
        await raw.writer.drain()
    got_tid, unit, pdu = await raw.receive()
    assert (got_tid, unit, pdu[:2]) == (tid, 1, b"\x04\x02")


@pytest.mark.parametrize("pdu", [read(4, IR_STATE, 1), struct.pack(">BHH", 6, HR_CONVEYOR, 900)])
async def test_injected_exception_carries_the_request_function(
    oven: ReflowOven, raw: RawModbus, pdu: bytes
) -> None:
    """modbus_exception(6) answers reads and writes alike with fc | 0x80 and code 06."""
    oven.modbus_exception(6)
    assert await raw.ask(pdu) == exception(pdu[0], 6)


async def test_frame_with_another_protocol_id_is_ignored(raw: RawModbus) -> None:
    """Manual §1: a frame whose protocol id is not 0 gets no answer; the next Modbus frame does."""
    stray = struct.pack(">HHHB", 99, 1, 6, 1) + read(4, IR_STATE, 1)
    tid, frame = raw.frame(read(4, IR_STATE, 1))
    raw.writer.write(stray + frame)
    await raw.writer.drain()
    got_tid, _, pdu = await raw.receive()
    assert (got_tid, pdu[:2]) == (tid, b"\x04\x02")


@pytest.mark.parametrize("length", [0, 1, 255, 0xFFFF])
async def test_length_field_out_of_range_closes_the_connection(raw: RawModbus, length: int) -> None:
    """Manual §1: an MBAP length outside 2-254 leaves no next frame to find; the oven hangs up."""
    raw.writer.write(struct.pack(">HHHB", 1, 0, length, 1) + read(4, IR_STATE, 1))
    await raw.writer.drain()
    assert await asyncio.wait_for(raw.reader.read(), ANSWER_WITHIN) == b""


async def test_stop_closes_connections_with_a_request_in_flight() -> None:
    """Stopping the oven while one client idles and another waits on a silent answer ends both
    connections (EOF) within the deadline."""
    oven = ReflowOven(clock=SteppedClock())
    await oven.start()
    assert oven.port is not None
    port = oven.port
    idle = await asyncio.open_connection("127.0.0.1", port)
    waiting = RawModbus(*await asyncio.open_connection("127.0.0.1", port))
    oven.go_silent()
    await waiting.send(read(4, IR_STATE, 1))
    await asyncio.wait_for(oven.stop(), ANSWER_WITHIN)
    for reader in (idle[0], waiting.reader):
        # The request parked by go_silent may still be answered on the way out; then EOF.
        await asyncio.wait_for(reader.read(), ANSWER_WITHIN)
        assert reader.at_eof()
    for writer in (idle[1], waiting.writer):
        writer.close()
