"""Synthesized work that starts when the product-boundary gate releases the board."""

from __future__ import annotations

from adapters import observations as obs
from gateway.normalize import MachineNormalizer
from protocols.cfx import RecipeIdentifier, WorkCompleted, WorkStarted
from tests.gateway.test_normalize import B1, HANDLE, at, bodies


def test_deferred_work_starts_at_release_on_the_recipe_it_is_built_on() -> None:
    norm = MachineNormalizer(HANDLE, synthesize_work=True, defer_work_start=True)
    norm.active_recipe = RecipeIdentifier(recipe_name="SAC305-STD")
    arrived = bodies(norm, obs.BoardArrived(machine_id="oven", at=at(0), board_id=B1, barcode="SN-1"))
    # The board waits at the entrance while the oven switches: not in process yet.
    assert [type(b).__name__ for b in arrived] == ["UnitsArrived"] and norm.transactions == {}
    out = bodies(
        norm,
        obs.WorkStarted(machine_id="oven", at=at(40), board_id=B1, barcode="SN-1", recipe="SAC305-HEAVY"),
        obs.BoardDeparted(machine_id="oven", at=at(300), board_id=B1, barcode="SN-1"),
    )
    assert [type(b).__name__ for b in out] == ["WorkStarted", "WorkCompleted", "UnitsDeparted"]
    started, completed = out[0], out[1]
    assert isinstance(started, WorkStarted) and isinstance(completed, WorkCompleted)
    assert (started.hermes_identifier, started.recipe_name) == (B1, "SAC305-HEAVY")
    assert started.transaction_id == completed.transaction_id
    assert norm.transactions == {}


def test_a_board_never_released_still_reports_its_work_as_it_leaves() -> None:
    norm = MachineNormalizer(HANDLE, synthesize_work=True, defer_work_start=True)
    out = bodies(
        norm,
        obs.BoardArrived(machine_id="oven", at=at(0), board_id=B1),
        obs.BoardDeparted(machine_id="oven", at=at(300), board_id=B1),
    )
    names = [type(b).__name__ for b in out]
    assert names == ["UnitsArrived", "WorkStarted", "WorkCompleted", "UnitsDeparted"]
    started, completed = out[1], out[2]
    assert isinstance(started, WorkStarted) and isinstance(completed, WorkCompleted)
    assert started.transaction_id == completed.transaction_id
