"""Example: change the whole line over to another product while boards flow.

A line controller asks for the changeover; every machine must confirm its new recipe (read back
in the machine's own protocol) and announce it as CFX RecipeActivated, and boards keep leaving
the line afterwards. Then an MES changes one machine back over CFX.
"""

from __future__ import annotations

import pytest

from gateway.testing import CFXEventCollector, LinegateGateway
from protocols.cfx import ActivateRecipeRequest, ActivateRecipeResponse, new_request
from protocols.cfx.enums import StatusResult
from protocols.cfx.transport import request
from simulators import ReflowOven, small_line


# The small line (placement -> reflow -> solder -> coater): quick; without a line the kit runs
# the default line, the whole SMT line.
@pytest.mark.linegate_line(small_line(), boards=8)
async def test_line_changes_over_to_the_power_supply(
    linegate_gateway: LinegateGateway, cfx_events: CFXEventCollector
) -> None:
    line = linegate_gateway.line
    await line.wait_departed(2)

    outcomes = await linegate_gateway.recipes.changeover("PSU-24V-R1")

    assert all(o.ok for o in outcomes), [(o.machine_id, o.result.message) for o in outcomes]
    # Each machine's recipe for the product: the [products] table of the line file.
    for machine_id, recipe in linegate_gateway.recipes.products["PSU-24V-R1"].items():
        activated = await cfx_events.wait_for(
            "CFX.Production.RecipeActivated",
            source=linegate_gateway.handles[machine_id],
            where={"RecipeName": recipe.name},
            timeout=20,
        )
        assert activated["MessageBody"]["RecipeName"] == recipe.name
        machine = line.machines[machine_id]
        assert machine.recipes.active is not None and machine.recipes.active.name == recipe.name
    # Production goes on under the new recipes.
    departed = len(line.departed)
    await line.wait_departed(departed + 1)

    # An MES puts the oven back on its standard profile with a CFX ActivateRecipeRequest to the
    # Modbus oven's handle, as a CFX SDK client would send it.
    oven = line.machine("reflow", ReflowOven)
    req = new_request(
        ActivateRecipeRequest(recipe_name="SAC305-STD"),
        source="MES.Example.1",
        target=linegate_gateway.handles["reflow"],
    )
    response = await request(linegate_gateway.request_uri, req, timeout=30)
    assert isinstance(response.body, ActivateRecipeResponse)
    assert response.body.result.result is StatusResult.SUCCESS, response.body.result.message
    assert oven.recipes.active is not None and oven.recipes.active.name == "SAC305-STD"
