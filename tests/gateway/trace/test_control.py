"""The interlock decision (pure) and the ``[trace]`` / ``[[interlock]]`` config sections."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import parse_config
from gateway.trace.control import (
    HOLD_RULE,
    History,
    Hold,
    Rule,
    Step,
    decide,
    parse_control,
    resolve,
    step_outcome,
)
from protocols.errors import ConfigError

S = 1_000_000
SPI_BEFORE_PLACER = Rule("spi-before-placement", "route", "placer", "spi")
AOI_BEFORE_OVEN = Rule("aoi-before-reflow", "route", "oven", "aoi", frozenset({"passed", "repaired"}))
PASTE_TO_OVEN = Rule("paste-to-reflow", "time_limit", "oven", "printer", within_s=1800)
RULES = (SPI_BEFORE_PLACER, AOI_BEFORE_OVEN, PASTE_TO_OVEN)


def board(**steps: tuple[str, int | None]) -> History:
    return History(
        1,
        frozenset({"SN-1", "H-1"}),
        {m: Step(m, outcome, at) for m, (outcome, at) in steps.items()},
        frozenset({"REEL-42"}),
        frozenset({"LOT-9"}),
    )


def test_a_board_that_passed_spi_may_enter_placement() -> None:
    assert decide(board(spi=("passed", 10 * S)), "placer", 20 * S, RULES).allowed


@pytest.mark.parametrize("outcome", ["failed", "open", None])
def test_a_board_that_failed_or_skipped_spi_is_refused_naming_the_rule(outcome: str | None) -> None:
    history = board(spi=(outcome, 10 * S)) if outcome else board()
    decision = decide(history, "placer", 20 * S, RULES)
    assert not decision.allowed and decision.rule == "spi-before-placement"
    assert f"is {outcome or 'skipped'}, needs passed" in decision.reason


def test_repaired_counts_where_the_rule_accepts_it() -> None:
    ok = board(aoi=("repaired", 10 * S), printer=("passed", 0))
    assert decide(ok, "oven", 20 * S, RULES).allowed
    refused = decide(board(spi=("repaired", 0)), "placer", S, RULES)
    assert refused.rule == "spi-before-placement"


def test_time_limit_from_the_step_to_the_machine() -> None:
    history = board(aoi=("passed", 100 * S), printer=("passed", 0))
    assert decide(history, "oven", 1800 * S, RULES).allowed
    late = decide(history, "oven", 1801 * S, RULES)
    assert late.rule == "paste-to-reflow" and "1801 s since printer" in late.reason


def test_holds_come_first_and_match_identifiers_reels_and_lots() -> None:
    history = board(spi=("passed", 0))
    for kind, value in (("board", "H-1"), ("reel", "REEL-42"), ("lot", "LOT-9")):
        hold = Hold(1, kind, value, "recall", "OP-1", 0)
        decision = decide(history, "placer", S, RULES, [hold])
        assert decision.rule == HOLD_RULE and f"{kind} {value} is on hold by OP-1 (recall)" == decision.reason
    other = Hold(2, "reel", "REEL-7", None, None, 0)
    assert decide(history, "placer", S, RULES, [other]).allowed


def test_a_machine_without_rules_lets_every_board_pass() -> None:
    assert decide(History(None), "coater", S, RULES).allowed


def test_step_outcomes() -> None:
    assert step_outcome("Completed", True, None, None, []) == "passed"
    assert step_outcome("Failed", True, None, None, []) == "failed"
    assert step_outcome(None, False, None, None, []) == "open"
    assert step_outcome("Completed", True, "Failed", 5, [(6, "RepairSuccessful")]) == "repaired"
    assert step_outcome("Completed", True, "Failed", 5, [(4, "RepairSuccessful")]) == "failed"
    assert step_outcome("Completed", True, "Failed", 5, [(6, "UnableToRepair")]) == "failed"
    assert step_outcome("Completed", True, "Passed", 5, []) == "passed"


def test_resolve_names_machines_by_handle() -> None:
    (rule,) = resolve([SPI_BEFORE_PLACER], {"placer": "A.P.1", "spi": "A.S.1"})
    assert (rule.machine, rule.after) == ("A.P.1", "A.S.1")


BASE: dict[str, Any] = {
    "line": {"name": "Line 1"},
    "machines": [
        {"id": m, "handle": f"Acme.{m}.1", "protocol": "modbus", "connection": {"host": "h"}, "map": "m.toml"}
        for m in ("printer", "spi", "placer", "oven")
    ],
}


def parse(**sections: Any) -> Any:
    return parse_config({**BASE, **sections}, path="/etc/line.toml")


def test_config_sections_parse_into_rules() -> None:
    config = parse(
        trace={"db": "trace.sqlite", "liquidus": 220},
        interlock=[
            {"name": "spi-before-placement", "machine": "placer", "after": "spi"},
            {"name": "aoi", "machine": "oven", "after": "spi", "results": ["passed", "repaired"]},
            {"name": "paste", "kind": "time_limit", "machine": "oven", "after": "printer", "within": 1800},
        ],
    )
    control = config.control
    assert control.db == "/etc/trace.sqlite" and control.liquidus_c == 220.0
    assert control.handle == "Linegate.Control.Line_1"
    assert [r.name for r in control.rules] == ["spi-before-placement", "aoi", "paste"]
    assert control.rules[1].results == {"passed", "repaired"} and control.rules[2].within_s == 1800.0
    assert parse().control is None


@pytest.mark.parametrize(
    ("sections", "key", "problem"),
    [
        ({"trace": {"bogus": 1}}, "trace.bogus", "unknown key"),
        ({"trace": {"handle": "nodots"}}, "trace.handle", "CFX handle"),
        ({"interlock": [{"name": "r", "machine": "nope", "after": "spi"}]}, "interlock[0].machine", "nope"),
        ({"interlock": [{"name": "r", "machine": "spi", "after": "spi"}]}, "interlock[0].after", "differ"),
        ({"interlock": [{"machine": "placer", "after": "spi"}]}, "interlock[0].name", "required"),
        ({"interlock": [{"name": "hold", "machine": "oven", "after": "spi"}]}, "interlock[0].name", "taken"),
        (
            {"interlock": [{"name": "r", "machine": "placer", "after": "spi", "results": ["ok"]}]},
            "interlock[0].results",
            "passed",
        ),
        (
            {"interlock": [{"name": "r", "kind": "time_limit", "machine": "oven", "after": "printer"}]},
            "interlock[0].within",
            "positive",
        ),
        (
            {"interlock": [{"name": "r", "kind": "x", "machine": "oven", "after": "a"}]},
            "interlock[0].kind",
            "x",
        ),
    ],
)
def test_config_errors_name_the_key(sections: dict[str, Any], key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(**sections)
    assert caught.value.key == key and problem in str(caught.value)


def test_parse_control_alone() -> None:
    assert parse_control({}, path="x", machines=[], line="l") is None
