"""Interlock decisions over the trace store, and holds, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import main
from gateway.trace import Store, ingest
from gateway.trace.control import ControlConfig, Rule
from gateway.trace.holds import HoldError, board_history, place_hold, release_hold
from gateway.trace.service import TraceService
from tests.gateway.trace.conftest import envelope, visit

PRINTER, SPI, PLACER, OVEN = "Acme.Printer.1", "Acme.SPI.1", "Acme.Placer.1", "Acme.Oven.1"
HANDLES = {"printer": PRINTER, "spi": SPI, "placer": PLACER, "oven": OVEN}
RULES = (
    Rule("spi-before-placement", "route", "placer", "spi"),
    Rule("spi-or-repaired-before-reflow", "route", "oven", "spi", frozenset({"passed", "repaired"})),
)


def inspected(machine: str, unit: str, result: str, seconds: float) -> Any:
    return envelope(
        "CFX.Production.TestAndInspection.UnitsInspected",
        machine,
        seconds,
        {"InspectionMethod": "SPI", "InspectedUnits": [{"UnitIdentifier": unit, "OverallResult": result}]},
    )


def repaired(unit: str, seconds: float) -> Any:
    return envelope(
        "CFX.Production.ReworkAndRepair.UnitsRepaired",
        "Acme.Rework.1",
        seconds,
        {"RepairedUnits": [{"UnitIdentifier": unit, "OverallResult": "RepairSuccessful"}]},
    )


async def line_with(store: Store, *boards: tuple[str, str]) -> None:
    """Each (barcode, SPI result) through the printer and the SPI."""
    envelopes = []
    for index, (barcode, result) in enumerate(boards):
        start = index * 10
        envelopes += visit(PRINTER, barcode, f"H-{barcode}", start)
        envelopes += visit(SPI, barcode, f"H-{barcode}", start + 4)
        envelopes.append(inspected(SPI, barcode, result, start + 6))
    await store.run(lambda: ingest(envelopes))


def service(store: Store) -> TraceService:
    return TraceService(store, ControlConfig(rules=RULES), HANDLES, settle_timeout=0.05)


async def test_the_board_that_failed_spi_is_refused_at_placement(store: Store) -> None:
    await line_with(store, ("SN-1", "Passed"), ("SN-2", "Failed"))
    control = service(store)
    assert (await control.decide("placer", ["H-SN-1"], via="test")).allowed
    refused = await control.decide("placer", ["SN-2"], via="test")
    assert refused.rule == "spi-before-placement" and "is failed, needs passed" in refused.reason
    assert control.refused == 1 and control.status()["refusals"][0]["board"] == "SN-2"
    # A repair after the failed inspection satisfies the reflow rule, not the placement rule.
    await store.run(lambda: ingest([repaired("SN-2", 30)]))
    assert (await control.decide("oven", ["SN-2"], via="test")).allowed
    assert not (await control.decide("placer", ["SN-2"], via="test")).allowed


async def test_an_unknown_board_is_refused_by_a_route_rule_and_passes_elsewhere(store: Store) -> None:
    control = service(store)
    decision = await control.decide("placer", ["SN-NEVER-SEEN"], via="test")
    assert decision.rule == "spi-before-placement" and "is skipped" in decision.reason
    assert (await control.decide("printer", ["SN-NEVER-SEEN"], via="test")).allowed


async def test_a_reused_barcode_is_decided_for_its_newest_board(store: Store) -> None:
    await line_with(store, ("SN-9", "Passed"))
    # The barcode comes back on another board (another Hermes BoardId) that failed SPI.
    await store.run(
        lambda: ingest([*visit(SPI, "SN-9", "H-other", 100), inspected(SPI, "SN-9", "Failed", 102)])
    )
    history, _ = await store.run(lambda: board_history(["SN-9"]))
    assert "H-other" in history.identifiers and history.steps[SPI].outcome == "failed"


async def test_holds_refuse_everywhere_until_released(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    await line_with(store, ("SN-1", "Passed"))
    material = envelope(
        "CFX.Production.Assembly.MaterialsInstalled",
        SPI,
        7,
        {
            "InstalledMaterials": [
                {"UnitIdentifier": "SN-1", "Material": {"UniqueIdentifier": "REEL-42", "BatchId": "LOT-9"}}
            ]
        },
    )
    await store.run(lambda: ingest([material]))
    control = service(store)
    for kind, value in (("board", "SN-1"), ("reel", "REEL-42"), ("lot", "LOT-9")):
        hold, created = await control.hold(kind, value, "recall", "OP-1")
        assert created and hold.value == value
        _, again = await control.hold(kind, value, "twice", "OP-2")
        assert not again
        for machine in ("printer", "placer", "oven"):
            decision = await control.decide(machine, ["H-SN-1"], via="test")
            assert decision.rule == "hold" and f"{kind} {value} is on hold" in decision.reason
        released = await control.release(kind, value, "OP-1")
        assert [h.value for h in released] == [value]
    assert (await control.decide("placer", ["SN-1"], via="test")).allowed


async def test_a_hold_on_something_unknown_is_refused(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    await line_with(store, ("SN-1", "Passed"))
    for kind in ("board", "reel", "lot"):
        with pytest.raises(HoldError, match="nothing to hold") as caught:
            await store.run(partial(place_hold, kind, "NOPE", None, None))
        assert caught.value.not_found
    with pytest.raises(HoldError, match="is on hold") as caught:
        await store.run(lambda: release_hold("board", "SN-1", None))
    assert caught.value.not_found
    with pytest.raises(HoldError, match="board, reel or lot"):
        await store.run(lambda: place_hold("pallet", "SN-1", None, None))


def test_cli_hold_release_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from gateway.trace import SqliteStore

    db = tmp_path / "trace.db"

    async def fill() -> None:
        async with SqliteStore(db) as store:
            await line_with(store, ("SN-1", "Passed"))

    asyncio.run(fill())
    base = ["--db", str(db)]
    assert main(["trace", "hold", "board", "SN-1", "--reason", "x-ray", "--by", "OP-3", *base]) == 0
    assert "board SN-1 on hold" in capsys.readouterr().out
    assert main(["trace", "holds", "--json", *base]) == 0
    holds = json.loads(capsys.readouterr().out)["holds"]
    assert [(h["kind"], h["value"], h["reason"], h["held_by"]) for h in holds] == [
        ("board", "SN-1", "x-ray", "OP-3")
    ]
    assert main(["trace", "hold", "reel", "REEL-NONE", *base]) == 1
    assert "no reel 'REEL-NONE' in the trace store" in capsys.readouterr().err
    assert main(["trace", "release", "board", "SN-1", *base]) == 0
    assert main(["trace", "release", "board", "SN-1", *base]) == 1
    assert "no board 'SN-1' is on hold" in capsys.readouterr().err
    assert main(["trace", "holds", "--db", str(tmp_path / "missing.db")]) == 1
    logging.getLogger().handlers.clear()
