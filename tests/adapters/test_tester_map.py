"""Tester maps: the built-in FCT map loads, another tester's lines are read as its map says (tags,
unit field, each line's fields, result words), every mistake in a map is a ConfigError naming its
key path, and ``linegate check`` takes a tester's map as it takes any other."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

import pytest

from adapters import observations as obs
from adapters.base import ReconnectPolicy
from adapters.maps import TesterMap, builtin_map, parse_map
from adapters.serial_reports import TestReportAdapter
from gateway.assemble import check_line
from gateway.config import load_config
from protocols.errors import ConfigError
from simulators import FunctionalTester, SteppedClock
from tests.adapters.recorder import Recorder

FAST = ReconnectPolicy(base=0.05, cap=0.2)

# A rack tester whose manual spells everything differently from the simulated FCT.
RACK = """
[machine]
protocol = "tester"
model = "RackTest 4"

[lines]
method = "BST"
unit = "SERIAL"
start = "BEGIN"
step = "MEAS"
end = "DONE"

[start]
recipe = "PROGRAM"
panel = "PANEL"

[step]
name = "TEST"
value = "VALUE"
low = "MIN"
high = "MAX"
result = "VERDICT"

[end]
result = "VERDICT"

[words]
passed = ["ok", "GO"]
failed = ["NOK"]
"""


def _map(text: str) -> TesterMap:
    result = parse_map(tomllib.loads(text), path="rack.toml")
    assert isinstance(result, TesterMap)
    return result


def test_the_builtin_fct_map_reads_the_simulators_lines() -> None:
    fct = builtin_map("fct_lines")
    assert isinstance(fct, TesterMap)
    assert (fct.method, fct.unit, fct.start, fct.step, fct.end) == ("FCT", "SN", "TS", "TR", "TE")
    assert fct.start_fields == {"panel": "PANEL", "position": "POS", "recipe": "PROG"}
    assert fct.step_fields["value"] == "VAL" and fct.end_fields == {"result": "RES"}
    assert fct.outcome("pass") is obs.Outcome.PASSED and fct.outcome("FAIL") is obs.Outcome.FAILED
    assert fct.outcome("MAYBE") is None and fct.outcome(None) is None


async def test_another_testers_lines_are_read_as_its_map_says() -> None:
    rack = _map(RACK)
    assert rack.outcome("OK") is obs.Outcome.PASSED
    assert rack.outcome("PASS") is None  # the map's words for a result replace the defaults
    clock = SteppedClock()
    # The simulated tester's link carries whatever lines the test sends: the rack tester's here.
    async with FunctionalTester(clock=clock, pty=False) as device:
        adapter = TestReportAdapter(
            "rack", url=f"socket://127.0.0.1:{device.tcp_port}", tester_map=rack, policy=FAST
        )
        recorder = Recorder()
        running = asyncio.create_task(adapter.run(recorder))
        try:
            await adapter.wait_connected(5)
            await clock.run_until(lambda: device.clients == 1, within=10)
            for line in (
                "BEGIN:SERIAL=U1;PANEL=P1;PROGRAM=RACK-A",
                "MEAS:SERIAL=U1;TEST=VBAT;VALUE=3.7;MIN=3.5;MAX=3.9;VERDICT=ok",
                "MEAS:SERIAL=U1;TEST=IQ;VALUE=0.9;MAX=0.5;VERDICT=NOK",
                "TS:SN=U2;PROG=X",  # the simulated FCT's tag: not this tester's
                "MEAS:SERIAL=U9;TEST=VBAT;VALUE=3.7",  # a step of a unit that never began
                "MEAS:SERIAL=U1;TEST=VBAT;VERDICT=ok",  # no value
                "DONE:SERIAL=U1;VERDICT=NOK",
                "BEGIN:SERIAL=U2",
                "DONE:SERIAL=U2;VERDICT=weird",  # a word the map does not know: an error
            ):
                device.send(line)
            await recorder.next(obs.InspectionResult, lambda o: o.barcode == "U2")
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    first, second = [o for o in recorder.seen if isinstance(o, obs.InspectionResult)]
    assert (first.barcode, first.method, first.recipe, first.outcome) == (
        "P1",
        "BST",
        "RACK-A",
        obs.Outcome.FAILED,
    )
    [unit] = first.positions
    assert (unit.barcode, unit.position) == ("U1", 1)
    assert [(m.name, m.value, m.low, m.high, m.outcome) for m in unit.measurements] == [
        ("VBAT", 3.7, 3.5, 3.9, obs.Outcome.PASSED),
        ("IQ", 0.9, None, 0.5, obs.Outcome.FAILED),
    ]
    assert (second.barcode, second.recipe, second.outcome) == ("U2", None, obs.Outcome.ERROR)
    assert adapter.garbage_lines == 3


def test_the_connections_method_overrides_the_maps() -> None:
    adapter = TestReportAdapter("t", url="loop://", tester_map=_map(RACK), method="ICT")
    assert adapter.method == "ICT"
    assert TestReportAdapter("t", url="loop://").method == "FCT"  # the built-in map's


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        (('unit = "SERIAL"\n', ""), "lines.unit", "required"),
        (('end = "DONE"', 'end = "BEGIN"'), "lines.end", "three different tags"),
        (('step = "MEAS"', 'step = "ME;AS"'), "lines.step", "line tag"),
        (('method = "BST"', 'method = "AOI"'), "lines.method", "TestMethod"),
        (('method = "BST"', 'method = "BST"\nsyntax = "json"'), "lines.syntax", "tagged"),
        (('method = "BST"', 'method = "BST"\nmax_open = 0'), "lines.max_open", "at least 1"),
        (('value = "VALUE"\n', ""), "step.value", "required"),
        (('name = "TEST"', 'name = "TEST"\nlimit = "LIM"'), "step.limit", "unknown field"),
        (('recipe = "PROGRAM"', 'recipe = "PRO=GRAM"'), "start.recipe", "line field"),
        (('failed = ["NOK"]', "failed = []"), "words.failed", "list of words"),
        (('failed = ["NOK"]', 'failed = ["NOK"]\nfailled = ["X"]'), "words.failled", "unknown key"),
    ],
)
def test_a_mistake_in_a_tester_map_names_its_key(change: tuple[str, str], key: str, problem: str) -> None:
    before, after = change
    assert before in RACK
    with pytest.raises(ConfigError) as caught:
        _map(RACK.replace(before, after, 1))
    assert caught.value.key == key and problem in caught.value.problem, caught.value


def test_a_map_without_step_fields_is_refused() -> None:
    text = RACK[: RACK.index("[step]")]
    with pytest.raises(ConfigError) as caught:
        _map(text)
    assert caught.value.key == "step" and "required" in caught.value.problem


def _config(tmp_path: Path, map_line: str, protocol: str = "tester") -> Path:
    path = tmp_path / "line.toml"
    path.write_text(
        f"""
[line]
name = "rack"
[outbox]
path = "{tmp_path / "outbox.sqlite"}"
[listener]
port = 0
[http]
port = 0
[[machines]]
id = "rack"
handle = "Acme.Rack.1"
protocol = "{protocol}"
{map_line}
connection = {{ url = "socket://127.0.0.1:9" }}
""",
        encoding="utf-8",
    )
    return path


def test_check_takes_a_testers_map_and_refuses_a_wrong_one(tmp_path: Path) -> None:
    (tmp_path / "rack.toml").write_text(RACK, encoding="utf-8")
    check_line(load_config(_config(tmp_path, 'map = "rack.toml"')))
    check_line(load_config(_config(tmp_path, "")))  # no map: builtin:fct_lines
    with pytest.raises(ConfigError) as caught:
        check_line(load_config(_config(tmp_path, 'map = "builtin:ict_csv"')))
    assert (
        caught.value.key == "machines[0].map"
        and "a tester machine needs a tester map" in caught.value.problem
    )
    (tmp_path / "rack.toml").write_text(RACK.replace('unit = "SERIAL"\n', ""), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        check_line(load_config(_config(tmp_path, 'map = "rack.toml"')))
    assert caught.value.key == "machines[0].map" and "lines.unit" in caught.value.problem
    with pytest.raises(ConfigError) as caught:
        check_line(load_config(_config(tmp_path, 'map = "builtin:fct_lines"', protocol="scanner")))
    assert caught.value.key == "machines[0].map" and "takes no map" in caught.value.problem
