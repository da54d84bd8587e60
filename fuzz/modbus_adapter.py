"""Modbus responses through the adapter under fuzz.

The input is what a device sends back: a byte stream cut into responses by pymodbus's own
client framer (Modbus TCP, or RTU with its CRC) and decoded by its client PDU decoder, exactly
as ``AsyncModbusTcpClient`` / ``AsyncModbusSerialClient`` hand responses to the adapter. The
adapter then polls every group of the built-in reflow oven map twice (first decode, then the
re-decode of changed words) and interprets the values into observations.

Invariant: a poll through ``adapters.modbus`` either yields observations or raises
TransportError / RemoteProtocolError (linegate's errors); no pymodbus exception and no
ValueError, KeyError, AttributeError, struct.error or the like escapes the adapter.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from pymodbus.exceptions import ModbusIOException
from pymodbus.framer import FramerRTU, FramerSocket
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.pdu.bit_message import ReadCoilsResponse, ReadDiscreteInputsResponse
from pymodbus.pdu.register_message import ReadHoldingRegistersResponse, ReadInputRegistersResponse

from adapters.maps import ModbusMap, builtin_map
from adapters.modbus import ModbusAdapter, _Link
from fuzz.harness import Harness, Target
from protocols.errors import RemoteProtocolError, TransportError
from protocols.modbus import Table

_UNIT = 1
# First input byte, bit 0: the RTU framer (serial) instead of Modbus TCP. RTU has no length
# field and pymodbus's RTU framer takes a whole read as one answer, so in RTU mode the stream is
# a sequence of (one length byte, that many bytes): one serial reception per request.
_RTU = 1


class _Device:
    """Stands in for a pymodbus client: every read answers with the next frame of the stream."""

    connected = True

    def __init__(self) -> None:
        self.stream = b""
        self.rtu = False
        self.framer: FramerSocket | FramerRTU = FramerSocket(DecodePDU(False))
        self.read_coils = self.read_discrete_inputs = self._read
        self.read_holding_registers = self.read_input_registers = self._read

    def load(self, data: bytes, *, rtu: bool) -> None:
        self.stream = data
        self.rtu = rtu
        self.framer = (FramerRTU if rtu else FramerSocket)(DecodePDU(False))

    async def _read(self, address: int, *, count: int, device_id: int) -> ModbusPDU:
        # pymodbus's transaction manager: frames for another unit are skipped; a frame that does
        # not decode, or no frame at all, ends in its timeout (ModbusIOException).
        if self.rtu:
            size = self.stream[0] if self.stream else 0
            received, self.stream = self.stream[1 : 1 + size], self.stream[1 + size :]
            pdu = self.framer.handleFrame(received, device_id, 0)[1]
        else:
            used, pdu = self.framer.handleFrame(self.stream, device_id, 0)
            self.stream = self.stream[used:]
        if pdu is None:
            raise ModbusIOException("no response")
        return pdu

    def close(self) -> None:
        pass


def oven_map() -> ModbusMap:
    device_map = builtin_map("reflow_oven")
    assert isinstance(device_map, ModbusMap)
    return device_map


def make() -> Target:
    loop = asyncio.new_event_loop()
    adapter = ModbusAdapter("oven", oven_map(), host="127.0.0.1")
    device = _Device()
    link = _Link(device, _UNIT)
    at = datetime(2026, 1, 1, tzinfo=UTC)

    async def poll() -> None:
        for _ in range(2):
            changed: dict[str, Any] = {}
            for group in adapter._groups:
                await adapter._read_group(link, group, changed)
            list(adapter._interpret(changed, at))

    def one(data: bytes) -> None:
        flags, stream = (data[0], data[1:]) if data else (0, b"")
        device.load(stream, rtu=bool(flags & _RTU))
        # A fresh session, as _session starts one.
        link.timeouts = 0
        adapter._values.clear()
        adapter._state = adapter._faults = adapter._counter = None
        for group in adapter._groups:
            group.last = [None] * len(group.plan.blocks)
        loop.run_until_complete(poll())

    return one


def seeds() -> list[bytes]:
    adapter = ModbusAdapter("oven", oven_map(), host="127.0.0.1")
    blocks = [block for group in adapter._groups for block in group.plan.blocks]
    out = []
    for rtu in (False, True):
        framer = (FramerRTU if rtu else FramerSocket)(DecodePDU(True))
        stream = b""
        for value in (1, 7):
            for tid, block in enumerate(blocks * 2):
                pdu: ModbusPDU
                if block.table is Table.COILS:
                    pdu = ReadCoilsResponse(bits=[bool(value & 1)] * block.count)
                elif block.table is Table.DISCRETE_INPUTS:
                    pdu = ReadDiscreteInputsResponse(bits=[bool(value & 2)] * block.count)
                elif block.table is Table.HOLDING_REGISTERS:
                    pdu = ReadHoldingRegistersResponse(
                        registers=[value * 100 + i for i in range(block.count)]
                    )
                else:
                    pdu = ReadInputRegistersResponse(registers=[value * 2300 + i for i in range(block.count)])
                pdu.dev_id, pdu.transaction_id = _UNIT, tid + 1
                stream += _received(framer.buildFrame(pdu), rtu)
        busy = ExceptionResponse(3, 6)
        busy.dev_id = _UNIT
        out += [bytes([rtu]) + stream, bytes([rtu]) + _received(framer.buildFrame(busy), rtu) + stream]
    return out


def _received(frame: bytes, rtu: bool) -> bytes:
    return bytes([len(frame)]) + frame if rtu else frame


HARNESSES = [
    Harness(
        "modbus-adapter",
        "pymodbus client framers -> adapters/modbus.py poll + protocols/modbus decode",
        make,
        (TransportError, RemoteProtocolError),
        seeds,
    )
]
