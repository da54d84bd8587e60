"""The product-boundary changeover: the gate's decisions, and a switch that fails holds the board.

The decisions are plain functions, tested without an event loop. The failure path runs the
simulated line (oven, selective solder, coater) with the gateway wired as the pytest plugin
does it, gated: the selective solder refuses the new product's recipe, so the new product's
first board must wait there, unbuilt, until the machine accepts it.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from collections.abc import Collection
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.base import Adapter, CommandError, Emit, RecipeInfo
from adapters.hermes_supervisory import HermesSupervisoryAdapter, WorkOrderQuery, WorkOrderWithheld
from adapters.observations import Observation, RecipeActivated
from gateway.boundary import Admission, BoardGate, GateAction, gate_decision, recipe_matches, switch_outcome
from gateway.config import RecipeRef
from gateway.demo import PRODUCTS
from gateway.recipes import (
    CODE_BOUNDARY_NOT_REACHED,
    CODE_NO_BOUNDARY,
    CODE_NOT_CONFIRMED,
    CODE_REFUSED_BY_MACHINE,
    RecipeService,
    failed,
    succeeded,
)
from gateway.testing import CFXEventCollector
from gateway.testing.harness import SimulatedLine, free_port, line_spec, wire_gateway
from protocols.errors import TransportError
from simulators import Line, small_line
from simulators.line import SourceSpec, WorkOrder
from simulators.machine import MachineEvent, WorkStarted

OLD, NEW = "CTRL-MAIN-R3", "PSU-24V-R1"
PRODUCTS_AB = {
    "A": {"oven": RecipeRef("PROFILE-A"), "aoi": RecipeRef("AOI-A", "2")},
    "B": {"oven": RecipeRef("PROFILE-B")},
}

# --- decisions ------------------------------------------------------------------------------


def test_recipe_matches_by_name_and_by_revision_only_when_asked() -> None:
    assert recipe_matches(RecipeInfo("PROFILE-A", "7"), RecipeRef("PROFILE-A"))
    assert recipe_matches(RecipeInfo("AOI-A", "2"), RecipeRef("AOI-A", "2"))
    assert not recipe_matches(RecipeInfo("AOI-A", "1"), RecipeRef("AOI-A", "2"))
    assert not recipe_matches(RecipeInfo("PROFILE-B"), RecipeRef("PROFILE-A"))
    assert not recipe_matches(None, RecipeRef("PROFILE-A"))


@pytest.mark.parametrize(
    ("machine", "product", "active", "action", "recipe"),
    [
        ("oven", "A", RecipeInfo("PROFILE-A"), GateAction.RELEASE, RecipeRef("PROFILE-A")),
        ("oven", "B", RecipeInfo("PROFILE-A"), GateAction.SWITCH, RecipeRef("PROFILE-B")),
        ("oven", "B", None, GateAction.SWITCH, RecipeRef("PROFILE-B")),  # unknown: make sure
        ("aoi", "A", RecipeInfo("AOI-A", "1"), GateAction.SWITCH, RecipeRef("AOI-A", "2")),
        ("aoi", "B", RecipeInfo("AOI-A", "2"), GateAction.RELEASE, None),  # B does not use the AOI
        ("oven", "C", RecipeInfo("PROFILE-A"), GateAction.RELEASE, None),  # not configured
        ("oven", None, RecipeInfo("PROFILE-A"), GateAction.RELEASE, None),  # no product reported
    ],
)
def test_gate_decision(
    machine: str, product: str | None, active: RecipeInfo | None, action: GateAction, recipe: RecipeRef | None
) -> None:
    decision = gate_decision(machine, product, PRODUCTS_AB, active)
    assert (decision.action, decision.recipe) == (action, recipe)
    assert decision.reason


def _admission(seq: int, machine: str, product: str | None, ok: bool | None) -> Admission:
    recipe = RecipeRef("R")
    outcome = (
        None if ok is None else succeeded(machine, recipe, "ok") if ok else failed(machine, recipe, 2, "no")
    )
    return Admission(seq, machine, product, outcome)


def test_switch_outcome_follows_the_first_board_of_the_product() -> None:
    recipe = RecipeRef("PROFILE-B")
    history = [_admission(1, "oven", "A", True), _admission(2, "aoi", "A", True)]
    assert switch_outcome(history, "oven", "B", recipe, since=2) is None  # nothing of B yet
    history.append(_admission(3, "oven", "B", True))
    outcome = switch_outcome(history, "oven", "B", recipe, since=2)
    assert outcome is not None and outcome.ok
    # Boards of B before the request do not count, unless the machine's last board was one.
    assert switch_outcome(history, "aoi", "B", recipe, since=3) is None
    history.append(_admission(4, "aoi", "B", True))
    outcome = switch_outcome(history, "aoi", "B", recipe, since=4)
    assert outcome is not None and outcome.ok


def test_a_board_held_upstream_fails_the_machines_it_cannot_reach() -> None:
    recipe = RecipeRef("X")
    history = [_admission(1, "oven", "B", False)]
    here = switch_outcome(history, "oven", "B", recipe, since=0)
    below = switch_outcome(history, "aoi", "B", recipe, since=0)
    assert here is not None and not here.ok and here.result.result_code == 2
    assert below is not None and not below.ok
    assert below.result.result_code == CODE_BOUNDARY_NOT_REACHED and "held at oven" in (
        below.result.message or ""
    )


async def test_a_boundary_changeover_without_a_gate_switches_nothing() -> None:
    service = RecipeService({}, PRODUCTS_AB)
    outcomes = await service.changeover("B", at="boundary")
    assert [(o.machine_id, o.result.result_code) for o in outcomes] == [("oven", CODE_NO_BOUNDARY)]
    with pytest.raises(ValueError, match="at must be"):
        await service.changeover("B", at="later")
    with pytest.raises(ValueError, match="changeover_at"):
        RecipeService({}, PRODUCTS_AB, changeover_at="sometime")


# --- the gate against a fake machine -------------------------------------------------------


class FakeOven(Adapter):
    """An oven that runs one recipe; it may refuse changes or be unreadable."""

    protocol = "fake"

    def __init__(self) -> None:
        super().__init__("oven")
        self.running: RecipeInfo | None = RecipeInfo("PROFILE-A")
        self.refusal: str | None = None
        self.unreadable = False
        self.reads = 0
        self.activations: list[str] = []

    async def _session(self, emit: Emit) -> None:
        await asyncio.Event().wait()

    async def activate_recipe(self, name: str, revision: str | None = None) -> RecipeActivated:
        if self.refusal is not None:
            raise CommandError(self.refusal, refused=True)
        self.activations.append(name)
        self.running = RecipeInfo(name, revision)
        return RecipeActivated(machine_id="oven", at=datetime.now(UTC), recipe=name, revision=revision)

    async def active_recipe(self) -> RecipeInfo | None:
        self.reads += 1
        if self.unreadable:
            raise TransportError("Modbus link down")
        return self.running

    async def available_recipes(self) -> list[RecipeInfo]:
        return []


class FakeMachine:
    """What the recipe service needs of a machine, with boards in process set by the test."""

    machine_id = "oven"
    handle = "Acme.Oven.1"
    interlock = "refuse"  # the gate waits for the boards ahead whatever the policy

    def __init__(self) -> None:
        self.oven = FakeOven()
        self.adapter: Adapter = self.oven
        self.in_process: set[str] = set()
        self.recorded: list[Observation] = []
        self.released_boards: list[tuple[str | None, str | None]] = []
        self.deferred = False
        self.waiting = asyncio.Event()
        self._changed = asyncio.Condition()

    def boards_in_process(self, besides: Collection[str] = ()) -> int:
        return len(self.in_process - set(besides))

    async def wait_idle(self, besides: Collection[str] = ()) -> None:
        self.waiting.set()
        async with self._changed:
            await self._changed.wait_for(lambda: self.boards_in_process(besides) == 0)

    async def finish(self, board: str) -> None:
        async with self._changed:
            self.in_process.discard(board)
            self._changed.notify_all()

    async def record(self, observation: Observation) -> None:
        self.recorded.append(observation)

    def defer_work_to_release(self) -> None:
        self.deferred = True

    async def released(
        self,
        board_id: str | None,
        barcode: str | None,
        recipe: str | None,
        revision: str | None,
        *,
        work_order: str | None = None,
        batch: str | None = None,
    ) -> None:
        self.released_boards.append((board_id, recipe))


def _gated() -> tuple[FakeMachine, RecipeService, BoardGate]:
    machine = FakeMachine()
    service = RecipeService({"oven": machine}, PRODUCTS_AB, drain_timeout=30, changeover_at="boundary")
    gate = BoardGate(service)
    vertical = HermesSupervisoryAdapter("oven", host="127.0.0.1", port=1)
    assert gate.attach({"oven": [vertical]}) == ["oven"]
    assert vertical.work_orders == gate.admit and vertical.plan_timeout is None
    assert vertical.description.supported_features.feature_query_work_order_info is not None
    assert machine.deferred and gate.gated("oven")
    return machine, service, gate


def _query(board: str, product: str | None) -> WorkOrderQuery:
    return WorkOrderQuery(
        machine_id="oven", hermes_machine_id="OVEN-1", barcode=f"SN-{board}", board_id=board, product=product
    )


async def test_the_gate_switches_after_the_boards_ahead_and_only_then_releases() -> None:
    machine, service, gate = _gated()
    machine.in_process = {"old-1", "new-1"}  # the new board itself is in process for the view
    changeover = asyncio.create_task(service.changeover("B"))
    admitting = asyncio.create_task(gate.admit(_query("new-1", "B")))
    await asyncio.wait_for(machine.waiting.wait(), 5)
    assert machine.oven.activations == [] and not admitting.done()
    await machine.finish("old-1")
    order = await asyncio.wait_for(admitting, 5)
    assert order is not None and order.product == "B"
    assert machine.oven.activations == ["PROFILE-B"]
    assert machine.released_boards == [("new-1", "PROFILE-B")]
    assert [type(o).__name__ for o in machine.recorded] == ["RecipeActivated"]
    [outcome] = await asyncio.wait_for(changeover, 5)
    assert outcome.ok and outcome.recipe.name == "PROFILE-B"
    # The next board of B goes straight in; a board the gate has no opinion on is not read.
    reads = machine.oven.reads
    assert await gate.admit(_query("new-2", "B")) is not None
    assert await gate.admit(_query("odd-1", None)) is not None
    assert machine.oven.activations == ["PROFILE-B"] and machine.oven.reads == reads + 1


async def test_a_refused_switch_holds_the_board_and_fails_the_changeover() -> None:
    machine, service, gate = _gated()
    machine.oven.refusal = "operator door open"
    # What a changeover to B requested now waits for (its admissions count from here).
    switched = asyncio.create_task(gate.wait_switched("oven", "B", RecipeRef("PROFILE-B"), gate.admissions))
    with pytest.raises(WorkOrderWithheld, match="operator door open"):
        await gate.admit(_query("new-1", "B"))
    outcome = await asyncio.wait_for(switched, 5)
    assert outcome.result.result_code == CODE_REFUSED_BY_MACHINE
    assert machine.released_boards == [] and machine.oven.running == RecipeInfo("PROFILE-A")
    # The machine asks again once the door is shut: now the board goes, on its recipe.
    machine.oven.refusal = None
    assert await gate.admit(_query("new-1", "B")) is not None
    assert machine.released_boards == [("new-1", "PROFILE-B")]
    [outcome] = await asyncio.wait_for(service.changeover("B"), 5)
    assert outcome.ok


async def test_a_machine_that_cannot_be_read_holds_the_board() -> None:
    machine, _, gate = _gated()
    machine.oven.unreadable = True
    with pytest.raises(WorkOrderWithheld, match="cannot read the running recipe"):
        await gate.admit(_query("new-1", "B"))
    assert machine.released_boards == [] and machine.oven.activations == []
    assert gate.admissions == 1
    outcome = switch_outcome(gate._history, "oven", "B", RecipeRef("PROFILE-B"), since=0)
    assert outcome is not None and outcome.result.result_code == CODE_NOT_CONFIRMED


# --- a refused switch holds the board -------------------------------------------------------


@pytest.mark.timeout(90)
async def test_a_refused_switch_holds_the_new_products_board_until_the_machine_accepts(
    tmp_path: Path,
) -> None:
    spec = small_line()
    spec = dataclasses.replace(
        line_spec(spec, time_scale=400.0, boards=5, events_port=free_port()),
        machines=tuple(m for m in spec.machines if m.kind != "placement"),
        source=SourceSpec(work_orders=(WorkOrder("WO-OLD", OLD, 3), WorkOrder("WO-NEW", NEW, 2))),
    )
    machines = [m.machine_id for m in spec.machines]
    products = {p: {m: r for m, r in PRODUCTS[p].items() if m in machines} for p in (OLD, NEW)}
    built: dict[str, list[tuple[str, str | None, str | None]]] = collections.defaultdict(list)
    async with AsyncExitStack() as stack:
        line = await stack.enter_async_context(Line(spec, start_source=False))
        for machine in line.machines:

            def record(event: MachineEvent, machine_id: str = machine.machine_id) -> None:
                if isinstance(event, WorkStarted):
                    recipe = event.recipe.name if event.recipe else None
                    built[machine_id].append((event.board.board_id, event.board.product_type_id, recipe))

            machine.subscribe(record)
        solder = line.machine("solder")
        solder.recipes.refuse("interlock: operator door open")
        line.channels["solder"].query_timeout = 0.3  # the machine asks again soon
        gateway = await wire_gateway(
            stack,
            SimulatedLine(line, 0),
            tmp_path / "outbox.sqlite",
            [CFXEventCollector()],
            products=products,
            changeover_at="boundary",
        )

        outcomes = {o.machine_id: o for o in await asyncio.wait_for(gateway.recipes.changeover(NEW), 60)}

        assert outcomes["reflow"].ok, outcomes["reflow"].result.message
        assert outcomes["solder"].result.result_code == CODE_REFUSED_BY_MACHINE
        assert "refused" in (outcomes["solder"].result.message or "")
        assert outcomes["coater"].result.result_code == CODE_BOUNDARY_NOT_REACHED
        # The old product's boards all leave the line; the new product's first board waits at
        # the selective solder, unbuilt.
        await asyncio.wait_for(line.wait_departed(3), 60)
        assert line.source is not None
        first_new = line.source.sent[3]
        assert line.channels["solder"].held == {first_new}
        assert [b for b, product, _ in built["solder"] if product == NEW] == []

        solder.recipes.accept()
        await asyncio.wait_for(line.wait_departed(5), 60)
        # Now the changeover reports every machine switched.
        again = await asyncio.wait_for(gateway.recipes.changeover(NEW), 60)
    assert all(o.ok for o in again), [(o.machine_id, o.result.message) for o in again]
    for machine_id in machines:
        assert [b for b, _, _ in built[machine_id]] == line.source.sent
        wrong = [(b, p, r) for b, p, r in built[machine_id] if p is None or r != products[p][machine_id].name]
        assert not wrong, f"{machine_id} built boards on the wrong recipe: {wrong}"


async def test_repeated_queries_during_a_long_switch_share_one_wait() -> None:
    """A machine that asks again and again while the boards ahead finish gets one answer per
    query from one admission: the recipe is read once and the board released once."""
    machine, _, gate = _gated()
    machine.in_process = {"old-1", "new-1"}
    first = asyncio.create_task(gate.admit(_query("new-1", "B")))
    await asyncio.wait_for(machine.waiting.wait(), 5)
    repeats = [asyncio.create_task(gate.admit(_query("new-1", "B"))) for _ in range(50)]
    await machine.finish("old-1")
    orders = await asyncio.wait_for(asyncio.gather(first, *repeats), 5)
    assert all(order is not None and order.product == "B" for order in orders)
    assert machine.oven.reads == 1 and machine.oven.activations == ["PROFILE-B"]
    assert machine.released_boards == [("new-1", "PROFILE-B")]
    assert gate.admissions == 1
    # Once answered, the next query for the board is a new admission (the machine asks anew).
    assert await gate.admit(_query("new-1", "B")) is not None
    assert gate.admissions == 2
