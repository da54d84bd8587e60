"""Scenario files: timed faults on the line's virtual clock, observed by independent clients; every
mistake in a scenario file named by file and key path."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pymodbus.client import AsyncModbusTcpClient

from protocols.errors import ConfigError
from simulators.clock import SteppedClock
from simulators.line import Line, machine_classes, parse_line
from simulators.machine import RecipeRefused
from simulators.reflow_oven import IR_ALARMS, IR_STATE, OTHER_ALARM_BIT
from simulators.scenario import ACTIONS, AppliedFault, Scenario, load_scenario, parse_scenario

WAIT = 5.0  # real seconds; only bounds a broken test

SCENARIO = """
name = "oven hiccup"

[[faults]]
at = 30.0
machine = "oven"
action = "modbus_exception"
code = 6

[[faults]]
at = 40
machine = "oven"
action = "modbus_exception"
clear = true

[[faults]]
at = 50.0
machine = "oven"
action = "raise_alarm"
code = "OV-DOOR"
text = "door open"
severity = "Alarm"

[[faults]]
at = 60.0
machine = "coater"
action = "refuse_recipe"
reason = "operator door open"
"""


def small_line() -> Any:
    return parse_line(
        {
            "machines": [
                {"kind": "reflow_oven", "id": "oven", "options": {"tau": 10.0, "tunnel_mm": 300.0}},
                {"kind": "coater", "id": "coater", "options": {"pty": False}},
            ]
        }
    )


async def run_once(tmp_path: Path) -> tuple[list[AppliedFault], list[tuple[float, tuple[str, int]]]]:
    """Run the scenario on a fresh line with a stepped clock; observe the oven over Modbus TCP."""
    path = tmp_path / "hiccup.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    scenario = load_scenario(path)
    clock = SteppedClock()
    seen: list[tuple[float, tuple[str, int]]] = []
    async with Line(small_line(), clock=clock, start_source=False) as line:
        oven = line.endpoints()[0]
        client = AsyncModbusTcpClient("127.0.0.1", port=oven.port or 0, timeout=WAIT, retries=0)
        await client.connect()
        try:
            task = line.start_scenario(scenario)
            for moment in (29.0, 35.0, 45.0, 55.0, 65.0):
                await clock.run_for(moment - clock.now())
                state = await client.read_input_registers(IR_STATE, count=1)
                if state.isError():
                    seen.append((clock.now(), ("exception", state.exception_code)))
                else:
                    alarms = await client.read_input_registers(IR_ALARMS, count=2)
                    word = alarms.registers[0] << 16 | alarms.registers[1]
                    seen.append((clock.now(), ("alarms", word)))
            applied = await asyncio.wait_for(task, WAIT)
            with pytest.raises(RecipeRefused, match="operator door open"):
                line.machine("coater").recipes.check("ACRYLIC-50")
            assert "OV-DOOR" in line.machine("oven").faults
        finally:
            client.close()
    return applied, seen


async def test_scenario_faults_are_observable_and_reproducible(tmp_path: Path) -> None:
    """At the scheduled simulated times a Modbus client sees device-busy exceptions, then normal
    answers, then the injected alarm's bit; a second run on a fresh line does exactly the same."""
    first, seen = await run_once(tmp_path)
    again, seen_again = await run_once(tmp_path)
    assert [(a.at, a.step.action) for a in first] == [
        (30.0, "modbus_exception"),
        (40.0, "modbus_exception"),
        (50.0, "raise_alarm"),
        (60.0, "refuse_recipe"),
    ]
    assert [(a.at, a.step) for a in again] == [(a.at, a.step) for a in first]
    assert seen == seen_again
    injected = 1 << OTHER_ALARM_BIT  # OV-DOOR is not in the oven's table: the "other" bit
    assert [when for when, _ in seen] == [29.0, 35.0, 45.0, 55.0, 65.0]
    kinds = [(kind, value if kind == "exception" else bool(value & injected)) for _, (kind, value) in seen]
    assert kinds == [
        ("alarms", False),
        ("exception", 6),
        ("alarms", False),
        ("alarms", True),
        ("alarms", True),
    ]


def test_every_action_maps_onto_a_simulator_method() -> None:
    """Each action can be done by at least one shipped machine kind (no dead entries)."""
    classes = machine_classes(
        parse_line(
            {
                "machines": [
                    {"kind": "reflow_oven", "id": "o"},
                    {"kind": "selective_solder", "id": "s"},
                    {"kind": "coater", "id": "c"},
                    {"kind": "ict", "id": "t"},
                ]
            }
        )
    )
    for action in ACTIONS:
        doable = []
        for machine_id in classes:
            steps = parse_scenario(
                {"faults": [{"at": 0, "machine": machine_id, "action": action, **_required(action)}]}
            )
            try:
                steps.check(classes)
            except ConfigError:
                continue
            doable.append(machine_id)
        assert doable, action


def _required(action: str) -> dict[str, Any]:
    samples = {str: "X1", float: 1.0, int: 1, bool: True}
    return {name: samples[p.kind] for name, p in ACTIONS[action].params.items() if p.required}


@pytest.mark.parametrize(
    ("fault", "key", "problem"),
    [
        ({"machine": "oven", "action": "drop_connection"}, "faults[0].at", "is required"),
        ({"at": -1, "machine": "oven", "action": "drop_connection"}, "faults[0].at", ">= 0"),
        ({"at": 1, "machine": "oven", "action": "explode"}, "faults[0].action", "unknown action"),
        ({"at": 1, "machine": "oven", "action": "delay"}, "faults[0].seconds", "needs"),
        (
            {"at": 1, "machine": "oven", "action": "delay", "seconds": "soon"},
            "faults[0].seconds",
            "must be float",
        ),
        (
            {"at": 1, "machine": "oven", "action": "go_silent", "volume": 0},
            "faults[0].volume",
            "takes no key",
        ),
        (
            {"at": 1, "machine": "oven", "action": "raise_alarm", "code": "A", "severity": "Bad"},
            "faults[0].severity",
            "one of",
        ),
    ],
)
def test_scenario_file_errors_name_file_and_key(fault: dict[str, Any], key: str, problem: str) -> None:
    """A wrong step is a ConfigError naming the scenario file and the step's key path."""
    with pytest.raises(ConfigError) as caught:
        parse_scenario({"faults": [fault]}, path="faults.toml")
    assert (caught.value.path, caught.value.key) == ("faults.toml", key)
    assert problem in caught.value.problem


def test_scenario_is_checked_against_the_line(tmp_path: Path) -> None:
    """A step on a machine the line lacks, or an action its kind cannot do, is refused up front."""
    classes = machine_classes(small_line())
    missing = parse_scenario(
        {"faults": [{"at": 1, "machine": "mixer", "action": "drop_connection"}]}, path="s.toml"
    )
    with pytest.raises(ConfigError) as caught:
        missing.check(classes)
    assert (caught.value.key, "no machine 'mixer'" in caught.value.problem) == ("faults[0].machine", True)
    wrong = Scenario(
        parse_scenario({"faults": [{"at": 1, "machine": "coater", "action": "modbus_exception"}]}).steps,
        path="s.toml",
    )
    with pytest.raises(ConfigError, match="cannot do modbus_exception") as caught:
        wrong.check(classes)
    assert (caught.value.path, caught.value.key) == ("s.toml", "faults[0].action")
    (tmp_path / "broken.toml").write_text("faults = [", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        load_scenario(tmp_path / "broken.toml")
    assert caught.value.path == str(tmp_path / "broken.toml")
