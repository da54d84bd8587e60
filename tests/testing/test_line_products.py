"""The gateway fixture's recipe service knows the products of the line it is given."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import RecipeRef
from gateway.demo import PRODUCTS
from gateway.testing import line_products
from simulators import default_line, load_line
from tests.testing.support import PLUGIN, setup

# An integrator's own line: other machine ids and handles, other products, and each machine's
# recipe for them in linegate run's [products] format.
OWN_LINE = """
name = "own"
seed = 7

[[source.work_orders]]
id = "WO-77"
product = "DRIVE-CTRL-7"
quantity = 10

[[machines]]
kind = "reflow_oven"
id = "oven-a"
handle = "plant.oven.a"
[machines.options]
tunnel_mm = 600.0
tau = 20.0

[[machines]]
kind = "coater"
id = "coat-a"
handle = "plant.coater.a"

[products.DRIVE-CTRL-7]
oven-a = "SAC305-STD"
coat-a = "ACRYLIC-50"

[products.DRIVE-PWR-9]
oven-a = "SAC305-HEAVY"
coat-a = { name = "SILICONE-75" }
"""


def test_the_recipe_service_knows_the_products_of_the_users_line(pytester: pytest.Pytester) -> None:
    """A changeover to a product of the user's line file switches the user's machines."""
    setup(pytester)
    (pytester.path / "own.toml").write_text(OWN_LINE, encoding="utf-8")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.linegate_line("own.toml", boards=2)
        async def test_changeover(linegate_gateway, cfx_events):
            recipes = linegate_gateway.recipes
            assert sorted(recipes.products) == ["DRIVE-CTRL-7", "DRIVE-PWR-9"]
            # The gateway was started from the config linegate run would read for this line.
            config = linegate_gateway.config
            assert [(m.id, m.handle, m.protocol) for m in config.machines] == [
                ("oven-a", "plant.oven.a", "modbus"), ("coat-a", "plant.coater.a", "serial")
            ]
            assert config.products == recipes.products
            assert sorted(linegate_gateway.gateway.machines) == ["coat-a", "oven-a"]
            outcomes = await recipes.changeover("DRIVE-PWR-9")
            assert sorted(o.machine_id for o in outcomes) == ["coat-a", "oven-a"]
            assert all(o.ok for o in outcomes), [(o.machine_id, o.result.message) for o in outcomes]
            machines = linegate_gateway.machines
            assert machines["oven-a"].recipes.active.name == "SAC305-HEAVY"
            assert machines["coat-a"].recipes.active.name == "SILICONE-75"
            await cfx_events.wait_for(
                "CFX.Production.RecipeActivated", source="plant.oven.a", where={"RecipeName": "SAC305-HEAVY"}
            )
            # The default line's products are not this line's.
            with pytest.raises(KeyError, match="PSU-24V-R1"):
                await recipes.changeover("PSU-24V-R1")
        """
    )
    result = pytester.runpytest("-p", PLUGIN)
    result.assert_outcomes(passed=1)


def test_a_products_table_naming_a_missing_machine_fails_before_the_line_starts(
    pytester: pytest.Pytester,
) -> None:
    """The error names the line file and the key, as linegate check does for a config."""
    setup(pytester)
    (pytester.path / "own.toml").write_text(
        OWN_LINE + '\n[products.DRIVE-SOLO-1]\nsolder = "PGM-PWR-B"\n', encoding="utf-8"
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.linegate_line("own.toml", boards=1)
        async def test_never_runs(linegate_gateway):
            raise AssertionError("not reached")
        """
    )
    result = pytester.runpytest("-p", PLUGIN)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*own.toml*products.DRIVE-SOLO-1.solder*no machine with id 'solder'*"])


def test_the_simulators_read_the_same_line_file(tmp_path: Path) -> None:
    """``linegate simulate`` takes the file too: the simulators leave ``[products]`` to the gateway."""
    path = tmp_path / "own.toml"
    path.write_text(OWN_LINE, encoding="utf-8")
    spec = load_line(path)
    assert [m.machine_id for m in spec.machines] == ["oven-a", "coat-a"]
    products = line_products(spec)
    assert products["DRIVE-PWR-9"]["coat-a"] == RecipeRef("SILICONE-75")
    assert products["DRIVE-CTRL-7"] == {"oven-a": RecipeRef("SAC305-STD"), "coat-a": RecipeRef("ACRYLIC-50")}


def test_the_default_line_keeps_its_two_products() -> None:
    """Without a [products] table, the default line has CTRL-MAIN-R3 and PSU-24V-R1."""
    assert line_products(default_line()) == PRODUCTS
