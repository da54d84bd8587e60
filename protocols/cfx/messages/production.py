"""``CFX.Production`` messages: unit flow, work transactions and recipes (cfx.md §3.2).

``UnitCount`` is computed from ``units`` (a value given on construction or in JSON is ignored), as
the SDK's getter-only property is.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from protocols.cfx.enums import LockReason, RecipeModificationReason, Surface, WorkResult
from protocols.cfx.messages.base import CFXMessage, message, type_tag
from protocols.cfx.messages.structures import (
    Operator,
    PerformanceImpact,
    Recipe,
    RecipeIdentifier,
    RecipeStageInformation,
    RequestResult,
    Stage,
    UnitPosition,
    WorkOrderIdentifier,
)


def _count_units(self: Any) -> None:
    # cfx.md §1.2: UnitCount is always Units.Count; a sent value is ignored.
    count = len(self.units) if self.units is not None else 0
    if self.unit_count != count:
        msgspec.structs.force_setattr(self, "unit_count", count)


@message
class UnitsArrived(CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Production.UnitsArrived")):
    """Units (boards, panels) arrived at the station."""

    primary_identifier: str | None = None
    hermes_identifier: str | None = None
    unit_count: int = 0
    units: list[UnitPosition] = msgspec.field(default_factory=list)
    lane: int | None = None

    def __post_init__(self) -> None:
        _count_units(self)


@message
class UnitsDeparted(CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Production.UnitsDeparted")):
    """Units left the station."""

    primary_identifier: str | None = None
    hermes_identifier: str | None = None
    unit_count: int = 0
    units: list[UnitPosition] = msgspec.field(default_factory=list)
    lane: int | None = None

    def __post_init__(self) -> None:
        _count_units(self)


@message
class WorkStarted(CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Production.WorkStarted")):
    """A work transaction began; ``transaction_id`` (``TransactionID``) links the work messages."""

    primary_identifier: str | None = None
    hermes_identifier: str | None = None
    transaction_id: uuid.UUID = msgspec.field(default_factory=uuid.uuid4, name="TransactionID")
    lane: int | None = None
    unit_count: int = 0
    units: list[UnitPosition] = msgspec.field(default_factory=list)
    recipe_name: str | None = None
    revision: str | None = None
    relevant_surface: Surface = Surface.UNSPECIFIED
    work_order_identifier: WorkOrderIdentifier | None = None

    def __post_init__(self) -> None:
        _count_units(self)


@message
class WorkCompleted(CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Production.WorkCompleted")):
    """A work transaction ended."""

    transaction_id: uuid.UUID = msgspec.field(default_factory=lambda: uuid.UUID(int=0), name="TransactionID")
    result: WorkResult = WorkResult.COMPLETED
    primary_identifier: str | None = None
    hermes_identifier: str | None = None
    unit_count: int = 0
    units: list[UnitPosition] = msgspec.field(default_factory=list)
    performance_impacts: list[PerformanceImpact] | None = None

    def __post_init__(self) -> None:
        _count_units(self)


@message
class WorkStageStarted(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Production.WorkStageStarted")
):
    """Work began in one stage of a transaction."""

    transaction_id: uuid.UUID = msgspec.field(default_factory=lambda: uuid.UUID(int=0), name="TransactionID")
    stage: Stage | None = None


@message
class WorkStageCompleted(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Production.WorkStageCompleted")
):
    """Work ended in one stage of a transaction."""

    transaction_id: uuid.UUID = msgspec.field(default_factory=lambda: uuid.UUID(int=0), name="TransactionID")
    stage: Stage | None = None
    result: WorkResult = WorkResult.COMPLETED
    performance_impacts: list[PerformanceImpact] | None = None


@message
class RecipeActivated(CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Production.RecipeActivated")):
    """A recipe became active; cycle and work times in milliseconds."""

    recipe_name: str | None = None
    revision: str | None = None
    lane: int | None = None
    stage: Stage | None = None
    expected_cycle_time: float = 0.0
    expected_work_time: float | None = None
    expected_units_per_work_transaction: float = 0.0
    number_of_components_per_unit: float = 0.0
    work_order_identifier: WorkOrderIdentifier | None = None
    target_quantity: float | None = None
    relevant_surface: Surface = Surface.UNSPECIFIED
    recipe_stages_information: list[RecipeStageInformation] = msgspec.field(default_factory=list)


@message
class RecipeDeactivated(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Production.RecipeDeactivated")
):
    """A recipe stopped being active [v1.2]."""

    recipe_name: str | None = None
    revision: str | None = None
    lane: int | None = None
    stage: Stage | None = None
    work_order_identifier: WorkOrderIdentifier | None = None


@message
class RecipeModified(CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Production.RecipeModified")):
    """A recipe was created, changed or deleted."""

    recipe_name: str | None = None
    revision: str | None = None
    modified_by: Operator | None = None
    reason: RecipeModificationReason = RecipeModificationReason.UNSPECIFIED
    notes: str | None = None
    work_order_identifier: WorkOrderIdentifier | None = None


@message
class ActivateRecipeRequest(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Production.ActivateRecipeRequest")
):
    """Asks the station to activate a recipe (REQ)."""

    recipe_name: str | None = None
    revision: str | None = None
    lane: int | None = None
    stage: Stage | None = None


@message
class ActivateRecipeResponse(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Production.ActivateRecipeResponse")
):
    """Answer to ActivateRecipeRequest."""

    result: RequestResult = msgspec.field(default_factory=RequestResult)


@message
class GetActiveRecipeRequest(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Production.GetActiveRecipeRequest")
):
    """Asks which recipe is active (REQ)."""

    lane: int | None = None
    stage: Stage | None = None


@message
class GetActiveRecipeResponse(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Production.GetActiveRecipeResponse")
):
    """Answer to GetActiveRecipeRequest."""

    result: RequestResult = msgspec.field(default_factory=RequestResult)
    active_recipe_name: str | None = None
    active_recipe_revision: str | None = None


@message
class GetRecipeRequest(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Production.GetRecipeRequest")
):
    """Asks for a recipe's content (REQ)."""

    recipe_name: str | None = None
    revision: str | None = None


@message
class GetRecipeResponse(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Production.GetRecipeResponse")
):
    """Answer to GetRecipeRequest."""

    result: RequestResult = msgspec.field(default_factory=RequestResult)
    recipe: Recipe | None = None


@message
class UpdateRecipeRequest(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Production.UpdateRecipeRequest")
):
    """Stores or replaces a recipe on the station (REQ)."""

    overwrite: bool = False
    recipe: Recipe | None = None
    reason: RecipeModificationReason | None = None


@message
class UpdateRecipeResponse(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Production.UpdateRecipeResponse")
):
    """Answer to UpdateRecipeRequest."""

    result: RequestResult = msgspec.field(default_factory=RequestResult)


@message
class GetAvailableRecipesRequest(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Production.GetAvailableRecipesRequest")
):
    """Asks which recipes the station holds [v1.4] (REQ)."""

    path: str | None = None
    max_count: int = 0


@message
class GetAvailableRecipesResponse(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Production.GetAvailableRecipesResponse")
):
    """Answer to GetAvailableRecipesRequest."""

    result: RequestResult = msgspec.field(default_factory=RequestResult)
    actual_count: int = 0
    recipe_count: int = 0
    recipes: list[RecipeIdentifier] | None = None


@message
class LockStationRequest(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Production.LockStationRequest")
):
    """Asks the station to stop accepting work (REQ)."""

    lane: int | None = None
    stage: Stage | None = None
    reason: LockReason = LockReason.QUALITY_ISSUE
    requestor: Operator | None = None


@message
class LockStationResponse(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Production.LockStationResponse")
):
    """Answer to LockStationRequest."""

    result: RequestResult = msgspec.field(default_factory=RequestResult)


@message
class UnlockStationRequest(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Production.UnlockStationRequest")
):
    """Asks the station to accept work again (REQ)."""

    lane: int | None = None
    stage: Stage | None = None
    requestor: Operator | None = None


@message
class UnlockStationResponse(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Production.UnlockStationResponse")
):
    """Answer to UnlockStationRequest."""

    result: RequestResult = msgspec.field(default_factory=RequestResult)


__all__ = [
    "ActivateRecipeRequest",
    "ActivateRecipeResponse",
    "GetActiveRecipeRequest",
    "GetActiveRecipeResponse",
    "GetAvailableRecipesRequest",
    "GetAvailableRecipesResponse",
    "GetRecipeRequest",
    "GetRecipeResponse",
    "LockStationRequest",
    "LockStationResponse",
    "RecipeActivated",
    "RecipeDeactivated",
    "RecipeModified",
    "UnitsArrived",
    "UnitsDeparted",
    "UnlockStationRequest",
    "UnlockStationResponse",
    "UpdateRecipeRequest",
    "UpdateRecipeResponse",
    "WorkCompleted",
    "WorkStageCompleted",
    "WorkStageStarted",
    "WorkStarted",
]
