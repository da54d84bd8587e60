"""The Modbus adapter against a device with holes in its map, lying function codes and NaN floats.

The device is the simulators' strict Modbus TCP server over a real socket, with a register
model small enough to state each case exactly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from adapters.base import ReconnectPolicy
from adapters.maps import ModbusMap, parse_map
from adapters.modbus import ModbusAdapter
from adapters.observations import Reading
from simulators.modbus_server import ExceptionCode, ModbusServer, Tables
from tests.adapters.recorder import Recorder, eventually

FAST = ReconnectPolicy(base=0.01, cap=0.05, healthy_after=60.0, liveness_timeout=5.0)
HOLE = range(4, 8)  # input registers the device does not have: a read touching one gets 02


class HoleyDevice:
    """Forty input registers, of which 4..7 do not exist; counts the reads it refused."""

    def __init__(self) -> None:
        self.words = [0] * 40
        self.refused = 0
        self.server = ModbusServer(Tables(16, 16, 40, 40), self._action)

    async def _action(
        self, function: int, address: int, count: int, registers: list[int], values: Sequence[int] | None
    ) -> int | None:
        if function == 4 and any(a in HOLE for a in range(address, address + count)):
            self.refused += 1
            return ExceptionCode.ILLEGAL_DATA_ADDRESS
        registers[: len(self.words)] = self.words
        return None

    def set_float(self, address: int, raw: int) -> None:
        """Store a float32's bit pattern, high word first."""
        self.words[address : address + 2] = [raw >> 16, raw & 0xFFFF]


def device_map() -> ModbusMap:
    # The default max_gap (8) joins 0..3 and 8..11 into one block through the hole.
    parsed = parse_map(
        {
            "machine": {"protocol": "modbus"},
            "modbus": {"poll_interval": 0.05, "timeout": 0.5},
            "points": {
                "state": {"table": "input_registers", "address": 0},
                "counter": {"table": "input_registers", "address": 3},
                "setpoint": {"table": "input_registers", "address": 8, "scale": 0.1},
                "flow": {"table": "input_registers", "address": 20, "type": "float32"},
            },
            "state": {"point": "state", "codes": {"2": 2202}},
            "readings": {"counter": "", "setpoint": "°C", "flow": "l/min"},
        }
    )
    assert isinstance(parsed, ModbusMap)
    return parsed


@pytest.fixture
async def device() -> AsyncIterator[HoleyDevice]:
    machine = HoleyDevice()
    machine.words[0] = 2
    await machine.server.start()
    yield machine
    await machine.server.stop()


@pytest.fixture
async def polled(device: HoleyDevice) -> AsyncIterator[tuple[ModbusAdapter, Recorder]]:
    adapter = ModbusAdapter("m1", device_map(), host="127.0.0.1", port=device.server.port or 0, policy=FAST)
    seen = Recorder()
    task = asyncio.create_task(adapter.run(seen))
    await adapter.wait_connected(5.0)
    yield adapter, seen
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_block_through_a_hole_is_split_once_and_the_split_is_kept(
    device: HoleyDevice, polled: tuple[ModbusAdapter, Recorder]
) -> None:
    """Exception 02 to a block that spans a hole splits it; the points behind the hole are read,
    and neither later polls nor a new session ask for the hole again."""
    adapter, seen = polled
    device.words[8] = 2315
    assert (await seen.next(Reading, lambda r: r.name == "setpoint")).value == pytest.approx(231.5)
    refused = device.refused
    assert refused == 1
    device.server.drop_connections()
    await eventually(lambda: adapter.health.connects >= 2)
    mark = len(seen.seen)
    device.words[8] = 2400
    await seen.next(Reading, lambda r: r.name == "setpoint" and r.value == pytest.approx(240.0), after=mark)
    assert device.refused == refused


async def test_an_answer_with_another_function_code_is_not_taken(
    device: HoleyDevice, polled: tuple[ModbusAdapter, Recorder]
) -> None:
    """An FC 03 answer to an FC 04 request is a protocol error (the session restarts), never data."""
    adapter, seen = polled
    await seen.next(Reading, lambda r: r.name == "counter")
    device.server.wrong_function_responses(1)
    await eventually(lambda: "function code 03" in (adapter.health.last_error or ""))
    await eventually(lambda: adapter.health.connects >= 2)


async def test_a_nan_float_is_one_value_whatever_its_payload(
    device: HoleyDevice, polled: tuple[ModbusAdapter, Recorder]
) -> None:
    """A float point reading NaN is reported once; a NaN with other payload bits is no change."""
    _, seen = polled
    assert (await seen.next(Reading, lambda r: r.name == "flow")).value == 0.0
    device.set_float(20, 0x7FC00000)  # quiet NaN
    nan = await seen.next(Reading, lambda r: r.name == "flow" and r.value != r.value)
    assert nan.unit == "l/min"
    device.set_float(20, 0xFFC00001)  # another NaN: sign and payload differ, words change
    device.words[3] = 7  # a marker read in the same poll
    await seen.next(Reading, lambda r: r.name == "counter" and r.value == 7)
    flows = [o for o in seen.seen if isinstance(o, Reading) and o.name == "flow"]
    assert len(flows) == 2  # 0.0 at the first poll, then NaN once
