"""The protocol-free machine core: states in CFX terms, faults, recipes, cycle times, board flow."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Mapping
from typing import Any

import pytest

from protocols.cfx import enums as cfx_enums
from simulators import (
    Board,
    FaultCleared,
    FaultOccurred,
    FaultSeverity,
    Handoff,
    Machine,
    MachineEvent,
    RecipeActivated,
    RecipeRefused,
    ResourceState,
    StationStateChanged,
    SteppedClock,
    UnitsArrived,
    UnitsDeparted,
    WorkCompleted,
    WorkStarted,
)


def state_of(machine: Machine) -> ResourceState:
    """The machine's state, read through a call so that mypy does not narrow it between reads."""
    return machine.state


def test_states_and_severities_are_the_cfx_enums() -> None:
    """The simulators use protocols.cfx's enums (SEMI E10/E58 codes, reference/cfx.md §3.4)."""
    assert ResourceState is cfx_enums.ResourceState and FaultSeverity is cfx_enums.FaultSeverity
    assert ResourceState.PRD_REGULAR_WORK.code == 1100
    assert ResourceState.SBY_NO_PRODUCT_BLOCKED.code == 2201
    assert ResourceState.SBY_NO_PRODUCT_STARVED.code == 2202
    assert ResourceState.SDT_SETUP.code == 4500
    assert ResourceState.USD.code == 5000
    assert ResourceState.SBY_NO_PRODUCT_STARVED.e10_class == ResourceState.SBY


async def test_board_flow_states_and_events() -> None:
    """Starved while waiting, productive while working, blocked until downstream takes the board."""
    clock = SteppedClock()
    board_in, board_out = Handoff(), Handoff()
    events: list[MachineEvent] = []
    async with Machine("m1", clock=clock, board_in=board_in, board_out=board_out, spread=0) as machine:
        machine.recipes.add("R", cycle_time=20.0)
        machine.recipes.active = machine.recipes.get("R")
        machine.subscribe(events.append)
        await clock.run_for(0)
        assert state_of(machine) == ResourceState.SBY_NO_PRODUCT_STARVED
        board = Board(barcode="X1")
        giver = asyncio.create_task(board_in.give_board(board))
        await clock.run_until(giver.done, within=1)
        transport = machine.conveyor.transport_time(board)
        await clock.run_for(transport)
        assert state_of(machine) == ResourceState.PRD_REGULAR_WORK
        await clock.run_for(20.0)
        assert state_of(machine) == ResourceState.SBY_NO_PRODUCT_BLOCKED
        assert (await board_out.take_board()) is board
        await clock.run_for(0)
        assert state_of(machine) == ResourceState.SBY_NO_PRODUCT_STARVED
    kinds = [type(e) for e in events if not isinstance(e, StationStateChanged)]
    assert kinds == [UnitsArrived, WorkStarted, WorkCompleted, UnitsDeparted]
    started = next(e for e in events if isinstance(e, WorkStarted))
    completed = next(e for e in events if isinstance(e, WorkCompleted))
    assert started.transaction_id == completed.transaction_id
    changes = [(e.old_state, e.new_state) for e in events if isinstance(e, StationStateChanged)]
    assert changes == [
        (ResourceState.SBY_NO_PRODUCT_STARVED, ResourceState.PRD_REGULAR_WORK),
        (ResourceState.PRD_REGULAR_WORK, ResourceState.SBY_NO_PRODUCT_BLOCKED),
        (ResourceState.SBY_NO_PRODUCT_BLOCKED, ResourceState.SBY_NO_PRODUCT_STARVED),
    ]
    state_events = [e for e in events if isinstance(e, StationStateChanged)]
    productive = next(e for e in state_events if e.old_state == ResourceState.PRD_REGULAR_WORK)
    assert productive.old_state_duration == pytest.approx(20.0)


async def test_faults_stop_the_machine_by_severity() -> None:
    """An Error fault sets state 5000 with the fault attached; a Warning does not; clearing restores."""
    clock = SteppedClock()
    events: list[MachineEvent] = []
    async with Machine("m1", clock=clock) as machine:
        machine.subscribe(events.append)
        machine.raise_fault("W1", "low paste", FaultSeverity.WARNING)
        assert state_of(machine) == ResourceState.SBY_NO_PRODUCT_STARVED
        fault = machine.raise_fault("E1", "jam")
        assert machine.raise_fault("E1", "jam again") is fault
        assert state_of(machine) == ResourceState.USD
        down = [e for e in events if isinstance(e, StationStateChanged)][-1]
        assert down.related_fault is fault
        assert machine.clear_fault("E1") is fault
        assert machine.clear_fault("E1") is None
        assert state_of(machine) == ResourceState.SBY_NO_PRODUCT_STARVED
    assert [type(e) for e in events if isinstance(e, FaultOccurred | FaultCleared)] == [
        FaultOccurred,
        FaultOccurred,
        FaultCleared,
    ]


async def test_recipe_revisions_changeover_and_refusal() -> None:
    """Recipes keep every revision; activation spends changeover_time in SETUP; refusals raise."""
    clock = SteppedClock()
    events: list[MachineEvent] = []
    async with Machine("m1", clock=clock, changeover_time=30) as machine:
        machine.subscribe(events.append)
        first = machine.recipes.add("R", cycle_time=10)
        second = machine.recipes.add("R", cycle_time=12)
        assert (first.revision, second.revision) == (1, 2)
        assert machine.recipes.get("R") is second
        assert machine.recipes.get("R", 1) is first
        with pytest.raises(RecipeRefused):
            machine.recipes.get("R", 3)
        activation = asyncio.create_task(machine.activate_recipe("R", 1))
        await clock.run_for(0)
        assert state_of(machine) == ResourceState.SDT_SETUP
        await clock.run_for(30)
        assert await activation is first
        assert state_of(machine) == ResourceState.SBY_NO_PRODUCT_STARVED
        assert [e.recipe for e in events if isinstance(e, RecipeActivated)] == [first]
        machine.recipes.refuse("door open")
        with pytest.raises(RecipeRefused, match="door open"):
            await machine.activate_recipe("R")
        with pytest.raises(RecipeRefused, match="unknown"):
            machine.recipes.get("nope")


def test_cycle_times_are_seeded_skewed_and_slowable() -> None:
    """Same seed, same draws; mean near nominal with right skew; run_slow stretches them."""
    a, b = Machine("a", seed=5), Machine("b", seed=5)
    draws = [a.process.cycle_time(30.0) for _ in range(2000)]
    assert draws[:50] == [b.process.cycle_time(30.0) for _ in range(50)]
    assert 29.0 < statistics.mean(draws) < 31.5
    assert statistics.mean(draws) > statistics.median(draws)  # log-normal: skewed to longer cycles
    assert min(draws) > 0
    a.run_slow(2.0)
    assert statistics.mean(a.process.cycle_time(30.0) for _ in range(500)) > 55


def test_conveyor_transport_time() -> None:
    """Transport time is (conveyor length + board length) / speed, stretched by run_slow."""
    machine = Machine("m", conveyor_length_mm=900, conveyor_speed_mm_s=100)
    board = Board(length_mm=100)
    assert machine.conveyor.transport_time(board) == pytest.approx(10.0)
    machine.run_slow(1.5)
    assert machine.conveyor.transport_time(board) == pytest.approx(15.0)


class Tagger(Machine):
    """A machine whose process records which boards it saw, to test chaining."""

    async def process_board(self, board: Board, cycle_time: float) -> tuple[bool, Mapping[str, Any]]:
        await self.clock.sleep(cycle_time)
        return True, {"by": self.machine_id}


async def test_machines_chained_by_handoffs_pass_every_board_in_order() -> None:
    """Two machines linked by a Handoff (where a Hermes lane will go) deliver all boards, in order."""
    clock = SteppedClock()
    source, middle, sink = Handoff(), Handoff(), Handoff()
    boards = [Board(barcode=f"B{i}") for i in range(20)]
    received: list[Board] = []

    async def feed() -> None:
        for board in boards:
            await source.give_board(board)

    async def drain() -> None:
        while True:
            received.append(await sink.take_board())

    first = Tagger("first", clock=clock, board_in=source, board_out=middle, seed=1)
    second = Tagger("second", clock=clock, board_in=middle, board_out=sink, seed=2)
    async with first, second:
        for machine in (first, second):
            machine.recipes.active = machine.recipes.add("R", cycle_time=15)
        tasks = [asyncio.create_task(feed()), asyncio.create_task(drain())]
        await clock.run_until(lambda: len(received) == len(boards), within=3600, step=1)
        for task in tasks:
            task.cancel()
    assert [b.board_id for b in received] == [b.board_id for b in boards]
    assert first.boards_done == second.boards_done == 20


async def test_listener_errors_do_not_stop_the_machine() -> None:
    """A listener that raises is skipped; unsubscribe stops delivery."""
    seen: list[MachineEvent] = []

    def broken(_event: MachineEvent) -> None:
        raise RuntimeError("publisher bug")

    async with Machine("m", clock=SteppedClock()) as machine:
        machine.subscribe(broken)
        stop = machine.subscribe(seen.append)
        machine.raise_fault("E1", "x")
        stop()
        machine.clear_fault("E1")
    assert [type(e) for e in seen] == [FaultOccurred, StationStateChanged]


async def test_handoff_skips_a_board_whose_giver_gave_up() -> None:
    """A give_board cancelled before anyone took the board does not deliver it later."""
    handoff = Handoff()
    first, second = Board(barcode="gave-up"), Board(barcode="kept")
    # The first give driven by hand to where it waits to be taken (its offer is queued), then
    # cancelled as a task cancels it: the future it waits on is cancelled, then the coroutine.
    giver = handoff.give_board(first)
    taken = giver.send(None)
    assert isinstance(taken, asyncio.Future) and not taken.done()
    taken.cancel()
    with pytest.raises(asyncio.CancelledError):
        giver.throw(asyncio.CancelledError())
    kept = asyncio.create_task(handoff.give_board(second))
    assert (await asyncio.wait_for(handoff.take_board(), 1)) is second
    await kept
