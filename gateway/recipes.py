"""The recipe service: CFX recipe requests and changeovers, checked, performed and answered.

A request arrives for a machine's CFX handle (on the AMQP 1.0 listener, the HTTP API or the
CLI). The service checks the interlock (a board in process either finishes first or the request
is refused, per the machine's config), asks the machine's adapter to activate the recipe (the
adapter returns only after read-back confirms it), records the verified activation (which the
normalizer turns into RecipeActivated) and answers with a RequestResult that says what happened.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import structlog

from adapters.base import Adapter, CommandError, RecipeInfo
from adapters.observations import Observation
from gateway.config import RecipeRef
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

    def boards_in_process(self) -> int: ...

    async def wait_idle(self) -> None: ...

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


class RecipeService:
    """Performs recipe changes on machines by id or CFX handle.

    Args:
        machines: the running machines by id.
        products: product name → machine id → recipe (from the line config).
        drain_timeout: how long a ``finish_board`` interlock waits for boards to leave.
    """

    def __init__(
        self,
        machines: Mapping[str, MachineHandle],
        products: Mapping[str, Mapping[str, RecipeRef]] | None = None,
        *,
        drain_timeout: float = 600.0,
    ) -> None:
        self.machines = dict(machines)
        self.by_handle = {m.handle: m for m in self.machines.values()}
        self.products = dict(products or {})
        self.drain_timeout = drain_timeout
        self._locks = {machine_id: asyncio.Lock() for machine_id in self.machines}

    async def activate(self, machine_id: str, recipe: RecipeRef) -> Outcome:
        """Activate ``recipe`` on one machine, honouring its interlock; never raises for machine trouble."""
        machine = self.machines.get(machine_id)
        if machine is None:
            return Outcome(
                machine_id, recipe, _result(StatusResult.FAILED, CODE_UNKNOWN_MACHINE, "unknown machine")
            )
        bound = log.bind(machine=machine_id, recipe=recipe.name, revision=recipe.revision)
        async with self._locks[machine_id]:  # one change at a time per machine
            decision = interlock(machine.interlock, machine.boards_in_process())
            if decision is Decision.REFUSE:
                bound.info("recipe.refused", reason="board in process")
                message = f"{machine.boards_in_process()} board(s) in process; interlock policy is refuse"
                return Outcome(
                    machine_id, recipe, _result(StatusResult.FAILED, CODE_BOARD_IN_PROCESS, message)
                )
            if decision is Decision.WAIT:
                bound.info("recipe.waiting_for_boards", boards=machine.boards_in_process())
                try:
                    async with asyncio.timeout(self.drain_timeout):
                        await machine.wait_idle()
                except TimeoutError:
                    message = f"boards still in process after {self.drain_timeout:g} s"
                    return Outcome(
                        machine_id, recipe, _result(StatusResult.FAILED, CODE_BOARD_IN_PROCESS, message)
                    )
            try:
                confirmed = await machine.adapter.activate_recipe(recipe.name, recipe.revision)
            except CommandError as exc:
                code = CODE_REFUSED_BY_MACHINE if exc.refused else CODE_NOT_CONFIRMED
                bound.warning("recipe.failed", reason=exc.reason, refused=exc.refused)
                return Outcome(machine_id, recipe, _result(StatusResult.FAILED, code, exc.reason))
            except LinegateError as exc:  # the link failed mid-command
                bound.warning("recipe.failed", reason=str(exc))
                return Outcome(machine_id, recipe, _result(StatusResult.FAILED, CODE_NOT_CONFIRMED, str(exc)))
            await machine.record(confirmed)
            bound.info("recipe.activated", confirmed_revision=confirmed.revision)
            revision = f" revision {confirmed.revision}" if confirmed.revision else ""
            message = f"{confirmed.recipe}{revision} active (read back)"
            return Outcome(
                machine_id,
                RecipeRef(confirmed.recipe, confirmed.revision),
                _result(StatusResult.SUCCESS, CODE_OK, message),
            )

    async def changeover(
        self, product: str, *, progress: Callable[[Outcome], Awaitable[None] | None] | None = None
    ) -> list[Outcome]:
        """Activate every machine's recipe for ``product`` in parallel; one outcome per machine.

        Raises:
            KeyError: the product is not configured.
        """
        recipes = self.products.get(product)
        if recipes is None:
            raise KeyError(
                f"no product {product!r}; configured: {', '.join(sorted(self.products)) or 'none'}"
            )

        async def one(machine_id: str, recipe: RecipeRef) -> Outcome:
            outcome = await self.activate(machine_id, recipe)
            if progress is not None:
                maybe = progress(outcome)
                if maybe is not None:
                    await maybe
            return outcome

        log.info("changeover.started", product=product, machines=sorted(recipes))
        outcomes = list(await asyncio.gather(*(one(m, r) for m, r in recipes.items())))
        log.info("changeover.complete", product=product, failed=[o.machine_id for o in outcomes if not o.ok])
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
                actual_count=len(shown),
                recipe_count=len(recipes),
                recipes=[RecipeIdentifier(recipe_name=r.name, revision=r.revision) for r in shown],
            )
        return None
