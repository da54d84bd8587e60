"""What every simulated machine shares: state, faults, recipes, a conveyor, a process, board flow.

A :class:`Machine` is protocol-free. Each simulator (reflow oven, selective solder, coater, and
later the CFX placement machine) owns one and puts a server in front of it; the server learns
of changes through :meth:`Machine.subscribe` and publishes them in its own protocol.

Board flow goes through two seams, so that the line can plug Hermes in later without touching
the machine: the machine takes boards from a :class:`BoardIn` (a Hermes upstream lane, an
in-memory :class:`Handoff`, or the legacy oven's coil-driven entrance) and gives them to a
:class:`BoardOut` (a Hermes downstream lane, a :class:`Handoff`, or nothing: an open end). The
vertical channel (BoardArrived/BoardDeparted) can be driven from the events the machine emits.

State follows CFX ``ResourceState`` (SEMI E10/E58 codes, ``reference/cfx.md`` §3.4): the machine
is down (5000) while a stopping fault is active, in setup (4500) during a changeover or while
it is not ready (an oven warming up), in preventive maintenance (4300) during scheduled upkeep
between boards (a printer's stencil cleaning), else productive (1100), starved (2202: waiting for
a board) or blocked (2201: waiting for the downstream machine to take one).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, Self

import structlog

from protocols.cfx.enums import FaultSeverity, ResourceState
from protocols.errors import LinegateError
from simulators.clock import Clock, ScaledClock

log = structlog.get_logger("simulators.machine")


#: Fault severities that stop production (CFX Error and Alarm); Information and Warning do not.
STOPPING_SEVERITIES = frozenset({FaultSeverity.ERROR, FaultSeverity.ALARM})


@dataclass(frozen=True, slots=True)
class Fault:
    """One active fault, keyed by ``code`` on its machine; ``occurrence_id`` is CFX FaultOccurrenceId."""

    code: str
    text: str
    severity: FaultSeverity
    occurred_at: datetime
    occurrence_id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass(frozen=True, slots=True)
class Recipe:
    """A named, revisioned recipe.

    ``number`` is the slot a machine with numbered programs (the Modbus oven) uses; ``parameters``
    are the machine-specific values (zone setpoints, coating thickness, ...).
    """

    name: str
    revision: int
    cycle_time: float
    parameters: Mapping[str, Any] = field(default_factory=dict)
    number: int = 0


@dataclass(frozen=True, slots=True)
class Board:
    """A board travelling down the line; the fields follow Hermes BoardAvailable."""

    board_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    barcode: str | None = None
    product_type_id: str | None = None
    work_order_id: str | None = None
    length_mm: float = 160.0
    width_mm: float = 100.0
    thickness_mm: float = 1.6


# -- events a machine emits; servers translate them into their own protocol -----------------


@dataclass(frozen=True, slots=True)
class StationStateChanged:
    """The machine's state changed; ``old_state_duration`` is in simulated seconds."""

    at: datetime
    old_state: ResourceState
    new_state: ResourceState
    old_state_duration: float
    related_fault: Fault | None = None


@dataclass(frozen=True, slots=True)
class FaultOccurred:
    """A fault was raised."""

    at: datetime
    fault: Fault


@dataclass(frozen=True, slots=True)
class FaultCleared:
    """A fault was cleared."""

    at: datetime
    fault: Fault


@dataclass(frozen=True, slots=True)
class RecipeActivated:
    """A recipe became the active one."""

    at: datetime
    recipe: Recipe


@dataclass(frozen=True, slots=True)
class UnitsArrived:
    """A board was handed in from upstream."""

    at: datetime
    board: Board


@dataclass(frozen=True, slots=True)
class WorkStarted:
    """Processing of a board started."""

    at: datetime
    board: Board
    transaction_id: uuid.UUID
    recipe: Recipe | None


@dataclass(frozen=True, slots=True)
class WorkCompleted:
    """Processing of a board ended; ``data`` holds the machine's measurements."""

    at: datetime
    board: Board
    transaction_id: uuid.UUID
    passed: bool
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class UnitsDeparted:
    """A board was handed to the downstream machine (or left an open end)."""

    at: datetime
    board: Board


MachineEvent = (
    StationStateChanged
    | FaultOccurred
    | FaultCleared
    | RecipeActivated
    | UnitsArrived
    | WorkStarted
    | WorkCompleted
    | UnitsDeparted
)
Listener = Callable[[MachineEvent], None]


class RecipeRefused(LinegateError):
    """The machine would not activate a recipe (unknown, or refused by fault injection).

    Args:
        name: the recipe asked for.
        reason: why, as the machine would tell an operator.
    """

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"recipe {name!r} refused: {reason}")
        self.name = name
        self.reason = reason


class RecipeStore:
    """Named recipes with every revision kept, and one of them active."""

    def __init__(self) -> None:
        self._revisions: dict[str, list[Recipe]] = {}
        self.active: Recipe | None = None
        self._refusal: str | None = None

    def add(self, name: str, *, cycle_time: float, number: int = 0, **parameters: Any) -> Recipe:
        """Store a new revision of ``name`` (revision 1 for a new name) and return it."""
        revisions = self._revisions.setdefault(name, [])
        recipe = Recipe(name, len(revisions) + 1, cycle_time, dict(parameters), number)
        revisions.append(recipe)
        return recipe

    def names(self) -> list[str]:
        """Return the recipe names in the order they were first stored."""
        return list(self._revisions)

    def get(self, name: str, revision: int | None = None) -> Recipe:
        """Return one revision of ``name`` (the latest if ``revision`` is None).

        Raises:
            RecipeRefused: no such recipe or revision.
        """
        revisions = self._revisions.get(name)
        if not revisions:
            raise RecipeRefused(name, "unknown recipe")
        if revision is None:
            return revisions[-1]
        if not 1 <= revision <= len(revisions):
            raise RecipeRefused(name, f"unknown revision {revision}")
        return revisions[revision - 1]

    def by_number(self, number: int) -> Recipe:
        """Return the latest revision of the recipe stored in slot ``number``.

        Raises:
            RecipeRefused: no recipe has that number.
        """
        for revisions in self._revisions.values():
            if revisions[-1].number == number:
                return revisions[-1]
        raise RecipeRefused(f"#{number}", "no recipe with that number")

    def check(self, name: str, revision: int | None = None) -> Recipe:
        """Return the recipe an activation would use, or raise why it would be refused.

        Raises:
            RecipeRefused: unknown, or refusals are injected.
        """
        recipe = self.get(name, revision)
        if self._refusal is not None:
            raise RecipeRefused(name, self._refusal)
        return recipe

    def refuse(self, reason: str = "interlock: operator door open") -> None:
        """Fault injection: refuse every activation with ``reason`` until :meth:`accept`."""
        self._refusal = reason

    def accept(self) -> None:
        """Undo :meth:`refuse`."""
        self._refusal = None


class Process:
    """A process step with a cycle time that varies from board to board.

    Real cycle times are skewed: mostly close to nominal, sometimes noticeably longer (a retry, a
    slow fiducial). A log-normal around the nominal value with ``spread`` as its coefficient of
    variation reproduces that, never goes negative, and is reproducible from the seeded ``rng``.
    """

    def __init__(self, rng: random.Random, spread: float = 0.05) -> None:
        self.rng = rng
        self.spread = spread
        self.slowdown = 1.0

    def cycle_time(self, nominal: float) -> float:
        """Draw the next cycle time in seconds for a nominal ``nominal`` seconds."""
        if self.spread <= 0:
            return nominal * self.slowdown
        return nominal * self.rng.lognormvariate(0.0, self.spread) * self.slowdown


class FirstOrder:
    """A value that approaches its target exponentially: ``x(t) = s + (x0 - s)·exp(-(t-t0)/τ)``.

    Evaluated in closed form at any time, so stepping the clock by ten minutes costs nothing.
    """

    def __init__(self, value: float, tau: float) -> None:
        self.tau = tau
        self._start = value
        self._target = value
        self._since = 0.0

    @property
    def target(self) -> float:
        """The value it approaches."""
        return self._target

    def value(self, now: float) -> float:
        """The value at simulated time ``now``."""
        elapsed = max(0.0, now - self._since)
        return self._target + (self._start - self._target) * math.exp(-elapsed / self.tau)

    def set_target(self, target: float, now: float) -> None:
        """Start approaching ``target`` from wherever the value is at ``now``."""
        self._start = self.value(now)
        self._since = now
        self._target = target


class Conveyor:
    """A conveyor that carries a board through the machine at ``speed`` mm/s over ``length_mm``."""

    def __init__(self, clock: Clock, *, length_mm: float = 1000.0, speed_mm_s: float = 100.0) -> None:
        self.clock = clock
        self.length_mm = length_mm
        self.speed_mm_s = speed_mm_s
        self.slowdown = 1.0

    def transport_time(self, board: Board) -> float:
        """Seconds from entry until the board's trailing edge clears the exit."""
        if self.speed_mm_s <= 0:
            return float("inf")
        return (self.length_mm + board.length_mm) / self.speed_mm_s * self.slowdown

    async def carry(self, board: Board) -> None:
        """Wait the transport time of ``board`` on the machine's clock."""
        await self.clock.sleep(self.transport_time(board))


class BoardIn(Protocol):
    """Where a machine takes boards from: a Hermes upstream lane, a Handoff, a legacy entrance."""

    async def take_board(self) -> Board:
        """Wait until a board is offered and has been moved onto this machine; return it."""
        ...


class BoardOut(Protocol):
    """Where a machine gives boards to: a Hermes downstream lane, a Handoff."""

    async def give_board(self, board: Board) -> None:
        """Wait until the next machine has taken ``board`` off this one."""
        ...


class Handoff:
    """An in-memory link between one machine's exit and the next one's entrance (or a test).

    ``give_board`` returns once ``take_board`` has taken the board, as a real handoff does: the
    giving machine stays blocked until the receiver accepts.
    """

    def __init__(self) -> None:
        self._offers: asyncio.Queue[tuple[Board, asyncio.Future[None]]] = asyncio.Queue(maxsize=1)

    async def give_board(self, board: Board) -> None:
        """Offer ``board`` and wait until it is taken."""
        taken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._offers.put((board, taken))
        await taken

    async def take_board(self) -> Board:
        """Wait for an offered board and take it (offers whose giver gave up are skipped)."""
        while True:
            board, taken = await self._offers.get()
            if not taken.cancelled():
                taken.set_result(None)
                return board


class Machine:
    """The protocol-free core of a simulated machine.

    Args:
        machine_id: a name for logs and endpoints.
        clock: the clock all its timing uses (real time if omitted).
        seed: seeds the machine's random numbers, so a run is reproducible.
        board_in: where boards come from; without one the machine only idles (starved).
        board_out: where boards go; without one they leave an open end.
        conveyor_length_mm: length of the conveyor a board crosses before it is worked.
        conveyor_speed_mm_s: conveyor speed.
        changeover_time: simulated seconds in SETUP after a recipe activation.
        spread: the coefficient of variation of cycle times.
    """

    def __init__(
        self,
        machine_id: str,
        *,
        clock: Clock | None = None,
        seed: int = 0,
        board_in: BoardIn | None = None,
        board_out: BoardOut | None = None,
        conveyor_length_mm: float = 1000.0,
        conveyor_speed_mm_s: float = 100.0,
        changeover_time: float = 30.0,
        spread: float = 0.05,
    ) -> None:
        self.machine_id = machine_id
        self.clock = clock or ScaledClock()
        self.rng = random.Random(seed)
        self.board_in = board_in
        self.board_out = board_out
        self.recipes = RecipeStore()
        self.process = Process(self.rng, spread)
        self.conveyor = Conveyor(self.clock, length_mm=conveyor_length_mm, speed_mm_s=conveyor_speed_mm_s)
        self.changeover_time = changeover_time
        self.faults: dict[str, Fault] = {}
        self.boards_done = 0
        # Whether boards wait for the machine to be operable before entering and being worked.
        # A machine whose conveyor a host drives directly (the legacy oven) takes them anyway.
        self.gate_entry = True
        #: Called with each board after UnitsArrived and before it is taken into the process;
        #: the board waits until it returns (the line asks the supervisory system here, which
        #: may change the recipe first). None: boards go straight in.
        self.board_gate: Callable[[Board], Awaitable[None]] | None = None
        self._listeners: list[Listener] = []
        self._state = ResourceState.NST
        self._state_since = 0.0
        self._activity = ResourceState.SBY_NO_PRODUCT_STARVED
        self._changeovers = 0
        self._maintenance = 0
        self._operable = asyncio.Event()
        self._tasks: list[asyncio.Task[object]] = []
        self.log = log.bind(machine=machine_id)

    # -- listeners ---------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` for every event from now on; return a function that stops it.

        Listeners run synchronously inside the machine; one that raises is logged and skipped.
        """
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def emit(self, event: MachineEvent) -> None:
        """Deliver ``event`` to every listener."""
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                self.log.exception("listener.failed", machine_event=type(event).__name__)

    # -- state -------------------------------------------------------------------------------

    @property
    def state(self) -> ResourceState:
        """The current CFX ResourceState."""
        return self._state

    def is_ready(self) -> bool:
        """Whether the process is ready for boards; subclasses add conditions (oven in tolerance)."""
        return True

    def _stopping_fault(self) -> Fault | None:
        return next((f for f in self.faults.values() if f.severity in STOPPING_SEVERITIES), None)

    def refresh_state(self) -> None:
        """Recompute the state from faults, changeover, readiness and activity; emit a change."""
        fault = self._stopping_fault()
        if fault is not None:
            new = ResourceState.USD
        elif self._changeovers or not self.is_ready():
            new = ResourceState.SDT_SETUP
        elif self._maintenance:
            new = ResourceState.SDT_PREVENTIVE_MAINTENANCE
        else:
            new = self._activity
        if new in (ResourceState.USD, ResourceState.SDT_SETUP, ResourceState.SDT_PREVENTIVE_MAINTENANCE):
            self._operable.clear()
        else:
            self._operable.set()
        if new == self._state:
            return
        now = self.clock.now()
        old, duration = self._state, now - self._state_since
        self._state, self._state_since = new, now
        self.emit(StationStateChanged(self.clock.wall(), old, new, duration, fault))

    def _set_activity(self, activity: ResourceState) -> None:
        self._activity = activity
        self.refresh_state()

    def begin_maintenance(self) -> None:
        """Enter scheduled maintenance (PREVENTIVE_MAINTENANCE): no board is worked until it ends."""
        self._maintenance += 1
        self.refresh_state()

    def end_maintenance(self) -> None:
        """End what :meth:`begin_maintenance` began."""
        self._maintenance = max(0, self._maintenance - 1)
        self.refresh_state()

    async def wait_operable(self) -> None:
        """Return when no stopping fault is active, no changeover runs and the machine is ready."""
        self.refresh_state()
        await self._operable.wait()

    # -- faults ------------------------------------------------------------------------------

    def raise_fault(self, code: str, text: str, severity: FaultSeverity = FaultSeverity.ERROR) -> Fault:
        """Raise a fault (again raising an active code returns the active one unchanged)."""
        if code in self.faults:
            return self.faults[code]
        fault = Fault(code, text, severity, self.clock.wall())
        self.faults[code] = fault
        self.emit(FaultOccurred(fault.occurred_at, fault))
        self.refresh_state()
        return fault

    def clear_fault(self, code: str) -> Fault | None:
        """Clear the fault with ``code``; return it, or None if it was not active."""
        fault = self.faults.pop(code, None)
        if fault is not None:
            self.emit(FaultCleared(self.clock.wall(), fault))
            self.refresh_state()
        return fault

    def run_slow(self, factor: float) -> None:
        """Fault injection: stretch cycle and transport times by ``factor`` (1.0 is normal)."""
        if factor <= 0:
            raise ValueError("factor must be positive")
        self.process.slowdown = factor
        self.conveyor.slowdown = factor

    # -- recipes -----------------------------------------------------------------------------

    async def activate_recipe(self, name: str, revision: int | None = None) -> Recipe:
        """Change over to a recipe: SETUP for ``changeover_time``, then RecipeActivated.

        Raises:
            RecipeRefused: unknown recipe or revision, or refusal injected.
        """
        recipe = self.recipes.check(name, revision)
        self._changeovers += 1
        self.refresh_state()
        try:
            # The process starts moving to the new parameters at once (an oven starts heating);
            # the recipe counts as active when the changeover is over.
            self.apply_recipe(recipe)
            await self.clock.sleep(self.changeover_time)
        finally:
            self._changeovers -= 1
        self.recipes.active = recipe
        self.emit(RecipeActivated(self.clock.wall(), recipe))
        self.refresh_state()
        return recipe

    def apply_recipe(self, recipe: Recipe) -> None:
        """Hook: set the machine's process parameters from ``recipe`` (setpoints, speeds)."""

    # -- board flow --------------------------------------------------------------------------

    async def board_entering(self, board: Board) -> None:
        """Hook: called as a board enters, before transport (the oven checks its tolerance)."""

    async def process_board(self, board: Board, cycle_time: float) -> tuple[bool, Mapping[str, Any]]:
        """Hook: process one board; return (passed, measurements). The base only waits."""
        await self.clock.sleep(cycle_time)
        return True, {}

    async def _run_boards(self) -> None:
        if self.board_in is None:
            return
        while True:
            if self.gate_entry:
                await self.wait_operable()
            self._set_activity(ResourceState.SBY_NO_PRODUCT_STARVED)
            board = await self.board_in.take_board()
            self.emit(UnitsArrived(self.clock.wall(), board))
            if self.board_gate is not None:
                await self.board_gate(board)
                if self.gate_entry:
                    # A recipe may have been switched for this board: it waits out the setup
                    # (an oven's heat-up) at the entrance, not inside the process.
                    await self.wait_operable()
            await self.board_entering(board)
            await self.conveyor.carry(board)
            if self.gate_entry:
                await self.wait_operable()
            self._set_activity(ResourceState.PRD_REGULAR_WORK)
            await self._work(board)
            self._set_activity(ResourceState.SBY_NO_PRODUCT_BLOCKED)
            if self.board_out is not None:
                await self.board_out.give_board(board)
            self.boards_done += 1
            self.emit(UnitsDeparted(self.clock.wall(), board))

    async def _work(self, board: Board) -> None:
        recipe = self.recipes.active
        transaction_id = uuid.uuid4()
        self.emit(WorkStarted(self.clock.wall(), board, transaction_id, recipe))
        nominal = recipe.cycle_time if recipe else 10.0
        passed, data = await self.process_board(board, self.process.cycle_time(nominal))
        self.emit(WorkCompleted(self.clock.wall(), board, transaction_id, passed, data))

    # -- lifetime ----------------------------------------------------------------------------

    def start_task(self, coro: Coroutine[Any, Any, object], name: str) -> None:
        """Run ``coro`` as a named background task that stops with the machine."""
        task = asyncio.create_task(coro, name=f"simulator[{self.machine_id}].{name}")
        self._tasks.append(task)
        task.add_done_callback(self._forget_task)

    def _forget_task(self, task: asyncio.Task[object]) -> None:
        # Keep failed tasks, so that stop() raises what they died of.
        if task.cancelled() or task.exception() is None:
            with contextlib.suppress(ValueError):
                self._tasks.remove(task)

    async def start(self) -> None:
        """Start the board flow; the machine leaves NOT_SCHEDULED."""
        self._state_since = self.clock.now()
        self.refresh_state()
        self.start_task(self._run_boards(), "boards")

    async def wait_published(self) -> None:
        """Return once what the machine itself publishes has reached its peer: at once here, a
        machine the gateway polls or listens to has nothing of its own in flight."""

    async def stop(self) -> None:
        """Cancel the machine's tasks and wait for them to end.

        Raises:
            Exception: the first error a task died of, so a broken simulator fails its test.
        """
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        # gather() re-raises if *we* are cancelled while waiting; the tasks' own cancellation
        # comes back as a result and is expected.
        results = await asyncio.gather(*tasks, return_exceptions=True)
        errors = [r for r in results if isinstance(r, Exception)]
        if errors:
            raise errors[0]

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


__all__ = [
    "STOPPING_SEVERITIES",
    "Board",
    "BoardIn",
    "BoardOut",
    "Conveyor",
    "Fault",
    "FaultCleared",
    "FaultOccurred",
    "FaultSeverity",
    "FirstOrder",
    "Handoff",
    "Machine",
    "MachineEvent",
    "Process",
    "Recipe",
    "RecipeActivated",
    "RecipeRefused",
    "RecipeStore",
    "ResourceState",
    "StationStateChanged",
    "UnitsArrived",
    "UnitsDeparted",
    "WorkCompleted",
    "WorkStarted",
]
