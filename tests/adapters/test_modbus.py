"""The Modbus adapter against the reflow oven simulator over real TCP, using the shipped map."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest
from pymodbus.framer import FramerType
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType as SimType
from pymodbus.simulator import SimData, SimDevice

from adapters.base import AdapterState, CommandError, RecipeInfo, ReconnectPolicy
from adapters.maps import ModbusMap, ModbusStep, builtin_map, parse_map
from adapters.modbus import ModbusAdapter, SerialLine
from adapters.modbus_words import write_runs
from adapters.observations import (
    FaultCleared,
    FaultRaised,
    Reading,
    RecipeActivated,
    ReflowProcessData,
    Severity,
    StateChanged,
)
from protocols.modbus import DataType, Point, Table
from simulators import Board, Handoff, SteppedClock
from simulators.reflow_oven import ReflowOven
from tests.adapters.recorder import Recorder, StateHistory, eventually

DEADLINE = 5.0  # real seconds; only bounds a broken test


def oven_map(**changes: object) -> ModbusMap:
    device_map = builtin_map("reflow_oven")
    assert isinstance(device_map, ModbusMap)
    return dataclasses.replace(device_map, **changes)  # type: ignore[arg-type]


FAST = ReconnectPolicy(base=0.01, cap=0.05, healthy_after=60.0, liveness_timeout=5.0)


# The plugin's virtual_clock (gateway.testing.plugin), stepped: time moves when a test advances it.
pytestmark = pytest.mark.linegate_clock(stepped=True)


async def running(adapter: ModbusAdapter, recorder: Recorder) -> asyncio.Task[None]:
    task = asyncio.create_task(adapter.run(recorder))
    await adapter.wait_connected(DEADLINE)
    return task


@pytest.fixture
async def adapter(reflow_oven: ReflowOven) -> AsyncIterator[tuple[ModbusAdapter, Recorder]]:
    modbus = ModbusAdapter(
        "oven1",
        oven_map(timeout=0.5, poll_interval=0.25),
        host="127.0.0.1",
        port=reflow_oven.port or 0,
        policy=FAST,
    )
    recorder = Recorder()
    task = await running(modbus, recorder)
    yield modbus, recorder
    task.cancel()
    try:
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 3)
    except TimeoutError:
        print("ADAPTER HANG")
        for t in asyncio.all_tasks():
            t.print_stack(limit=5)


async def test_state_and_readings_only_on_change(
    adapter: tuple[ModbusAdapter, Recorder], virtual_clock: SteppedClock
) -> None:
    """The first poll reports the state and every reading; later polls report only what changed."""
    _, seen = adapter
    state = await seen.next(StateChanged)
    assert (state.state, state.reason) == (4500, "warming up")  # WARMING_UP → Setup
    first = await seen.next(Reading, lambda r: r.name == "zone8_top_actual")
    assert (first.value, first.unit) == (25.0, "°C")
    o2 = await seen.next(Reading, lambda r: r.name == "o2")
    assert o2.value == 209_000.0  # FLOAT32 low word first decodes to air
    mark = len(seen.seen)
    await virtual_clock.run_for(60)
    warmer = await seen.next(Reading, lambda r: r.name == "zone8_top_actual", after=mark)
    assert 25.0 < float(warmer.value) < 250.0
    # Unchanged values (boards inside, the state) produced nothing new.
    later = seen.seen[mark:]
    assert not any(isinstance(o, StateChanged) for o in later)
    assert not any(isinstance(o, Reading) and o.name == "boards_inside" for o in later)


async def test_alarm_bits_raise_and_clear_faults(
    adapter: tuple[ModbusAdapter, Recorder], reflow_oven: ReflowOven
) -> None:
    """An alarm bit becomes FaultRaised with the map's code and level, before the state it causes."""
    _, seen = adapter
    await seen.next(StateChanged)
    mark = len(seen.seen)
    reflow_oven.raise_fault("OV-ESTOP", "emergency stop pressed")
    raised = await seen.next(FaultRaised, after=mark)
    assert (raised.code, raised.severity, raised.cause) == ("OV-ESTOP", Severity.ALARM, "Emergency")
    down = await seen.next(StateChanged, after=mark)
    assert down.state == 5000
    assert seen.seen.index(raised) < seen.seen.index(down)
    reflow_oven.raise_fault("VENDOR-X", "something the map does not name")
    other = await seen.next(FaultRaised, lambda f: f.code == "OV-OTHER", after=mark)
    assert other.severity is Severity.ALARM
    reflow_oven.clear_fault("OV-ESTOP")
    cleared = await seen.next(FaultCleared, after=mark)
    assert cleared.code == "OV-ESTOP"


async def test_process_data_when_a_board_leaves(
    adapter: tuple[ModbusAdapter, Recorder], reflow_oven: ReflowOven, virtual_clock: SteppedClock
) -> None:
    """Each increment of BOARDS_DONE gives one ReflowProcessData with eight zones, speed and O2."""
    _, seen = adapter
    await virtual_clock.run_until(reflow_oven.is_ready, within=1800, step=5)
    handoff = reflow_oven.board_in  # the plugin's fixture feeds the oven through a Handoff
    assert isinstance(handoff, Handoff)
    giver = asyncio.create_task(handoff.give_board(Board()))
    await virtual_clock.run_until(giver.done, within=60)
    await virtual_clock.run_until(lambda: reflow_oven.boards_done == 1, within=600, step=5)
    data = await seen.next(ReflowProcessData)
    assert [z.zone for z in data.zones] == list(range(1, 9))
    assert data.zones[0].setpoint_top == 150.0 and data.zones[0].setpoint_bottom == 145.0
    assert data.zones[7].actual_top is not None and abs(data.zones[7].actual_top - 250.0) <= 5.0
    assert data.conveyor_speed is not None and abs(data.conveyor_speed - 12.5) < 0.2  # 75 cm/min
    assert data.o2_ppm is not None and data.o2_ppm < 5000


async def test_recipe_activation_succeeds(
    adapter: tuple[ModbusAdapter, Recorder], reflow_oven: ReflowOven, virtual_clock: SteppedClock
) -> None:
    """Number and load command go out, the adapter waits for LOAD_RESULT 2 and reads the number back."""
    modbus, _ = adapter
    assert await modbus.active_recipe() == RecipeInfo("SAC305-STD")
    names = [r.name for r in await modbus.available_recipes()]
    assert names == ["SAC305-STD", "SAC305-HEAVY", "SNPB-LOWTEMP"]
    activation = asyncio.create_task(modbus.activate_recipe("SNPB-LOWTEMP"))
    await asyncio.wait_for(
        virtual_clock.wait_for_sleeper(virtual_clock.now() + reflow_oven.changeover_time), DEADLINE
    )
    assert not activation.done()
    await virtual_clock.run_for(reflow_oven.changeover_time)
    done = await asyncio.wait_for(activation, DEADLINE)
    assert (done.machine_id, done.recipe) == ("oven1", "SNPB-LOWTEMP")
    assert reflow_oven.recipes.active is not None and reflow_oven.recipes.active.number == 3
    active = await modbus.active_recipe()
    assert active is not None and active.name == "SNPB-LOWTEMP"


async def test_recipe_activation_refused(
    adapter: tuple[ModbusAdapter, Recorder], reflow_oven: ReflowOven
) -> None:
    """An interlock (LOAD_RESULT 4) and an unknown name are refusals with the reason."""
    modbus, _ = adapter
    reflow_oven.recipes.refuse("door open")
    with pytest.raises(CommandError, match="interlock") as refused:
        await modbus.activate_recipe("SAC305-HEAVY")
    assert refused.value.refused
    with pytest.raises(CommandError, match="unknown recipe 'NOPE'") as unknown:
        await modbus.activate_recipe("NOPE")
    assert unknown.value.refused


async def test_recipe_activation_times_out(reflow_oven: ReflowOven) -> None:
    """A changeover that never ends (the clock stands still) fails after the map's timeout."""
    device_map = oven_map(timeout=0.2)
    assert device_map.recipes is not None
    device_map = dataclasses.replace(device_map, recipes=dataclasses.replace(device_map.recipes, timeout=0.3))
    modbus = ModbusAdapter("oven1", device_map, host="127.0.0.1", port=reflow_oven.port or 0, policy=FAST)
    task = await running(modbus, Recorder())
    try:
        expected = r"timed out after 0.3 s waiting for load_result to read 2"
        with pytest.raises(CommandError, match=expected) as err:
            await modbus.activate_recipe("SAC305-HEAVY")
        assert not err.value.refused
        # A second load while the first still runs is refused by the oven with exception 03.
        with pytest.raises(CommandError, match="ILLEGAL DATA VALUE") as busy:
            await modbus.activate_recipe("SAC305-HEAVY")
        assert busy.value.refused
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_exception_responses_keep_the_session(
    adapter: tuple[ModbusAdapter, Recorder], reflow_oven: ReflowOven, virtual_clock: SteppedClock
) -> None:
    """Exception 06 (busy) is recorded and polled through; the session stays up and resumes."""
    modbus, seen = adapter
    await seen.next(Reading, lambda r: r.name == "zone1_top_actual")
    reflow_oven.modbus_exception(6)
    with pytest.raises(CommandError, match="SERVER DEVICE BUSY"):
        await modbus.activate_recipe("SAC305-HEAVY")
    await eventually(lambda: "SERVER DEVICE BUSY" in (modbus.health.last_error or ""))
    mark = len(seen.seen)
    reflow_oven.modbus_exception(None)
    await virtual_clock.run_for(30)
    await seen.next(Reading, lambda r: r.name == "zone1_top_actual", after=mark)
    assert modbus.health.connects == 1


async def test_garbage_answer_is_survived(
    adapter: tuple[ModbusAdapter, Recorder], reflow_oven: ReflowOven, virtual_clock: SteppedClock
) -> None:
    """One garbled answer costs one request; polling continues on the same connection."""
    modbus, seen = adapter
    await seen.next(Reading, lambda r: r.name == "zone1_top_actual")
    reflow_oven.garbage_responses(1)
    await eventually(lambda: "no answer" in (modbus.health.last_error or ""))
    mark = len(seen.seen)
    await virtual_clock.run_for(30)
    await seen.next(Reading, lambda r: r.name == "zone1_top_actual", after=mark)
    assert modbus.health.connects == 1


async def test_drop_and_silence_reconnect(
    adapter: tuple[ModbusAdapter, Recorder], reflow_oven: ReflowOven, virtual_clock: SteppedClock
) -> None:
    """A dropped connection is reopened; a server that stops answering is abandoned and retried."""
    modbus, seen = adapter
    await seen.next(StateChanged)
    reflow_oven.drop_connection()
    await eventually(lambda: modbus.health.connects >= 2)
    reflow_oven.go_silent()
    await eventually(lambda: "unanswered" in (modbus.health.last_error or ""))
    reflow_oven.go_silent(False)
    mark = len(seen.seen)
    await virtual_clock.run_for(30)
    await seen.next(Reading, lambda r: r.name == "zone1_top_actual", after=mark)  # polling again
    assert modbus.health.connects >= 3
    # The state is remembered across sessions: no duplicate StateChanged after reconnecting.
    assert sum(isinstance(o, StateChanged) for o in seen.seen) == 1


def test_adjacent_writes_become_one_request() -> None:
    """Values for HR 0 and HR 1 go out as one FC 16 starting at HR 0, as the oven manual suggests."""
    command = Point("command", Table.HOLDING_REGISTERS, 0)
    select = Point("recipe_select", Table.HOLDING_REGISTERS, 1)
    run = Point("run", Table.COILS, 0, DataType.BOOL)
    assert write_runs([(select, 3), (command, 1), (run, True)]) == [
        (Table.HOLDING_REGISTERS, 0, [1, 3]),
        (Table.COILS, 0, [1]),
    ]


def test_host_or_serial_is_required() -> None:
    """An adapter needs exactly one link."""
    with pytest.raises(ValueError, match="either host"):
        ModbusAdapter("oven1", oven_map())


async def test_rtu_framing_over_a_serial_url() -> None:
    """RTU (CRC framing, no MBAP) through a pyserial URL: here ``socket://`` to an RTU-over-TCP server."""
    bits = [SimData(0, count=16, values=False, datatype=SimType.BITS)]
    words = [SimData(0, values=[2, 0, 0, 1234] + [0] * 12, datatype=SimType.REGISTERS)]
    device = SimDevice(1, simdata=(bits, bits, words, words))
    server = ModbusTcpServer(device, address=("127.0.0.1", 0), framer=FramerType.RTU)
    await server.serve_forever(background=True)
    listener = server.transport
    assert isinstance(listener, asyncio.base_events.Server)
    port = listener.sockets[0].getsockname()[1]
    device_map = parse_map(
        {
            "machine": {"protocol": "modbus"},
            "modbus": {"poll_interval": 0.2, "timeout": 0.5},
            "points": {
                "state": {"table": "input_registers", "address": 0},
                "speed": {"table": "input_registers", "address": 3, "scale": 0.1},
            },
            "state": {"point": "state", "codes": {"2": 2202}},
            "readings": {"speed": "mm/s"},
        }
    )
    assert isinstance(device_map, ModbusMap)
    line = SerialLine(f"socket://127.0.0.1:{port}", baudrate=19200)
    modbus, seen = ModbusAdapter("rtu1", device_map, serial=line, policy=FAST), Recorder()
    task = asyncio.create_task(modbus.run(seen))
    try:
        assert (await seen.next(StateChanged)).state == 2202
        assert (await seen.next(Reading)).value == 123.4
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.shutdown()  # type: ignore[no-untyped-call]


async def test_pulse_and_ready_flag_sequence(reflow_oven: ReflowOven, virtual_clock: SteppedClock) -> None:
    """A map may pulse the load command and wait for the ready flag; the call waits for both."""
    device_map = oven_map(timeout=0.5)
    assert device_map.recipes is not None
    sequence = device_map.recipes.steps
    steps = (
        ModbusStep("write", values={"recipe_select": "$number"}),
        ModbusStep("pulse", point="command"),  # writes 1 (load), then 0 (idle)
        *sequence[1:],
        ModbusStep("wait", point="recipe_ready", until=(1,)),  # zones in tolerance
    )
    recipes = dataclasses.replace(device_map.recipes, steps=steps, timeout=DEADLINE)
    modbus = ModbusAdapter(
        "oven1",
        dataclasses.replace(device_map, recipes=recipes),
        host="127.0.0.1",
        port=reflow_oven.port or 0,
    )
    task = await running(modbus, Recorder())
    try:
        activation = asyncio.create_task(modbus.activate_recipe("SAC305-HEAVY"))
        await asyncio.wait_for(
            virtual_clock.wait_for_sleeper(virtual_clock.now() + reflow_oven.changeover_time), DEADLINE
        )
        await virtual_clock.run_for(reflow_oven.changeover_time)
        assert reflow_oven.recipes.active is not None and reflow_oven.recipes.active.number == 2
        assert not activation.done()  # loaded, but the zones are still heating
        await virtual_clock.run_until(reflow_oven.is_ready, within=1800, step=5)
        assert (await asyncio.wait_for(activation, DEADLINE)).recipe == "SAC305-HEAVY"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_single_points_drive_the_legacy_conveyor(virtual_clock: SteppedClock) -> None:
    """read_point/write_point reach one point now: a board at the entry is drawn in by coil 0."""
    async with ReflowOven(clock=virtual_clock, legacy=True) as oven:
        # The shipped map has the legacy conveyor's points (coil 0, discrete input 0).
        modbus = ModbusAdapter("oven1", oven_map(), host="127.0.0.1", port=oven.port or 0)
        task = await running(modbus, Recorder())
        try:
            board = Board()
            oven.place_board_at_entry(board)
            assert await modbus.read_point("board_at_entry") is True
            await modbus.write_point("conveyor_run", True)
            await virtual_clock.run_until(lambda: oven.boards_inside == 1, within=60)
            await modbus.write_point("conveyor_run", False)
            assert await modbus.read_point("board_at_entry") is False
            with pytest.raises(CommandError, match="no point 'nope'"):
                await modbus.read_point("nope")
            with pytest.raises(CommandError, match="cannot be written") as read_only:
                await modbus.write_point("state", 1)
            assert read_only.value.refused
            with pytest.raises(CommandError, match="ILLEGAL DATA VALUE") as refused:
                await modbus.write_point("conveyor_setpoint", 5.0)  # below the 10.0 cm/min minimum
            assert refused.value.refused
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def test_cancelled_command_on_a_stalled_device_leaks_nothing(
    adapter: tuple[ModbusAdapter, Recorder], reflow_oven: ReflowOven
) -> None:
    """A caller's 10 ms deadline cancels a command stuck on a silent device; the next one works."""
    modbus, seen = adapter
    await seen.next(StateChanged)
    reflow_oven.go_silent()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await modbus.activate_recipe("SAC305-HEAVY")
    assert not modbus._command_lock.locked()
    reflow_oven.go_silent(False)
    await eventually(lambda: modbus._link is not None)
    assert await modbus.active_recipe() == RecipeInfo("SAC305-STD")


async def test_a_hung_oven_is_never_connected(reflow_oven: ReflowOven) -> None:
    """A device that accepts TCP but answers nothing never counts as connected, however many
    sessions are tried; it counts once it answers (issue 20: 9 flaps in 30 s before)."""
    reflow_oven.go_silent()
    modbus = ModbusAdapter(
        "oven1", oven_map(timeout=0.1), host="127.0.0.1", port=reflow_oven.port or 0, policy=FAST
    )
    seen = Recorder()
    modbus.health = history = StateHistory()
    task = asyncio.create_task(modbus.run(seen))
    try:
        await eventually(lambda: history.failures >= 3)
        assert AdapterState.CONNECTED not in history.states, history.states
        assert modbus.health.connects == 0
        assert "unanswered" in (modbus.health.last_error or "")
        reflow_oven.go_silent(False)
        await modbus.wait_connected(DEADLINE)
        assert modbus.health.connects == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_recipe_changed_at_the_oven_is_reported(
    adapter: tuple[ModbusAdapter, Recorder], reflow_oven: ReflowOven, virtual_clock: SteppedClock
) -> None:
    """A recipe loaded at the oven's own panel becomes RecipeActivated from the polled active
    number; one the gateway activated is reported by the command, not again by the poll."""
    modbus, seen = adapter
    await seen.next(StateChanged)  # the first poll: what the oven runs now is no change
    switch = asyncio.create_task(reflow_oven.activate_recipe("SAC305-HEAVY"))
    await asyncio.wait_for(
        virtual_clock.wait_for_sleeper(virtual_clock.now() + reflow_oven.changeover_time), DEADLINE
    )
    await virtual_clock.run_for(reflow_oven.changeover_time)
    await switch
    assert (await seen.next(RecipeActivated)).recipe == "SAC305-HEAVY"

    activation = asyncio.create_task(modbus.activate_recipe("SNPB-LOWTEMP"))
    await asyncio.wait_for(
        virtual_clock.wait_for_sleeper(virtual_clock.now() + reflow_oven.changeover_time), DEADLINE
    )
    await virtual_clock.run_for(reflow_oven.changeover_time)
    await asyncio.wait_for(activation, DEADLINE)
    await eventually(lambda: modbus._values.get("active_recipe") == 3)  # the poll saw it too
    assert [o.recipe for o in seen.seen if isinstance(o, RecipeActivated)] == ["SAC305-HEAVY"]


async def test_alarms_cleared_while_hung_are_cleared_on_reconnect(
    adapter: tuple[ModbusAdapter, Recorder], reflow_oven: ReflowOven
) -> None:
    """The alarm word is read in the first poll of every session and compared with the alarms
    last reported, so one that cleared while the oven did not answer is cleared afterwards."""
    modbus, seen = adapter
    reflow_oven.raise_fault("OV-ESTOP", "emergency stop pressed")
    await seen.next(FaultRaised, lambda f: f.code == "OV-ESTOP")
    reflow_oven.go_silent()
    await eventually(lambda: "unanswered" in (modbus.health.last_error or ""))
    mark = len(seen.seen)
    reflow_oven.clear_fault("OV-ESTOP")
    reflow_oven.go_silent(False)
    assert (await seen.next(FaultCleared, after=mark)).code == "OV-ESTOP"
