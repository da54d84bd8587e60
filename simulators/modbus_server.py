"""A strict Modbus TCP server for simulated devices: our framing and checks, pymodbus's tables.

The one module of ``simulators/`` that imports pymodbus (3.16). pymodbus keeps the register
tables (``SimDevice``), decodes the requests that pass our checks and encodes their answers;
the device model sees every access through its ``action`` hook. Everything a client can
observe on the wire is decided here instead, because pymodbus's own server, left to its
defaults, answers what a real device refuses:

- it implements function codes the device does not list (07, 08, 11, 17, 22, 23, 43, ...);
- a request it cannot decode (a quantity out of range) is answered with function byte 0x80
  instead of the request's function code | 0x80;
- FC 05 takes any non-zero value as ON;
- of two requests in one TCP segment it answers the first and leaves the second in its buffer
  until more bytes arrive.

Here each connection reads whole MBAP frames and answers them one at a time, in arrival order;
a request is checked against the Modbus Application Protocol Specification V1.1b3 (cited as
"MBAP spec §") before pymodbus sees it, and every exception response carries the request's
function code | 0x80.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Awaitable, Callable, Collection, Coroutine, Sequence
from dataclasses import dataclass
from enum import IntEnum

import structlog
from pymodbus.constants import ExcCodes
from pymodbus.pdu import DecodePDU
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simcore import SimCore

log = structlog.get_logger("simulators.modbus_server")


class ExceptionCode(IntEnum):
    """Modbus exception codes (MBAP spec §7)."""

    ILLEGAL_FUNCTION = 1
    ILLEGAL_DATA_ADDRESS = 2
    ILLEGAL_DATA_VALUE = 3
    SERVER_DEVICE_FAILURE = 4
    ACKNOWLEDGE = 5
    SERVER_DEVICE_BUSY = 6


# The function codes this server can serve; a device lists the subset its manual names.
READ_COILS, READ_DISCRETE_INPUTS, READ_HOLDING_REGISTERS, READ_INPUT_REGISTERS = 1, 2, 3, 4
WRITE_SINGLE_COIL, WRITE_SINGLE_REGISTER = 5, 6
WRITE_MULTIPLE_COILS, WRITE_MULTIPLE_REGISTERS = 15, 16
SUPPORTED = frozenset({1, 2, 3, 4, 5, 6, 15, 16})

# Quantity limits per request (MBAP spec §6.1-6.4, §6.11, §6.12).
READ_LIMITS = {1: 2000, 2: 2000, 3: 125, 4: 125}
WRITE_MULTIPLE_LIMITS = {15: 1968, 16: 123}
# FC 05 value field (MBAP spec §6.5): 0xFF00 requests ON, 0x0000 OFF; "all other values are
# illegal and will not affect the output".
COIL_ON, COIL_OFF = 0xFF00, 0x0000

# MBAP header (Modbus Messaging on TCP/IP Implementation Guide V1.0b §3.1.3): transaction id,
# protocol id (0 = Modbus), length of what follows (unit id + PDU), unit id. A PDU is at most
# 253 bytes (MBAP spec §4.1), so the length field is 2..254.
MBAP = struct.Struct(">HHHB")
# The read function a wrong answer claims instead (``wrong_function_responses``).
_OTHER_READ = {
    READ_COILS: READ_DISCRETE_INPUTS,
    READ_DISCRETE_INPUTS: READ_COILS,
    READ_HOLDING_REGISTERS: READ_INPUT_REGISTERS,
    READ_INPUT_REGISTERS: READ_HOLDING_REGISTERS,
}
MIN_LENGTH, MAX_LENGTH = 2, 254

# (function code, address, count, registers, values) -> an exception code or None; see
# ``ModbusServer``. ``registers`` is pymodbus's table, which the hook may change in place.
Action = Callable[[int, int, int, list[int], Sequence[int] | None], Awaitable[int | None]]


def check_request(pdu: bytes, function_codes: Collection[int]) -> ExceptionCode | None:
    """Check a request PDU's function code and structure before anything executes it.

    Addresses are not checked here: whether they exist is the device's table's business.

    Args:
        pdu: the request PDU (function code and data, no MBAP header).
        function_codes: the function codes the device lists.

    Returns:
        None for a request to execute, else the exception code to answer with:
        ILLEGAL_FUNCTION for a function the device does not list, ILLEGAL_DATA_VALUE for a
        quantity out of range, a byte count or length that does not add up, or an FC 05
        value other than 0xFF00 and 0x0000.
    """
    function, body = pdu[0], pdu[1:]
    if function not in function_codes or function not in SUPPORTED:
        return ExceptionCode.ILLEGAL_FUNCTION
    # MBAP spec §7, exception 03: "the implied length is incorrect" is a bad data value.
    if function in READ_LIMITS or function in (WRITE_SINGLE_COIL, WRITE_SINGLE_REGISTER):
        if len(body) != 4:
            return ExceptionCode.ILLEGAL_DATA_VALUE
        _, field = struct.unpack(">HH", body)
        if function in READ_LIMITS and not 1 <= field <= READ_LIMITS[function]:
            return ExceptionCode.ILLEGAL_DATA_VALUE
        if function == WRITE_SINGLE_COIL and field not in (COIL_ON, COIL_OFF):
            return ExceptionCode.ILLEGAL_DATA_VALUE
        return None
    if len(body) < 5:
        return ExceptionCode.ILLEGAL_DATA_VALUE
    _, quantity, byte_count = struct.unpack(">HHB", body[:5])
    size = (quantity + 7) // 8 if function == WRITE_MULTIPLE_COILS else 2 * quantity
    if not 1 <= quantity <= WRITE_MULTIPLE_LIMITS[function] or byte_count != size:
        return ExceptionCode.ILLEGAL_DATA_VALUE
    if len(body) != 5 + byte_count:
        return ExceptionCode.ILLEGAL_DATA_VALUE
    return None


def exception_response(function: int, code: int) -> bytes:
    """An exception response PDU: the request's function code | 0x80, then the code (MBAP spec §7)."""
    return bytes([function | 0x80, code])


@dataclass(frozen=True)
class Tables:
    """How many of each a device has, every table starting at address 0."""

    coils: int
    discrete_inputs: int
    holding_registers: int
    input_registers: int


class ModbusServer:
    """A Modbus TCP server in front of one device model; every unit id reaches that device.

    Args:
        tables: the sizes of the device's four tables; a request reaching past one is answered
            with exception 02.
        action: called for every access that passed the checks, before pymodbus touches
            the table: ``action(function_code, address, count, registers, values)``, where
            ``count`` counts table entries (for coils and discrete inputs: the 16-bit words
            the bits span).
            ``values`` is None for a read; for a write it holds the values to write, and
            the hook's answer decides whether they are written. Writes are followed by a
            read-back (``values`` None) from which FC 05/06/15/16 build their echo.
            ``registers`` is the table as pymodbus stores it (bits packed 16 to a word,
            lowest address in bit 0); the hook renders the device's current values into it.
            Return an exception code to refuse the access, or None.
        function_codes: the function codes the device's manual lists; all others are
            answered with exception 01.
        host: address to listen on.
        port: TCP port (0 = a free one).
    """

    def __init__(
        self,
        tables: Tables,
        action: Action,
        *,
        function_codes: Collection[int] = SUPPORTED,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.function_codes = frozenset(function_codes)
        self.host, self._port = host, port
        self.port: int | None = None
        self._action = action
        self._tables = _sim_core(tables, self._pymodbus_action)
        self._decoder = DecodePDU(True)
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}
        self._garbage = 0
        self._wrong_function = 0

    async def start(self) -> None:
        """Listen; ``port`` is then the port."""
        self._server = await asyncio.start_server(self._serve, self.host, self._port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        tasks = list(self._connections.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            # Last: from Python 3.12 on, wait_closed() also waits for the connections to end.
            await server.wait_closed()

    def drop_connections(self) -> None:
        """Close every client connection; the listener stays up."""
        for writer in list(self._connections):
            writer.close()

    def garbage_responses(self, count: int) -> None:
        """Replace the next ``count`` response frames with bytes that are not Modbus."""
        self._garbage = count

    def wrong_function_responses(self, count: int) -> None:
        """Answer the next ``count`` reads with the other read function's code (01<->02, 03<->04).

        The data is the requested table's; only the function byte lies, as a confused gateway
        or a faulty firmware might answer (MBAP spec §4.1: a normal response echoes the code).
        """
        self._wrong_function = count

    # -- one connection --------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[writer] = task
        try:
            while (frame := await _read_frame(reader)) is not None:
                tid, protocol, unit, pdu = frame
                if protocol != 0:
                    continue  # not a Modbus frame (Implementation Guide §3.1.3): no answer
                answer = await self._answer(unit, pdu)
                writer.write(self._frame(tid, unit, answer))
                await writer.drain()
        except ConnectionError:
            pass  # the client went away mid-exchange
        finally:
            del self._connections[writer]
            writer.close()
            with contextlib.suppress(ConnectionError):
                # Shielded: a cancelled stop() must still leave no transport half-closed.
                await asyncio.shield(writer.wait_closed())

    def _frame(self, tid: int, unit: int, pdu: bytes) -> bytes:
        if self._wrong_function > 0 and pdu[0] in _OTHER_READ:
            self._wrong_function -= 1
            pdu = bytes([_OTHER_READ[pdu[0]]]) + pdu[1:]
        if self._garbage > 0:
            self._garbage -= 1
            # An MBAP header claiming 0x4000 bytes follows: the client's framer must resync.
            return b"\x00\x00\xde\xad\x40\x00" + bytes(range(16))
        return MBAP.pack(tid, 0, len(pdu) + 1, unit) + pdu

    async def _answer(self, unit: int, pdu: bytes) -> bytes:
        if (refused := check_request(pdu, self.function_codes)) is not None:
            return exception_response(pdu[0], refused)
        request = self._decoder.decode(pdu)
        if request is None:  # pymodbus refuses what passed our checks: ours are incomplete
            log.error("request.undecodable", pdu=pdu.hex())
            return exception_response(pdu[0], ExceptionCode.SERVER_DEVICE_FAILURE)
        try:
            # Typed for the old datastore; pymodbus's own server hands its SimCore in the same way.
            response = await request.datastore_update(self._tables, unit)  # type: ignore[arg-type]
        except Exception:
            log.exception("request.failed", function=pdu[0])
            return exception_response(pdu[0], ExceptionCode.SERVER_DEVICE_FAILURE)
        # pymodbus's ExceptionResponse already carries function | 0x80 (it has the request's).
        return bytes([response.function_code]) + bytes(response.encode())

    async def _pymodbus_action(
        self,
        function_code: int,
        _start: int,
        address: int,
        count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        # pymodbus's SimDevice hook; ``values`` is None for reads and read-backs.
        code = await self._action(function_code, address, count, registers, values)
        return None if code is None else ExcCodes(code)


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, int, int, bytes] | None:
    """The next whole frame as (transaction id, protocol id, unit id, PDU); None at EOF.

    A length field outside 2..254 leaves no way to find the next frame: that also ends the
    connection (None).
    """
    try:
        tid, protocol, length, unit = MBAP.unpack(await reader.readexactly(MBAP.size))
        if not MIN_LENGTH <= length <= MAX_LENGTH:
            return None
        return tid, protocol, unit, await reader.readexactly(length - 1)
    except asyncio.IncompleteReadError:
        return None


_SimAction = Callable[
    [int, int, int, int, list[int], list[int] | list[bool] | None], Coroutine[None, None, ExcCodes | None]
]


def _sim_core(tables: Tables, action: _SimAction) -> SimCore:
    def block(count: int, kind: DataType) -> list[SimData]:
        return [SimData(0, count=count, values=False if kind == DataType.BITS else 0, datatype=kind)]

    device = SimDevice(
        0,  # id 0: answer every unit id
        simdata=(
            block(tables.coils, DataType.BITS),
            block(tables.discrete_inputs, DataType.BITS),
            block(tables.holding_registers, DataType.REGISTERS),
            block(tables.input_registers, DataType.REGISTERS),
        ),
        action=action,
    )
    return SimCore(device)


__all__ = ["ExceptionCode", "ModbusServer", "Tables", "check_request", "exception_response"]
