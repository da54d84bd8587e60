"""Changeover at the product boundary: every board is built on its own product's recipe.

A machine with a Hermes vertical channel asks linegate (QueryWorkOrderInfo) about each board it
has taken in, before it builds it, and keeps the board at its entrance until it gets an answer
(hermes.md §2.3; the simulated machines do this when the supervisory client announces
FeatureQueryWorkOrderInfo). :class:`BoardGate` is the work-order plan behind that answer:

1. it learns the board's product from the machine's own BoardArrived (the query names the
   barcode; the supervisory adapter adds the BoardId and ProductTypeId it reported);
2. it reads the machine's running recipe back in the machine's protocol and decides, with
   :func:`gate_decision`, whether the board may go as it is or the machine must switch first;
3. to switch, it waits for the boards ahead of this one to finish, activates the product's
   recipe (the adapter returns only after read-back; RecipeActivated is published), and only
   then answers, so the machine builds the board on the new recipe.

When a switch fails (the machine refuses the recipe, the read-back does not confirm it, the
machine cannot be read) the board is **held**: no answer goes out, the failure is logged as
``boundary.board_held`` and reported to a waiting changeover, and the machine keeps the board
until it asks again, when the gate tries again. A board is never released onto a recipe that
is not its product's.

Boards the gate cannot place (no product reported, a product missing from ``[products]``, a
machine the product does not use) go as they are, with a log line. A line changeover with
``at="boundary"`` (``RecipeService.changeover``) then only waits, per machine, for the first
board of the new product to pass the gate, and reports that switch.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from adapters.base import RecipeInfo
from adapters.hermes_supervisory import HermesSupervisoryAdapter, WorkOrder, WorkOrderQuery, WorkOrderWithheld
from gateway.config import RecipeRef
from gateway.recipes import (
    CODE_BOUNDARY_NOT_REACHED,
    CODE_NOT_CONFIRMED,
    MachineHandle,
    Outcome,
    RecipeService,
    failed,
    succeeded,
)
from protocols.errors import LinegateError

log = structlog.get_logger("linegate.boundary")

# Admissions kept for changeovers that wait on them; a changeover looks at those after its
# start, and a line admits a few boards per second at most.
_HISTORY = 4096


class GateAction(enum.Enum):
    """What the gate does with a board."""

    RELEASE = "release"  # the machine runs the right recipe, or the gate has no opinion
    SWITCH = "switch"  # activate ``recipe`` first, then release


@dataclass(frozen=True, slots=True)
class GateDecision:
    """The gate's decision for one board at one machine, with the reason for the log."""

    action: GateAction
    reason: str
    recipe: RecipeRef | None = None


def recipe_matches(active: RecipeInfo | None, wanted: RecipeRef) -> bool:
    """Whether the running recipe is ``wanted`` (its revision too, when ``wanted`` names one)."""
    if active is None or active.name != wanted.name:
        return False
    return wanted.revision is None or active.revision == wanted.revision


def gate_decision(
    machine_id: str,
    product: str | None,
    products: Mapping[str, Mapping[str, RecipeRef]],
    active: RecipeInfo | None,
) -> GateDecision:
    """Whether a board of ``product`` may be built on ``machine_id`` running ``active``.

    Returns:
        RELEASE when the board has no product, its product is not configured or does not use
        this machine, or the machine already runs the product's recipe; else SWITCH to it.
    """
    if product is None:
        return GateDecision(GateAction.RELEASE, "the machine reported no product for the board")
    recipes = products.get(product)
    if recipes is None:
        return GateDecision(GateAction.RELEASE, f"product {product!r} is not in [products]")
    wanted = recipes.get(machine_id)
    if wanted is None:
        return GateDecision(GateAction.RELEASE, f"product {product!r} names no recipe for this machine")
    if recipe_matches(active, wanted):
        return GateDecision(GateAction.RELEASE, "the machine runs the product's recipe", wanted)
    return GateDecision(GateAction.SWITCH, "the machine runs another recipe", wanted)


@dataclass(frozen=True, slots=True)
class Admission:
    """What the gate did with one board at one machine (number ``seq`` in gate order)."""

    seq: int
    machine_id: str
    product: str | None
    outcome: Outcome | None  # None: released without an opinion (no product or recipe)

    @property
    def held(self) -> bool:
        """Whether the board was held (its switch failed)."""
        return self.outcome is not None and not self.outcome.ok


def switch_outcome(
    admissions: Iterable[Admission], machine_id: str, product: str, recipe: RecipeRef, since: int
) -> Outcome | None:
    """The changeover outcome for ``machine_id`` from the admissions after number ``since``.

    Returns:
        the outcome of the machine's first board of ``product`` (a switch, or a release on the
        recipe it already ran, or a hold), a failure when a board of ``product`` is held at
        another machine (it cannot reach this one), or None while neither happened. A machine
        whose last board before ``since`` was of ``product`` and built on its recipe has
        switched already.
    """
    admissions = list(admissions)
    before = [a for a in admissions if a.seq <= since and a.machine_id == machine_id]
    if before and before[-1].product == product and before[-1].outcome is not None and before[-1].outcome.ok:
        return before[-1].outcome
    for admission in admissions:
        if admission.seq <= since or admission.product != product:
            continue
        if admission.machine_id == machine_id:
            if admission.outcome is None:  # cannot happen for a machine the product names
                return succeeded(machine_id, recipe, "board released")
            return admission.outcome
        if admission.held and admission.outcome is not None:
            message = (
                f"boards of {product} are held at {admission.machine_id}: {admission.outcome.result.message}"
            )
            return failed(machine_id, recipe, CODE_BOUNDARY_NOT_REACHED, message)
    return None


class BoardGate:
    """The work-order plan that holds each board until its machine runs the board's recipe.

    Building it makes ``service`` switch at product boundaries (``service.boundary``); hand
    :meth:`admit` to each machine's supervisory adapter (:meth:`attach` does it).

    Args:
        service: the recipe service (its machines, products, per-machine locks, timeouts).
    """

    def __init__(self, service: RecipeService) -> None:
        self.service = service
        self._gated: set[str] = set()
        self._history: deque[Admission] = deque(maxlen=_HISTORY)
        self._seq = 0
        self._changed = asyncio.Condition()
        # Per (machine, board): the admission under way. A machine asks again while a long
        # switch runs (its query timed out); every repeat shares that one wait instead of
        # queueing behind the lock to read, decide and release the same board once more.
        self._admitting: dict[tuple[str, str], asyncio.Task[WorkOrder | None]] = {}
        service.boundary = self

    @property
    def admissions(self) -> int:
        """How many boards the gate has decided on so far."""
        return self._seq

    def gated(self, machine_id: str) -> bool:
        """Whether the machine's boards pass this gate."""
        return machine_id in self._gated

    def attach(self, adapters: Mapping[str, Iterable[object]]) -> list[str]:
        """Make every Hermes supervisory adapter among ``adapters`` (by machine id) ask this
        gate, with no time limit (the gate bounds its own waits); return the gated machines."""
        for machine_id, candidates in adapters.items():
            for adapter in candidates:
                machine = self.service.machines.get(machine_id)
                if isinstance(adapter, HermesSupervisoryAdapter) and machine is not None:
                    adapter.work_orders = self.admit
                    adapter.plan_timeout = None
                    # Work the gateway derives for the machine starts when a board is released,
                    # so its WorkStarted names the recipe the board is built on.
                    machine.defer_work_to_release()
                    self._gated.add(machine_id)
        return sorted(self._gated)

    async def admit(self, query: WorkOrderQuery) -> WorkOrder | None:
        """Answer a machine's QueryWorkOrderInfo once it runs the recipe of the board's product.

        A query for a board whose admission is still under way (the machine asked again) gets
        that admission's answer; the board is decided and released once.

        Raises:
            WorkOrderWithheld: the switch failed; the board is held (see the module docstring).
        """
        board = query.board_id or query.barcode
        if board is None:
            return await self._admit(query)
        key = (query.machine_id, board)
        admitting = self._admitting.get(key)
        if admitting is None:
            admitting = asyncio.create_task(self._admit(query), name=f"boundary[{query.machine_id}].admit")
            self._admitting[key] = admitting
            admitting.add_done_callback(lambda done: self._forget(key, done))
        # Shielded: a machine whose session ends stops waiting, but a switch under way finishes
        # (the lock and the machine's state depend on it), and other queries still get the answer.
        return await asyncio.shield(admitting)

    def _forget(self, key: tuple[str, str], done: asyncio.Task[WorkOrder | None]) -> None:
        if self._admitting.get(key) is done:
            del self._admitting[key]
        if not done.cancelled():
            done.exception()  # retrieved: every waiter may have left before it ended

    async def _admit(self, query: WorkOrderQuery) -> WorkOrder | None:
        machine = self.service.machines.get(query.machine_id)
        if machine is None:
            return None
        board = query.board_id or query.barcode
        bound = log.bind(machine=query.machine_id, board=board, barcode=query.barcode, product=query.product)
        async with self.service.lock(query.machine_id):
            outcome, decision = await self._decide_and_switch(machine, query, bound)
        await self._record(query.machine_id, query.product, outcome)
        if outcome is not None and not outcome.ok:
            bound.warning("boundary.board_held", recipe=outcome.recipe.name, reason=outcome.result.message)
            raise WorkOrderWithheld(f"board {board} held: {outcome.result.message}")
        # The outcome's recipe is the one read back after a switch.
        built_on = outcome.recipe if outcome is not None else None
        answer = WorkOrder(work_order_id=query.work_order_id, product=query.product, barcode=query.barcode)
        # WorkStarted names the work order the machine is told here (CFX WorkOrderIdentifier).
        await machine.released(
            query.board_id,
            query.barcode,
            built_on.name if built_on else None,
            built_on.revision if built_on else None,
            work_order=answer.work_order_id,
            batch=query.batch_id,
        )
        bound.info(
            "boundary.board_released",
            recipe=decision.recipe.name if decision.recipe else None,
            switched=decision.action is GateAction.SWITCH,
            reason=decision.reason,
        )
        return answer

    async def _decide_and_switch(
        self, machine: MachineHandle, query: WorkOrderQuery, bound: Any
    ) -> tuple[Outcome | None, GateDecision]:
        wanted = self._wanted(query)
        if wanted is None:  # no opinion on this board: nothing to read back
            return None, gate_decision(machine.machine_id, query.product, self.service.products, None)
        try:
            active = await machine.adapter.active_recipe()
        except LinegateError as exc:
            message = f"cannot read the running recipe: {exc}"
            decision = GateDecision(GateAction.SWITCH, message, wanted)
            return failed(machine.machine_id, wanted, CODE_NOT_CONFIRMED, message), decision
        decision = gate_decision(machine.machine_id, query.product, self.service.products, active)
        if decision.action is GateAction.RELEASE:
            if decision.recipe is None or active is None:
                return None, decision
            running = RecipeRef(active.name, active.revision)  # as read back from the machine
            return succeeded(machine.machine_id, running, f"{active.name} already active"), decision
        assert decision.recipe is not None
        bound.info(
            "boundary.switching",
            recipe=decision.recipe.name,
            revision=decision.recipe.revision,
            running=active.name if active else None,
        )
        # The boards ahead are the old product's: they finish first whatever the interlock
        # policy says (the switch is due now; this board cannot start before them anyway).
        besides = [ident for ident in (query.board_id, query.barcode) if ident]
        outcome = await self.service.activate_locked(machine, decision.recipe, "finish_board", besides)
        return outcome, decision

    def _wanted(self, query: WorkOrderQuery) -> RecipeRef | None:
        if query.product is None:
            return None
        return self.service.products.get(query.product, {}).get(query.machine_id)

    async def _record(self, machine_id: str, product: str | None, outcome: Outcome | None) -> None:
        async with self._changed:
            self._seq += 1
            self._history.append(Admission(self._seq, machine_id, product, outcome))
            self._changed.notify_all()

    async def wait_switched(self, machine_id: str, product: str, recipe: RecipeRef, since: int) -> Outcome:
        """The outcome of the machine's switch to ``product`` at its first board of it after
        admission number ``since``; a failure after the service's ``drain_timeout``."""
        found: list[Outcome] = []

        def done() -> bool:
            outcome = switch_outcome(self._history, machine_id, product, recipe, since)
            if outcome is not None:
                found.append(outcome)
            return outcome is not None

        timeout = self.service.drain_timeout
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(done)
        except TimeoutError:
            message = f"no board of {product} reached the machine within {timeout:g} s"
            log.warning("boundary.not_reached", machine=machine_id, product=product, timeout=timeout)
            return failed(machine_id, recipe, CODE_BOUNDARY_NOT_REACHED, message)
        return found[-1]


__all__ = [
    "Admission",
    "BoardGate",
    "GateAction",
    "GateDecision",
    "gate_decision",
    "recipe_matches",
    "switch_outcome",
]
