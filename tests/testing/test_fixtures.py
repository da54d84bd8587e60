"""The fixtures start real simulators and a real gateway on free ports and stop them afterwards."""

from __future__ import annotations

import json
import socket

import pytest

from tests.testing.support import PLUGIN, SMALL_LINE, setup


def _refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_machine_fixtures_listen_while_the_test_runs_and_stop_after(pytester: pytest.Pytester) -> None:
    setup(pytester)
    pytester.makepyfile(
        """
        import json, socket
        from pathlib import Path
        from urllib.parse import urlsplit
        from simulators import (
            Coater, FaultSeverity, PlacementMachine, ReflowOven, SelectiveSolder, SteppedClock,
        )

        def connect(port):
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                pass

        async def test_machines(reflow_oven, placement_machine, coater, selective_solder, virtual_clock):
            assert isinstance(reflow_oven, ReflowOven) and isinstance(coater, Coater)
            assert isinstance(placement_machine, PlacementMachine)
            assert isinstance(selective_solder, SelectiveSolder)
            assert reflow_oven.clock is virtual_clock is coater.clock is selective_solder.clock
            solder_port = urlsplit(selective_solder.url).port
            ports = [reflow_oven.port, coater.tcp_port, placement_machine.port, solder_port]
            for port in ports:
                connect(port)
            # Fault injection is a method call on the fixture value.
            reflow_oven.raise_fault("OV-EXHAUST-FAN", "fan stalled", FaultSeverity.ERROR)
            assert reflow_oven.alarm_word() & (1 << 6)
            reflow_oven.clear_fault("OV-EXHAUST-FAN")
            assert not reflow_oven.faults
            coater.go_silent()
            selective_solder.delay_methods(0.0)
            placement_machine.recipes.refuse("door open")
            Path("ports.json").write_text(json.dumps(ports))

        import pytest

        @pytest.mark.linegate_clock(stepped=True)
        async def test_stepped_clock(virtual_clock, reflow_oven):
            assert isinstance(virtual_clock, SteppedClock)
            before = virtual_clock.now()
            await virtual_clock.run_for(5.0)
            assert virtual_clock.now() == before + 5.0
        """
    )
    result = pytester.runpytest("-p", PLUGIN)
    result.assert_outcomes(passed=2)
    ports = json.loads((pytester.path / "ports.json").read_text())
    assert len(set(ports)) == 4
    assert all(_refused(port) for port in ports), "a simulator still listens after its test"


def test_simulated_line_from_a_marker_or_a_parameter(pytester: pytest.Pytester) -> None:
    setup(pytester)
    (pytester.path / "small.toml").write_text(SMALL_LINE, encoding="utf-8")
    pytester.makepyfile(
        """
        import pytest
        from simulators import ReflowOven

        @pytest.mark.linegate_line("small.toml", boards=2)
        async def test_marker(simulated_line):
            assert list(simulated_line.machines) == ["reflow", "coater"]
            assert simulated_line.spec.name == "small"
            # Without the gateway, boards start at once.
            assert len(await simulated_line.wait_departed(2, timeout=30)) == 2
            assert isinstance(simulated_line.machine("reflow", ReflowOven), ReflowOven)
            with pytest.raises(TypeError, match="is a Coater"):
                simulated_line.machine("coater", ReflowOven)

        @pytest.mark.linegate_line(boards=1)
        @pytest.mark.parametrize("simulated_line", ["small.toml"], indirect=True)
        async def test_parameter(simulated_line):
            assert simulated_line.spec.name == "small"
            await simulated_line.wait_departed(1, timeout=30)
        """
    )
    result = pytester.runpytest("-p", PLUGIN)
    result.assert_outcomes(passed=2)


def test_gateway_fixture_serves_http_and_cfx_requests(pytester: pytest.Pytester) -> None:
    setup(pytester)
    (pytester.path / "small.toml").write_text(SMALL_LINE, encoding="utf-8")
    pytester.makepyfile(
        """
        import aiohttp, pytest
        from protocols.cfx import ActivateRecipeRequest, ActivateRecipeResponse, new_request
        from protocols.cfx.enums import StatusResult
        from protocols.cfx.transport import request

        @pytest.mark.linegate_line("small.toml", boards=2)
        async def test_gateway(linegate_gateway, cfx_events):
            assert linegate_gateway.handles == {"reflow": "test.reflow.1", "coater": "test.coater.1"}
            board = (await linegate_gateway.line.wait_departed(1, timeout=30))[0]
            done = await cfx_events.wait_for(
                "CFX.Production.WorkCompleted", where={"HermesIdentifier": board}, source="test.coater.1"
            )
            assert done["MessageBody"]["Result"] == "Completed"
            async with aiohttp.ClientSession() as http:
                async with http.get(linegate_gateway.http_url + "api/line") as response:
                    assert response.status == 200
                    assert {m["id"] for m in (await response.json())["machines"]} >= {"reflow", "coater"}
            req = new_request(
                ActivateRecipeRequest(recipe_name="SAC305-HEAVY"), source="T.T.1", target="test.reflow.1"
            )
            answer = await request(linegate_gateway.request_uri, req, timeout=20)
            assert isinstance(answer.body, ActivateRecipeResponse)
            assert answer.body.result.result is StatusResult.SUCCESS
            await cfx_events.wait_for("CFX.Production.RecipeActivated", where={"RecipeName": "SAC305-HEAVY"})
        """
    )
    result = pytester.runpytest("-p", PLUGIN)
    result.assert_outcomes(passed=1)


def test_markers_are_registered(pytester: pytest.Pytester) -> None:
    setup(pytester)
    result = pytester.runpytest("-p", PLUGIN, "--markers")
    result.stdout.fnmatch_lines(
        ["@pytest.mark.linegate_line*", "@pytest.mark.linegate_clock*", "@pytest.mark.linegate_broker*"]
    )


def test_a_bad_line_parameter_reads_well(pytester: pytest.Pytester) -> None:
    setup(pytester)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("simulated_line", [42], indirect=True)
        async def test_bad(simulated_line):
            pass

        @pytest.mark.linegate_line("missing.toml")
        async def test_missing(simulated_line):
            pass
        """
    )
    result = pytester.runpytest("-p", PLUGIN)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*expected a line file path or a LineSpec, not 42*", "*missing.toml*"])


def test_fixtures_work_in_pytest_asyncio_strict_mode(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
        "addopts = --strict-markers -p no:cacheprovider\n"
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        async def test_strict(reflow_oven, coater):
            assert reflow_oven.port and coater.tcp_port
        """
    )
    result = pytester.runpytest("-p", PLUGIN)
    result.assert_outcomes(passed=1)
