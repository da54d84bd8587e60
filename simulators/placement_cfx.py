"""The placement machine's CFX face: its machine-core state, units, faults and recipes as CFX values.

Pure builders (no clock, no I/O) that :class:`simulators.placement.PlacementMachine` uses to
translate its events and answer its requests (reference §3.2 - §3.6).
"""

from __future__ import annotations

from typing import Any

import msgspec

import protocols.cfx as cfx
from simulators.machine import Board, Fault, Recipe, RecipeStore, ResourceState
from simulators.placement_material import LANE


def with_identity(
    prepared: cfx.SMTPlacementFault, fault: Fault, severity: cfx.FaultSeverity
) -> cfx.SMTPlacementFault:
    """``prepared`` with the identity the machine core gave the fault (code, occurrence, time)."""
    return msgspec.structs.replace(
        prepared,
        fault_code=fault.code,
        fault_occurrence_id=fault.occurrence_id,
        severity=severity,
        description=fault.text,
        occurred_at=fault.occurred_at,
    )


def base_fault(fault: cfx.AnyFault) -> cfx.Fault:
    """The plain ``CFX.Structures.Fault`` members of any fault (for typed ``Fault`` slots)."""
    return cfx.Fault(**{name: getattr(fault, name) for name in cfx.Fault.__struct_fields__})


def cfx_state(state: ResourceState) -> cfx.ResourceState:
    """The CFX ResourceState of a machine-core state."""
    # The machine core reports in CFX's own enum already.
    return cfx.ResourceState(state)


def primary(board: Board) -> str:
    """The unit's PrimaryIdentifier: its barcode when known, else its Hermes BoardId."""
    return board.barcode or board.board_id


def unit_fields(board: Board) -> dict[str, Any]:
    """The unit fields of UnitsArrived, WorkStarted and UnitsDeparted for ``board``."""
    identifier = primary(board)
    return {
        "primary_identifier": identifier,
        "hermes_identifier": board.board_id,
        "units": [cfx.UnitPosition(unit_identifier=identifier, position_number=1)],
    }


def recipe_activated(recipe: Recipe) -> cfx.RecipeActivated:
    """CFX RecipeActivated for ``recipe`` (its components per unit, its cycle time in ms)."""
    count = len(recipe.parameters.get("components", ()))
    return cfx.RecipeActivated(
        recipe_name=recipe.name,
        revision=str(recipe.revision),
        lane=LANE,
        expected_cycle_time=recipe.cycle_time * 1000.0,  # reference §3.2: milliseconds
        expected_units_per_work_transaction=1.0,
        number_of_components_per_unit=count,
    )


def available_recipes(
    recipes: RecipeStore, body: cfx.GetAvailableRecipesRequest
) -> cfx.GetAvailableRecipesResponse:
    """The answer to GetAvailableRecipesRequest: the latest revision of every recipe under ``path``."""
    latest = [recipes.get(name) for name in recipes.names() if name.startswith(body.path or "")]
    chosen = latest[: body.max_count] if body.max_count > 0 else latest
    return cfx.GetAvailableRecipesResponse(
        result=cfx.RequestResult(),
        # ActualCount: every match; RecipeCount (computed): the ones listed (the SDK's meanings).
        actual_count=len(latest),
        recipes=[cfx.RecipeIdentifier(recipe_name=r.name, revision=str(r.revision)) for r in chosen],
    )


__all__ = [
    "available_recipes",
    "base_fault",
    "cfx_state",
    "primary",
    "recipe_activated",
    "unit_fields",
    "with_identity",
]
