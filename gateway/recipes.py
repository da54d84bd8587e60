"""The recipe service: CFX recipe requests and changeovers, checked, performed and answered.

A request arrives for a machine's CFX handle (on the AMQP 1.0 listener, the HTTP API or the
CLI). The service checks the interlock (a board in process either finishes first or the request
is refused, per the machine's config), asks the machine's adapter to activate the recipe (the
adapter returns only after read-back confirms it), records the verified activation (which the
normalizer turns into RecipeActivated) and answers with a RequestResult that says what happened.

A line changeover runs in one of two ways (``at``; the line config's ``[changeover] at`` sets
the default):

- ``"now"``: every machine switches as soon as its interlock allows (boards in process finish
  first, or the request is refused);
- ``"boundary"``: every machine switches when the first board of the new product reaches it,
  so boards of the old product still in the line finish on the old recipe and the new product's
  first board is built on the new one. ``gateway.boundary.BoardGate`` does the switching (it
  holds each board on the Hermes vertical channel until its machine runs the board's recipe);
  the changeover waits for it at every machine and reports each switch.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from adapters.base import Adapter, CommandError, RecipeInfo
from adapters.observations import Observation
from gateway.config import CHANGEOVER_AT, RecipeRef
from protocols.cfx import (
    ActivateRecipeRequest,
    ActivateRecipeResponse,
    Envelope,
    GetActiveRecipeRequest,
    GetActiveRecipeResponse,
    GetAvailableRecipesRequest,
    GetAvailableRecipesResponse,
    RecipeIdentifier,
    RequestResult,
)
from protocols.cfx.enums import StatusResult
from protocols.cfx.messages import CFXMessage
from protocols.errors import LinegateError

log = structlog.get_logger("linegate.recipes")

# Result codes in ActivateRecipeResponse.Result.ResultCode (CFX leaves them to the endpoint).
CODE_OK = 0
CODE_BOARD_IN_PROCESS = 1
CODE_REFUSED_BY_MACHINE = 2
CODE_NOT_CONFIRMED = 3
CODE_UNKNOWN_MACHINE = 4
CODE_BAD_REQUEST = 5
CODE_BOUNDARY_NOT_REACHED = 6  # no board of the product reached the machine, or one is held
CODE_NO_BOUNDARY = 7  # the machine has no board gate (no Hermes vertical channel, gate off)


class Decision(enum.Enum):
    """What the interlock says about a recipe change right now."""

    GO = "go"
    WAIT = "wait"  # let the boards in process finish, then switch
    REFUSE = "refuse"


def interlock(policy: str, boards_in_process: int) -> Decision:
    """The interlock decision for a machine with this policy and this many boards in process."""
    if boards_in_process == 0:
        return Decision.GO
    return Decision.WAIT if policy == "finish_board" else Decision.REFUSE


class MachineHandle(Protocol):
    """What the recipe service needs of one running machine (``gateway.runtime`` provides it)."""

    machine_id: str
    handle: str
    interlock: str
    adapter: Adapter

    def boards_in_process(self, besides: Collection[str] = ()) -> int: ...

    async def wait_idle(self, besides: Collection[str] = ()) -> None: ...

    def defer_work_to_release(self) -> None: ...

    async def released(
        self,
        board_id: str | None,
        barcode: str | None,
        recipe: str | None,
        revision: str | None,
        *,
        work_order: str | None = None,
        batch: str | None = None,
    ) -> None: ...

    async def record(self, observation: Observation) -> None: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one activation, for the response and for the changeover report."""

    machine_id: str
    recipe: RecipeRef
    result: RequestResult

    @property
    def ok(self) -> bool:
        return self.result.result is StatusResult.SUCCESS


def _result(status: StatusResult, code: int, message: str) -> RequestResult:
    return RequestResult(result=status, result_code=code, message=message)


def failed(machine_id: str, recipe: RecipeRef, code: int, message: str) -> Outcome:
    """A failed outcome with this result code and message."""
    return Outcome(machine_id, recipe, _result(StatusResult.FAILED, code, message))


def succeeded(machine_id: str, recipe: RecipeRef, message: str) -> Outcome:
    """A successful outcome with this message."""
    return Outcome(machine_id, recipe, _result(StatusResult.SUCCESS, CODE_OK, message))


class ProductBoundary(Protocol):
    """Switches machines at product boundaries (``gateway.boundary.BoardGate`` provides it)."""

    def gated(self, machine_id: str) -> bool:
        """Whether the machine's boards pass the gate (so its switch can follow them)."""
        ...

    async def wait_switched(self, machine_id: str, product: str, recipe: RecipeRef, since: int) -> Outcome:
        """The outcome of the machine's switch to ``product`` at its first board of it after
        admission number ``since`` (see ``admissions``)."""
        ...

    @property
    def admissions(self) -> int:
        """How many boards the gate has decided on so far."""
        ...


class RecipeService:
    """Performs recipe changes on machines by id or CFX handle.

    Args:
        machines: the running machines by id.
        products: product name → machine id → recipe (from the line config).
        drain_timeout: how long a ``finish_board`` interlock waits for boards to leave, and
            how long a changeover at the product boundary waits for the product's boards.
        changeover_at: how ``changeover`` switches by default: ``"now"`` or ``"boundary"``.
    """

    def __init__(
        self,
        machines: Mapping[str, MachineHandle],
        products: Mapping[str, Mapping[str, RecipeRef]] | None = None,
        *,
        drain_timeout: float = 600.0,
        changeover_at: str = "now",
    ) -> None:
        if changeover_at not in CHANGEOVER_AT:
            raise ValueError(f"changeover_at must be one of {', '.join(CHANGEOVER_AT)}")
        self.changeover_at = changeover_at
        #: The board gate, when the line switches at product boundaries (set by ``BoardGate``).
        self.boundary: ProductBoundary | None = None
        self.machines = dict(machines)
        self.by_handle = {m.handle: m for m in self.machines.values()}
        self.products = dict(products or {})
        self.drain_timeout = drain_timeout
        #: The line changeover in progress (product, mode, start, machines switched and waiting),
        #: for the dashboard; None when none runs.
        self.changeover_progress: dict[str, Any] | None = None
        self._locks = {machine_id: asyncio.Lock() for machine_id in self.machines}

    def lock(self, machine_id: str) -> asyncio.Lock:
        """The lock that lets one recipe change at a time happen on a machine."""
        return self._locks[machine_id]

    async def activate(self, machine_id: str, recipe: RecipeRef) -> Outcome:
        """Activate ``recipe`` on one machine, honouring its interlock; never raises for machine trouble."""
        machine = self.machines.get(machine_id)
        if machine is None:
            return failed(machine_id, recipe, CODE_UNKNOWN_MACHINE, "unknown machine")
        async with self._locks[machine_id]:  # one change at a time per machine
            return await self.activate_locked(machine, recipe, machine.interlock)

    async def activate_locked(
        self, machine: MachineHandle, recipe: RecipeRef, policy: str, besides: Collection[str] = ()
    ) -> Outcome:
        """Activate ``recipe`` on ``machine`` whose lock the caller holds, under interlock
        ``policy``; boards named in ``besides`` (the board a switch is for) do not count as in
        process. Never raises for machine trouble."""
        machine_id = machine.machine_id
        bound = log.bind(machine=machine_id, recipe=recipe.name, revision=recipe.revision)
        in_process = machine.boards_in_process(besides)
        decision = interlock(policy, in_process)
        if decision is Decision.REFUSE:
            bound.info("recipe.refused", reason="board in process")
            message = f"{in_process} board(s) in process; interlock policy is refuse"
            return failed(machine_id, recipe, CODE_BOARD_IN_PROCESS, message)
        if decision is Decision.WAIT:
            bound.info("recipe.waiting_for_boards", boards=in_process)
            try:
                async with asyncio.timeout(self.drain_timeout):
                    await machine.wait_idle(besides)
            except TimeoutError:
                message = f"boards still in process after {self.drain_timeout:g} s"
                return failed(machine_id, recipe, CODE_BOARD_IN_PROCESS, message)
        try:
            confirmed = await machine.adapter.activate_recipe(recipe.name, recipe.revision)
        except CommandError as exc:
            code = CODE_REFUSED_BY_MACHINE if exc.refused else CODE_NOT_CONFIRMED
            bound.warning("recipe.failed", reason=exc.reason, refused=exc.refused)
            return failed(machine_id, recipe, code, exc.reason)
        except LinegateError as exc:  # the link failed mid-command
            bound.warning("recipe.failed", reason=str(exc))
            return failed(machine_id, recipe, CODE_NOT_CONFIRMED, str(exc))
        await machine.record(confirmed)
        bound.info("recipe.activated", confirmed_revision=confirmed.revision)
        revision = f" revision {confirmed.revision}" if confirmed.revision else ""
        message = f"{confirmed.recipe}{revision} active (read back)"
        return succeeded(machine_id, RecipeRef(confirmed.recipe, confirmed.revision), message)

    async def changeover(
        self,
        product: str,
        *,
        progress: Callable[[Outcome], Awaitable[None] | None] | None = None,
        at: str | None = None,
    ) -> list[Outcome]:
        """Switch every machine to its recipe for ``product`` in parallel; one outcome per machine.

        Args:
            product: a product of the line config.
            progress: called with each machine's outcome as it comes.
            at: ``"now"`` (switch as the interlock allows) or ``"boundary"`` (each machine
                switches at the first board of ``product``; a machine without a board gate
                fails with ``CODE_NO_BOUNDARY``); None for ``changeover_at``.

        Raises:
            KeyError: the product is not configured.
            ValueError: ``at`` is neither ``"now"`` nor ``"boundary"``.
        """
        recipes = self.products.get(product)
        if recipes is None:
            raise KeyError(
                f"no product {product!r}; configured: {', '.join(sorted(self.products)) or 'none'}"
            )
        at = at or self.changeover_at
        if at not in CHANGEOVER_AT:
            raise ValueError(f"at must be one of {', '.join(CHANGEOVER_AT)}, not {at!r}")
        boundary = self.boundary
        since = boundary.admissions if boundary is not None else 0

        async def switch(machine_id: str, recipe: RecipeRef) -> Outcome:
            if at == "now":
                return await self.activate(machine_id, recipe)
            if boundary is None or not boundary.gated(machine_id):
                message = "no board gate: the switch cannot follow the boards (see [changeover] at)"
                return failed(machine_id, recipe, CODE_NO_BOUNDARY, message)
            return await boundary.wait_switched(machine_id, product, recipe, since)

        underway: dict[str, Any] = {
            "product": product,
            "at": at,
            "started": datetime.now(UTC).isoformat(),
            "waiting": sorted(recipes),
            "switched": [],
            "failed": [],
        }

        async def one(machine_id: str, recipe: RecipeRef) -> Outcome:
            outcome = await switch(machine_id, recipe)
            underway["waiting"].remove(machine_id)
            underway["switched" if outcome.ok else "failed"].append(machine_id)
            if progress is not None:
                maybe = progress(outcome)
                if maybe is not None:
                    await maybe
            return outcome

        log.info("changeover.started", product=product, at=at, machines=sorted(recipes))
        self.changeover_progress = underway
        try:
            outcomes = list(await asyncio.gather(*(one(m, r) for m, r in recipes.items())))
        finally:
            if self.changeover_progress is underway:
                self.changeover_progress = None
        failures = [o.machine_id for o in outcomes if not o.ok]
        log.info("changeover.complete", product=product, at=at, failed=failures)
        return outcomes

    # --- CFX requests ------------------------------------------------------------------------

    def handler_for(self, handle: str) -> Callable[[Envelope], Awaitable[CFXMessage | None]]:
        """The CFX listener handler for one hosted machine handle."""

        async def handle_request(request: Envelope) -> CFXMessage | None:
            return await self.answer(handle, request)

        return handle_request

    async def answer(self, handle: str, request: Envelope) -> CFXMessage | None:
        """The response body to a recipe request for ``handle``; None for requests we do not serve
        (the listener then sends NotSupportedResponse)."""
        machine = self.by_handle.get(handle)
        body = request.body
        if machine is None:
            return None
        if isinstance(body, ActivateRecipeRequest):
            if not body.recipe_name:
                return ActivateRecipeResponse(
                    result=_result(StatusResult.FAILED, CODE_BAD_REQUEST, "RecipeName is required")
                )
            outcome = await self.activate(machine.machine_id, RecipeRef(body.recipe_name, body.revision))
            return ActivateRecipeResponse(result=outcome.result)
        if isinstance(body, GetActiveRecipeRequest):
            try:
                active = await machine.adapter.active_recipe()
            except LinegateError as exc:
                return GetActiveRecipeResponse(
                    result=_result(StatusResult.FAILED, CODE_NOT_CONFIRMED, str(exc))
                )
            return GetActiveRecipeResponse(
                result=_result(StatusResult.SUCCESS, CODE_OK, ""),
                active_recipe_name=active.name if active else None,
                active_recipe_revision=active.revision if active else None,
            )
        if isinstance(body, GetAvailableRecipesRequest):
            try:
                recipes: list[RecipeInfo] = await machine.adapter.available_recipes()
            except LinegateError as exc:
                return GetAvailableRecipesResponse(
                    result=_result(StatusResult.FAILED, CODE_NOT_CONFIRMED, str(exc))
                )
            shown = recipes[: body.max_count] if body.max_count > 0 else recipes
            return GetAvailableRecipesResponse(
                result=_result(StatusResult.SUCCESS, CODE_OK, ""),
                # ActualCount: every match; RecipeCount (computed): the ones listed (the SDK's meanings).
                actual_count=len(recipes),
                recipes=[RecipeIdentifier(recipe_name=r.name, revision=r.revision) for r in shown],
            )
        return None
