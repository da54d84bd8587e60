"""The printer and the SPI in a line, through the gateway (issue 16).

``simulators/lines/print-inspect.toml`` runs printer → SPI → placement → reflow oven with real
Hermes lanes between them. The printer and the SPI publish over real AMQP 1.0 (127.0.0.1) to
the gateway's CFX relay (the CFX-native adapter), which forwards their envelopes unchanged; the
recipe service changes them over through their own request listeners. What reaches the sinks is
checked against the SDK catalogue's validator byte for byte.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

import simulators
from gateway.outbox import StoredEvent
from gateway.testing.events import CFXEventCollector
from gateway.testing.harness import LinegateGateway
from protocols.cfx import validate_bytes
from simulators import SolderPasteInspection, SolderPastePrinter

LINE = Path(simulators.__file__).parent / "lines" / "print-inspect.toml"
PRINTER, SPI = "linegate.printer.1", "linegate.spi.1"

pytestmark = pytest.mark.timeout(120)


class Payloads:
    """A sink that keeps every payload as the gateway stores it (the bytes a broker would get)."""

    name = "payloads"

    def __init__(self) -> None:
        self.events: list[StoredEvent] = []

    async def publish(self, batch: list[StoredEvent]) -> None:
        self.events.extend(batch)


@pytest.fixture
def payloads() -> Payloads:
    return Payloads()


@pytest.fixture
def linegate_sinks(payloads: Payloads) -> list[Any]:
    return [payloads]


def bodies(cfx_events: CFXEventCollector, name: str, source: str) -> list[dict[str, Any]]:
    return [e["MessageBody"] for e in cfx_events.of(name, source=source)]


@pytest.mark.linegate_line(str(LINE), boards=4, time_scale=400.0)
async def test_printer_and_spi_report_every_board_through_the_relay(
    linegate_gateway: LinegateGateway, cfx_events: CFXEventCollector, payloads: Payloads
) -> None:
    """Boards flow on Hermes; per board the printer's process data and the SPI's pad results
    reach the sinks in the board's transaction; the 3rd board fails SPI with its pads named."""
    departed = await linegate_gateway.line.wait_departed(4, timeout=60)
    await cfx_events.wait_for("CFX.ResourcePerformance.SolderPastePrinting.StencilCleaned", source=PRINTER)
    await linegate_gateway.wait_delivered("payloads")

    # Hermes: each machine saw the same BoardIds in the same order as the line's exit.
    for source in (PRINTER, SPI, "linegate.placement.1"):
        started = bodies(cfx_events, "CFX.Production.WorkStarted", source)
        assert [b["HermesIdentifier"] for b in started][:4] == departed

    # The printer: WorkStarted / UnitsProcessed / WorkCompleted per board, one transaction.
    started = bodies(cfx_events, "CFX.Production.WorkStarted", PRINTER)
    processed = bodies(cfx_events, "CFX.Production.Processing.UnitsProcessed", PRINTER)
    completed = bodies(cfx_events, "CFX.Production.WorkCompleted", PRINTER)
    assert len(processed) >= 4
    for start, report, done in zip(started[:4], processed, completed, strict=False):
        assert start["TransactionID"] == report["TransactionId"] == done["TransactionID"]
        data = report["CommonProcessData"]
        assert data["$type"] == "CFX.Structures.SolderPastePrinting.SolderPastePrintingPCBProcessData, CFX"
        assert data["RecipeName"] == "PCB-CTRL-A" and data["Strokes"][0]["PrintSpeed"] == 60.0
    [cleaned] = bodies(cfx_events, "CFX.ResourcePerformance.SolderPastePrinting.StencilCleaned", PRINTER)
    assert cleaned["CyclesSinceLastClean"] == 4  # clean_every = 4 in the line file
    states = [
        b["NewState"] for b in bodies(cfx_events, "CFX.ResourcePerformance.StationStateChanged", PRINTER)
    ]
    assert "4300" in states

    # The SPI: one UnitsInspected per board, in its transaction; board 3 fails on two pads.
    spi_started = bodies(cfx_events, "CFX.Production.WorkStarted", SPI)
    inspected = bodies(cfx_events, "CFX.Production.TestAndInspection.UnitsInspected", SPI)
    assert [b["TransactionId"] for b in inspected[:4]] == [b["TransactionID"] for b in spi_started[:4]]
    units = [b["InspectedUnits"][0] for b in inspected[:4]]
    assert [u["UnitIdentifier"] for u in units] == [b["PrimaryIdentifier"] for b in spi_started[:4]]
    assert [u["OverallResult"] for u in units] == ["Passed", "Passed", "Failed", "Passed"]
    failing = [i for i in units[2]["Inspections"] if i["Result"] == "Failed"]
    spi = linegate_gateway.line.machine("spi", SolderPasteInspection)
    assert [i["InspectionName"] for i in failing] == spi.results[2][1] and len(failing) == 2
    for pad in failing:
        [defect] = pad["DefectsFound"]
        designator = pad["InspectionName"].split(".")[0]
        assert defect["ComponentOfInterest"]["ReferenceDesignator"] == designator
        limits = {m["MeasurementName"]: m for m in defect["RelatedMeasurements"]}
        volume = limits["Volume"]["MeasuredValue"]
        assert volume["Value"] < volume["MinimumAcceptableValue"] == 70.0

    # Relayed unchanged, and what the SDK would write: no finding in any printer or SPI envelope.
    ours = [e for e in payloads.events if e.source in (PRINTER, SPI)]
    assert {e.message_name for e in ours} >= {
        "CFX.Production.Processing.UnitsProcessed",
        "CFX.Production.TestAndInspection.UnitsInspected",
        "CFX.ResourcePerformance.SolderPastePrinting.StencilCleaned",
        "CFX.EndpointConnected",
        "CFX.Heartbeat",
    }
    found = [(e.message_name, validate_bytes(e.payload)) for e in ours]
    assert [f for f in found if f[1]] == []
    assert all(orjson.loads(e.payload)["Source"] == e.source for e in ours)


@pytest.mark.linegate_line(str(LINE), boards=1, time_scale=400.0)
async def test_a_line_changeover_activates_print_and_inspection_programs(
    linegate_gateway: LinegateGateway, cfx_events: CFXEventCollector
) -> None:
    """The recipe service switches printer and SPI over their own CFX request listeners, verified."""
    await linegate_gateway.line.wait_departed(1, timeout=60)
    outcomes = await asyncio.wait_for(linegate_gateway.recipes.changeover("PSU-24V-R1"), 60)
    by_machine = {o.machine_id: o for o in outcomes}
    assert by_machine["printer"].ok and by_machine["spi"].ok, outcomes
    for source in (PRINTER, SPI):
        activated = await cfx_events.wait_for(
            "CFX.Production.RecipeActivated", where={"RecipeName": "PCB-PWR-B"}, source=source, timeout=20
        )
        assert activated["MessageBody"]["Revision"] == "1"
    printer = linegate_gateway.line.machine("printer", SolderPastePrinter)
    spi = linegate_gateway.line.machine("spi", SolderPasteInspection)
    assert printer.recipes.active is not None and printer.recipes.active.name == "PCB-PWR-B"
    assert spi.recipes.active is not None and spi.recipes.active.name == "PCB-PWR-B"
