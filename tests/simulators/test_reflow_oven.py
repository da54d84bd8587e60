"""The reflow oven over Modbus TCP, read and written by pymodbus's own client as reflow_oven.md says."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from simulators import Board, Handoff, SteppedClock
from simulators.reflow_oven import ReflowOven

# Every simulator here runs on the plugin's virtual_clock, stepped: time moves only when the test says.
pytestmark = pytest.mark.linegate_clock(stepped=True)

# Register addresses, typed in from the manual rather than imported from the simulator.
HR_COMMAND, HR_RECIPE, HR_CONVEYOR, HR_ZONES = 0, 1, 2, 10
IR_STATE, IR_ALARMS, IR_RECIPE, IR_READY, IR_SPEED, IR_O2, IR_INSIDE, IR_DONE, IR_LOAD = (
    0, 1, 3, 4, 5, 6, 8, 9, 11,
)  # fmt: skip
IR_ZONES = 20
COIL_RUN, COIL_RELEASE, COIL_RESET = 0, 1, 2
DI_ENTRY, DI_EXIT, DI_READY, DI_ALARM, DI_LEGACY = 0, 1, 2, 3, 4
READY, WARMING, LOADING = 2, 1, 6


async def _client(oven: ReflowOven, timeout: float = 3.0) -> AsyncModbusTcpClient:
    client = AsyncModbusTcpClient("127.0.0.1", port=oven.port or 0, timeout=timeout, retries=0)
    assert await client.connect()
    return client


@pytest.fixture
async def oven(virtual_clock: SteppedClock) -> AsyncIterator[ReflowOven]:
    async with ReflowOven(clock=virtual_clock, board_in=Handoff()) as machine:
        yield machine


@pytest.fixture
async def client(oven: ReflowOven) -> AsyncIterator[AsyncModbusTcpClient]:
    client = await _client(oven)
    yield client
    client.close()


async def ir(client: AsyncModbusTcpClient, address: int, count: int = 1) -> list[int]:
    result = await client.read_input_registers(address, count=count)
    assert not result.isError(), result
    return list(result.registers)


async def warm_up(oven: ReflowOven, virtual_clock: SteppedClock) -> float:
    return await virtual_clock.run_until(oven.is_ready, within=1800, step=5)


async def test_first_order_warm_up_and_readiness(
    oven: ReflowOven, client: AsyncModbusTcpClient, virtual_clock: SteppedClock
) -> None:
    """Actuals start at ambient, follow sp + (25 - sp)·e^(-t/τ), and ready comes once all are in tolerance."""
    assert await ir(client, IR_STATE) == [WARMING]
    assert await ir(client, IR_READY) == [0]
    setpoint_top_1 = (await client.read_holding_registers(HR_ZONES, count=1)).registers[0] / 10
    assert setpoint_top_1 == 150.0
    assert (await ir(client, IR_ZONES))[0] == 250  # 25.0 °C
    await virtual_clock.run_for(60)
    expected = 150.0 + (25.0 - 150.0) * math.exp(-60 / 120)
    assert abs((await ir(client, IR_ZONES))[0] / 10 - expected) <= 0.1
    took = await warm_up(oven, virtual_clock)
    # The hottest heater (250 °C) needs τ·ln(225/5) ≈ 457 s to come within 5 °C.
    assert 400 < took + 60 < 520
    assert await ir(client, IR_READY) == [1]
    assert await ir(client, IR_STATE) == [READY]
    assert (await client.read_discrete_inputs(0, count=8)).bits[DI_READY]
    zones = await ir(client, IR_ZONES, 16)
    assert all(
        abs(z / 10 - s) <= 5
        for z, s in zip(
            zones, [v for t in (150, 165, 180, 190, 200, 225, 245, 250) for v in (t, t - 5)], strict=True
        )
    )


async def test_word_orders_o2_and_counters(
    oven: ReflowOven, client: AsyncModbusTcpClient, virtual_clock: SteppedClock
) -> None:
    """O2 is FLOAT32 low word first; the alarm word is UINT32 high word first."""
    await virtual_clock.run_for(600)
    low_high = await ir(client, IR_O2, 2)
    o2 = client.convert_from_registers(low_high, client.DATATYPE.FLOAT32, word_order="little")
    assert isinstance(o2, float) and abs(o2 - oven.o2.value(virtual_clock.now())) < 1.0 and o2 < 5000
    oven.raise_fault("SOMETHING-ELSE", "vendor-specific")
    word = client.convert_from_registers(await ir(client, IR_ALARMS, 2), client.DATATYPE.UINT32)
    assert word == 1 << 31


async def test_recipe_load_sequence(
    oven: ReflowOven, client: AsyncModbusTcpClient, virtual_clock: SteppedClock
) -> None:
    """Write the number, then command 1: busy (state 6), then recipe 2 active with its setpoints."""
    await warm_up(oven, virtual_clock)
    await client.write_register(HR_RECIPE, 2)
    assert not (await client.write_register(HR_COMMAND, 1)).isError()
    assert await ir(client, IR_LOAD) == [1]
    assert await ir(client, IR_STATE) == [LOADING]
    await virtual_clock.run_for(oven.changeover_time)
    assert await ir(client, IR_LOAD) == [2]
    assert await ir(client, IR_RECIPE) == [2]
    assert (await client.read_holding_registers(HR_COMMAND, count=1)).registers == [0]
    assert (await client.read_holding_registers(HR_ZONES, count=2)).registers == [1600, 1550]
    assert await ir(client, IR_READY) == [0]  # the new setpoints are 10 °C hotter
    await warm_up(oven, virtual_clock)
    assert await ir(client, IR_STATE) == [READY]


async def test_recipe_load_refused_and_unknown(oven: ReflowOven, client: AsyncModbusTcpClient) -> None:
    """An unknown number gives result 3, a refusal result 4; both light alarm bit 3; reset clears it."""
    await client.write_registers(HR_RECIPE, [42, 0])
    await client.write_register(HR_COMMAND, 1)
    assert await ir(client, IR_LOAD) == [3]
    oven.recipes.refuse("interlock")
    await client.write_register(HR_RECIPE, 3)
    await client.write_register(HR_COMMAND, 1)
    assert await ir(client, IR_LOAD) == [4]
    assert await ir(client, IR_RECIPE) == [1]
    assert await ir(client, IR_ALARMS, 2) == [0, 1 << 3]
    await client.write_coil(COIL_RESET, True)
    assert await ir(client, IR_ALARMS, 2) == [0, 0]
    assert (await client.read_coils(0, count=8)).bits[COIL_RESET] is False


async def test_illegal_write_is_an_exception_response(client: AsyncModbusTcpClient) -> None:
    """A setpoint outside 0-350.0 °C is refused with exception 3 and changes nothing."""
    result = await client.write_register(HR_ZONES, 4000)
    assert result.isError() and result.exception_code == 3
    assert (await client.read_holding_registers(HR_ZONES, count=1)).registers == [1500]


async def test_legacy_board_entering_out_of_tolerance_raises_alarm(virtual_clock: SteppedClock) -> None:
    """Legacy mode: the entry sensor shows the board, the run coil draws it in, cold zones → alarm bit 0."""
    out = Handoff()
    async with ReflowOven(clock=virtual_clock, legacy=True, board_out=out) as oven:
        client = await _client(oven)
        try:
            assert (await client.read_discrete_inputs(0, count=8)).bits[DI_LEGACY]
            board = Board(barcode="B1")
            oven.place_board_at_entry(board)
            assert (await client.read_discrete_inputs(0, count=8)).bits[DI_ENTRY]
            await client.write_coil(COIL_RUN, True)
            await virtual_clock.run_until(lambda: bool(oven.faults), within=5)
            assert await ir(client, IR_ALARMS, 2) == [0, 1]
            assert (await client.read_discrete_inputs(0, count=8)).bits[DI_ALARM]
            assert await ir(client, IR_INSIDE) == [1]
            await virtual_clock.run_until(
                lambda: oven.exit is not None and oven.exit.board is not None, within=600
            )
            assert (await client.read_discrete_inputs(0, count=8)).bits[DI_EXIT]
            taker = asyncio.create_task(out.take_board())
            await client.write_coil(COIL_RELEASE, True)
            assert (await asyncio.wait_for(taker, 5)).board_id == board.board_id
            await virtual_clock.run_until(lambda: oven.boards_done == 1, within=5)
            assert await ir(client, IR_DONE, 2) == [0, 1]
        finally:
            client.close()


async def test_legacy_board_in_tolerance_raises_nothing(virtual_clock: SteppedClock) -> None:
    """A board drawn in after warm-up enters without an alarm."""
    async with ReflowOven(clock=virtual_clock, legacy=True) as oven:
        await warm_up(oven, virtual_clock)
        oven.coils[0] = True  # as if the host had set the run coil
        oven.place_board_at_entry(Board())
        await virtual_clock.run_until(lambda: oven.boards_inside == 1, within=5)
        assert oven.faults == {}


async def test_modbus_exception_injection(oven: ReflowOven, client: AsyncModbusTcpClient) -> None:
    """modbus_exception(6) answers every request with 'device busy' until lifted."""
    oven.modbus_exception(6)
    result = await client.read_input_registers(IR_STATE, count=1)
    assert result.isError() and result.exception_code == 6
    oven.modbus_exception(None)
    assert not (await client.read_input_registers(IR_STATE, count=1)).isError()


async def test_garbage_response_then_recovery(oven: ReflowOven) -> None:
    """A garbage response fails the client's request; after reconnecting, requests succeed."""
    client = await _client(oven, timeout=0.5)
    try:
        oven.garbage_responses(1)
        with pytest.raises(ModbusException):
            result = await client.read_input_registers(IR_STATE, count=1)
            assert not result.isError()  # a client that accepted garbage fails here
    finally:
        client.close()
    client = await _client(oven)
    assert await ir(client, IR_STATE) == [1]
    client.close()


async def test_silent_and_delayed(oven: ReflowOven, virtual_clock: SteppedClock) -> None:
    """Silent: the request times out with the socket open. Delayed: the answer waits for the clock."""
    client = await _client(oven, timeout=0.3)
    try:
        oven.go_silent()
        with pytest.raises(ModbusException):
            await client.read_input_registers(IR_STATE, count=1)
    finally:
        client.close()
    oven.go_silent(False)
    oven.delay_responses(2.0)
    client = await _client(oven)
    try:
        request = asyncio.ensure_future(client.read_input_registers(IR_STATE, count=1))
        await asyncio.wait_for(virtual_clock.wait_for_sleeper(virtual_clock.now() + 2.0), 5)
        await virtual_clock.run_for(1.9)
        assert not request.done()
        await virtual_clock.run_for(0.1)
        assert not (await request).isError()
    finally:
        client.close()


async def test_drop_connection(oven: ReflowOven) -> None:
    """drop_connection closes the client's socket (the client sees it); the listener takes a reconnect."""
    dropped = asyncio.Event()
    ups: list[bool] = []

    def on_connect(up: bool) -> None:
        ups.append(up)
        if not up:
            dropped.set()

    client = AsyncModbusTcpClient(
        "127.0.0.1", port=oven.port or 0, timeout=3, retries=0, trace_connect=on_connect
    )
    assert await client.connect()
    try:
        await ir(client, IR_STATE)
        oven.drop_connection()
        await asyncio.wait_for(dropped.wait(), 5)
        assert ups[:2] == [True, False]
    finally:
        client.close()
    again = await _client(oven)
    assert await ir(again, IR_STATE) == [1]
    again.close()


async def test_nitrogen_loss_raises_o2_alarm(
    oven: ReflowOven, client: AsyncModbusTcpClient, virtual_clock: SteppedClock
) -> None:
    """With nitrogen switched back on after air, O2 above 1500 ppm on a ready oven sets alarm bit 1."""
    await warm_up(oven, virtual_clock)
    await client.write_register(3, 0)  # HR 3 NITROGEN off: O2 rises toward air
    await virtual_clock.run_for(120)
    assert await ir(client, IR_ALARMS, 2) == [0, 0]  # in air mode there is no O2 limit
    await client.write_register(3, 1)
    await virtual_clock.run_for(2)
    assert await ir(client, IR_ALARMS, 2) == [0, 1 << 1]
    assert await ir(client, IR_STATE) == [READY]  # a warning: the oven keeps running


async def test_heater_failure_cools_zone_and_drops_readiness(
    oven: ReflowOven, client: AsyncModbusTcpClient, virtual_clock: SteppedClock
) -> None:
    """fail_heater: alarm bit 5 at once; the zone cools, ready drops; reset cannot clear it while failed."""
    await warm_up(oven, virtual_clock)
    oven.fail_heater(4)  # zone 3 top
    assert await ir(client, IR_ALARMS, 2) == [0, 1 << 5]
    await virtual_clock.run_for(60)
    assert (await ir(client, IR_ZONES + 4))[0] < 1750
    assert await ir(client, IR_READY) == [0]
    assert await ir(client, IR_STATE) == [WARMING]
    echo = await client.write_register(HR_COMMAND, 2)
    assert echo.registers == [2]  # FC 06 answers with an echo of the request
    assert await ir(client, IR_ALARMS, 2) == [0, 1 << 5]
    oven.fail_heater(4, failed=False)
    await client.write_register(HR_COMMAND, 2)
    assert await ir(client, IR_ALARMS, 2) == [0, 0]
    await warm_up(oven, virtual_clock)


async def test_board_through_the_oven_with_handoffs(virtual_clock: SteppedClock) -> None:
    """Not legacy: a board handed in makes the state 3 while inside, 4 while it waits at the exit."""
    board_in, board_out = Handoff(), Handoff()
    async with ReflowOven(clock=virtual_clock, board_in=board_in, board_out=board_out) as oven:
        client = await _client(oven)
        try:
            await warm_up(oven, virtual_clock)
            assert await ir(client, IR_STATE) == [READY]
            giver = asyncio.create_task(board_in.give_board(Board()))
            await virtual_clock.run_until(giver.done, within=5)
            await virtual_clock.run_until(lambda: oven.boards_inside == 1, within=5)
            assert await ir(client, IR_STATE) == [3]
            assert await ir(client, IR_INSIDE) == [1]
            # Manual §6: entry section (300 mm + 160 mm board) then 3600 mm tunnel, at 12.5 mm/s.
            took = await virtual_clock.run_until(lambda: oven.boards_inside == 0, within=400)
            assert took == pytest.approx((300 + 160) / 12.5 + 3600 / 12.5, abs=0.6)
            assert await ir(client, IR_STATE) == [4]
            await board_out.take_board()
            await virtual_clock.run_until(lambda: oven.boards_done == 1, within=5)
            assert await ir(client, IR_DONE, 2) == [0, 1]
            assert await ir(client, IR_STATE) == [READY]
        finally:
            client.close()
