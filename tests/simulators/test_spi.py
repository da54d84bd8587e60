"""The SPI simulator, read by an independent CFX listener as spi.md describes it (stepped clock)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from protocols.cfx import (
    Envelope,
    InspectionMethod,
    NumericMeasurement,
    SolderPasteMeasurement,
    UnitsDeparted,
    UnitsInspected,
    WorkCompleted,
    WorkStarted,
)
from protocols.cfx import TestResult as Verdict
from protocols.cfx.transport import CFXListener
from protocols.errors import ConfigError
from simulators import Board, Handoff, Line, SolderPasteInspection, SteppedClock, parse_line
from simulators.spi_pads import INSPECTION_PROGRAMS, Limits, inspection, measure
from tests.simulators.test_placement import EVENTS, Inbox, feed
from tests.simulators.test_printer import findings

# Every simulator here runs on the plugin's virtual_clock, stepped: time moves only when the test says.
pytestmark = pytest.mark.linegate_clock(stepped=True)

HANDLE = "Test.SPI3D.2"


@pytest.fixture
async def inbox() -> AsyncIterator[Inbox]:
    async with CFXListener(event_addresses=[EVENTS]) as listener:
        yield Inbox(listener)


async def run_boards(inbox: Inbox, virtual_clock: SteppedClock, count: int, **options: Any) -> list[Envelope]:
    """Feed ``count`` boards (SN-1 ...) through an SPI built with ``options``; return what it published."""
    handoff = Handoff()
    async with SolderPasteInspection(
        handle=HANDLE,
        clock=virtual_clock,
        board_in=handoff,
        publish_uri=inbox.listener.uri,
        publish_address=EVENTS,
        spread=0.0,
        **options,
    ) as spi:
        feeding = asyncio.create_task(feed(handoff, [Board(barcode=f"SN-{n}") for n in range(1, count + 1)]))
        await virtual_clock.run_until(lambda: spi.boards_done == count, within=120 * count)
        await feeding
        return await inbox.until(UnitsDeparted, count)


def inspected(envelopes: list[Envelope]) -> list[UnitsInspected]:
    return [e.body for e in envelopes if isinstance(e.body, UnitsInspected)]


async def test_every_pad_is_measured_with_limits_in_the_boards_transaction(
    inbox: Inbox, virtual_clock: SteppedClock
) -> None:
    """UnitsInspected per board: one Inspection per pad, deposit + 5 judged quantities with limits."""
    read = await run_boards(inbox, virtual_clock, 2)
    started = [e.body for e in read if isinstance(e.body, WorkStarted)]
    completed = [e.body for e in read if isinstance(e.body, WorkCompleted)]
    reports = inspected(read)
    assert len(reports) == 2
    pads = INSPECTION_PROGRAMS[0][2]
    assert len(pads) == 10 * 2 + 8 * 2 + 2 * 2 + 48  # PCB-CTRL-A: 0402s, 0603s and a QFN48
    for start, report, done in zip(started, reports, completed, strict=True):
        assert start.transaction_id == report.transaction_id == done.transaction_id
        assert report.inspection_method == InspectionMethod.SPI
        assert (report.recipe_name, report.recipe_revision) == ("PCB-CTRL-A", "1")
        [unit] = report.inspected_units or []
        assert unit.unit_identifier == start.primary_identifier
        assert unit.overall_result == Verdict.PASSED and unit.total_inspection_count == len(pads)
        inspections = unit.inspections or []
        assert [i.inspection_name for i in inspections] == [p.name for p in pads]
        first = inspections[0]
        deposit, *judged = first.measurements or []
        assert isinstance(deposit, SolderPasteMeasurement) and deposit.crds == "R1"
        assert deposit.ea == pytest.approx(0.5 * 0.55)
        assert deposit.e_vol == pytest.approx(0.5 * 0.55 * 0.125, abs=1e-5)
        assert [m.measurement_name for m in judged] == ["Volume", "Area", "Height", "OffsetX", "OffsetY"]
        volume = judged[0]
        assert isinstance(volume, NumericMeasurement) and volume.measured_value is not None
        value = volume.measured_value
        assert (value.minimum_acceptable_value, value.maximum_acceptable_value, value.value_units) == (
            70.0,
            150.0,
            "%",
        )
        assert all(i.result == Verdict.PASSED and not i.defects_found for i in inspections)
    assert findings(read) == []  # $type on every measurement, nothing the SDK would write differently


async def test_the_configured_board_fails_with_its_pads_named(
    inbox: Inbox, virtual_clock: SteppedClock
) -> None:
    """fail_boards = [2]: board 2 fails, its two bad pads carry a Defect naming the component."""
    read = await run_boards(inbox, virtual_clock, 3, fail_boards=[2], defect_pads=2)
    results = [(r.inspected_units or [])[0] for r in inspected(read)]
    assert [u.overall_result for u in results] == [Verdict.PASSED, Verdict.FAILED, Verdict.PASSED]
    failed_unit = results[1]
    assert failed_unit.unit_identifier == "SN-2"
    bad = [i for i in failed_unit.inspections or [] if i.result == Verdict.FAILED]
    assert len(bad) == 2
    for pad in bad:
        [defect] = pad.defects_found or []
        assert defect.defect_code == "InsufficientSolder" and defect.defect_category == "SolderPaste"
        assert defect.component_of_interest is not None
        assert pad.inspection_name is not None
        assert defect.component_of_interest.reference_designator == pad.inspection_name.split(".")[0]
        assert pad.inspection_name in (defect.description or "")
        names = {m.measurement_name for m in defect.related_measurements or []}
        assert "Volume" in names
    assert findings(read) == []


async def test_defect_rate_fails_about_that_share_of_boards(
    inbox: Inbox, virtual_clock: SteppedClock
) -> None:
    """defect_rate = 0.5 over 12 boards: some fail, some pass, reproducibly from the seed."""
    read = await run_boards(inbox, virtual_clock, 12, defect_rate=0.5, seed=7, defect_kind="offset")
    outcomes = [(r.inspected_units or [])[0].overall_result for r in inspected(read)]
    assert 2 <= outcomes.count(Verdict.FAILED) <= 10
    failing = [
        i
        for r in inspected(read)
        for i in (r.inspected_units or [])[0].inspections or []
        if i.result == Verdict.FAILED
    ]
    assert {d.defect_code for i in failing for d in i.defects_found or []} == {"SolderPasteOffset"}


def test_pad_judgement_follows_the_limits() -> None:
    """A deposit inside every limit passes; insufficient, excess, offset fail on their quantity."""
    rng = random.Random(3)
    pad = INSPECTION_PROGRAMS[0][2][0]
    at = datetime(2026, 1, 1, tzinfo=UTC)
    limits = Limits()
    assert measure(rng, pad).failures(limits) == []
    assert "Volume" in measure(rng, pad, defect="insufficient").failures(limits)
    excess = inspection(measure(rng, pad, defect="excess"), limits, 1, at)
    assert [d.defect_code for d in excess.defects_found or []] == ["ExcessSolder"]
    offset = measure(rng, pad, defect="offset")
    assert offset.failures(limits) == ["OffsetX"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"defect_rate": 1.5}, "defect_rate"),
        ({"fail_boards": [0]}, "fail_boards"),
        ({"defect_pads": 0}, "defect_pads"),
        ({"defect_kind": "smudge"}, "defect_kind"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SolderPasteInspection(**options)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"fail_boards": [0]}, "fail_boards must list board numbers from 1"),
        ({"fail_boards": "7"}, "fail_boards must list board numbers from 1"),
        ({"defect_rate": 5}, "defect_rate must be between 0 and 1"),
    ],
)
async def test_bad_spi_options_in_a_line_file_name_the_machine(options: dict[str, Any], problem: str) -> None:
    """The line refuses to start, naming the file, the machine's key path and what is wrong."""
    spec = parse_line({"machines": [{"kind": "spi", "id": "spi", "options": options}]}, path="lines/bad.toml")
    with pytest.raises(ConfigError, match=problem) as caught:
        async with Line(spec):
            pass
    assert (caught.value.path, caught.value.key) == ("lines/bad.toml", "machines[0]")


def test_an_unknown_spi_option_is_refused_when_the_line_file_is_read() -> None:
    with pytest.raises(ConfigError, match="no option 'fail_board'") as caught:
        parse_line({"machines": [{"kind": "spi", "id": "spi", "options": {"fail_board": [7]}}]})
    assert caught.value.key == "machines[0].options.fail_board"
