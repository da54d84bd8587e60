"""The whole SMT line through the gateway (issue 16): scanner → printer → SPI → placement → AOI →
reflow → X-ray → selective solder → coater → ICT → FCT, the default line
(``simulators/lines/default.toml``).

Every board's identification, inspection and test results reach the gateway's sinks and the real
RabbitMQ broker (a topic exchange of the test's own), each in the work transaction of the machine
that produced it; the 7th board fails ICT, and its UnitsTested
carries the TransactionID of the ICT's WorkStarted for that board. What the gateway writes is
checked with the SDK catalogue's validator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from adapters.serial_reports import ScannerAdapter
from gateway.http.collect import render_metrics
from gateway.sinks.amqp import AmqpSink
from gateway.testing.events import CFXEventCollector
from gateway.testing.harness import LinegateGateway
from protocols.cfx import validate_bytes
from protocols.cfx.transport import CFXPublisher
from simulators import InCircuitTester
from simulators.inspection_station import AOIStation
from simulators.line import default_line_path
from tests.gateway.test_http import parse_metrics
from tests.gateway.test_http import value as metric
from tests.support.exchange import BROKER, RecordedExchange, recorded_exchange

LINE = default_line_path()
BOARDS = 8
TESTED = "CFX.Production.TestAndInspection.UnitsTested"
INSPECTED = "CFX.Production.TestAndInspection.UnitsInspected"
STARTED = "CFX.Production.WorkStarted"
READ = "CFX.Sensor.Identification.IdentifiersRead"
REPAIRED = "CFX.Production.ReworkAndRepair.UnitsRepaired"

pytestmark = [pytest.mark.broker, pytest.mark.timeout(180)]


@pytest.fixture
async def broker() -> AsyncIterator[RecordedExchange]:
    """A topic exchange of this test's own, and every envelope the gateway published to it."""
    async with recorded_exchange("linegate-test.full-line") as record:
        yield record


@pytest.fixture
async def linegate_sinks(broker: RecordedExchange) -> AsyncIterator[list[Any]]:
    """The gateway publishes to the real broker as well as to the test's collector."""
    async with CFXPublisher(BROKER, exchange=broker.name) as publisher:
        yield [AmqpSink(publisher)]


def bodies(cfx_events: CFXEventCollector, name: str, source: str) -> list[dict[str, Any]]:
    return [e["MessageBody"] for e in cfx_events.of(name, source=source)]


def unit_named(barcode: str) -> Any:
    return lambda e: e["MessageBody"]["TestedUnits"][0]["UnitIdentifier"] == barcode


def repaired_unit(barcode: str) -> Any:
    return lambda e: e["MessageBody"]["RepairedUnits"][0]["UnitIdentifier"] == barcode


def started_by_barcode(cfx_events: CFXEventCollector, source: str) -> dict[str, str]:
    return {b["PrimaryIdentifier"]: b["TransactionID"] for b in bodies(cfx_events, STARTED, source)}


@pytest.mark.linegate_line(str(LINE), boards=BOARDS, time_scale=400.0)
async def test_board_7_fails_ict_in_its_transaction_and_every_result_is_linked(
    linegate_gateway: LinegateGateway, cfx_events: CFXEventCollector, broker: RecordedExchange
) -> None:
    line = linegate_gateway.line
    departed = await line.wait_departed(BOARDS, timeout=120)
    ict = line.machine("ict", InCircuitTester)
    barcodes = [barcode for barcode, _ in ict.results]
    assert len(barcodes) == BOARDS
    handles = linegate_gateway.handles
    await cfx_events.wait_for(TESTED, where=unit_named(barcodes[-1]), source=handles["fct"], timeout=30)
    await cfx_events.wait_for(TESTED, where=unit_named(barcodes[-1]), source=handles["ict"], timeout=30)

    # ICT: one UnitsTested per board, in the ICT's own transaction; only the 7th fails.
    ict_started = started_by_barcode(cfx_events, handles["ict"])
    tested = {b["TestedUnits"][0]["UnitIdentifier"]: b for b in bodies(cfx_events, TESTED, handles["ict"])}
    assert sorted(tested) == sorted(barcodes)
    for barcode, body in tested.items():
        assert body["TestMethod"] == "ICT"
        assert body["TransactionId"] == ict_started[barcode], barcode
    results = [tested[b]["TestedUnits"][0]["OverallResult"] for b in barcodes]
    assert results == ["Passed"] * 6 + ["Failed", "Passed"]
    seventh = tested[barcodes[6]]["TestedUnits"][0]
    [failing] = [t for t in seventh["Tests"] if t["Result"] == "Failed"]
    assert failing["TestName"] == ict.results[6][1][0][1]
    value = failing["Measurements"][0]["MeasuredValue"]
    assert value["Value"] > value["MaximumAcceptableValue"]

    # FCT over serial: every board passes, each in the FCT's transaction.
    fct_started = started_by_barcode(cfx_events, handles["fct"])
    fct = bodies(cfx_events, TESTED, handles["fct"])
    assert sorted(b["TestedUnits"][0]["UnitIdentifier"] for b in fct) == sorted(barcodes)
    assert all(b["TransactionId"] == fct_started[b["TestedUnits"][0]["UnitIdentifier"]] for b in fct)
    assert {b["TestMethod"] for b in fct} == {"FCT"}

    # AOI (XML) and X-ray (CSV) result files: UnitsInspected per board (an AOI board with
    # findings twice: flagged, then reviewed), each in the machine's transaction.
    aoi = line.machine("aoi", AOIStation)
    reviewed = [r.barcode for r in aoi.results if r.findings]
    assert reviewed, "the line file's defect_rate gives some AOI findings"
    for barcode in reviewed:
        await cfx_events.wait_for(
            REPAIRED,
            where=repaired_unit(barcode),
            source=handles["aoi"],
            timeout=30,
        )
    for machine, method, extra in (("aoi", "AOI", len(reviewed)), ("xray", "AXI", 0)):
        started = started_by_barcode(cfx_events, handles[machine])
        await cfx_events.wait_for(
            INSPECTED,
            where=lambda e: e["MessageBody"]["InspectedUnits"][0]["UnitIdentifier"] == barcodes[-1],
            source=handles[machine],
            timeout=30,
        )
        inspected = bodies(cfx_events, INSPECTED, handles[machine])
        assert len(inspected) == BOARDS + extra and {b["InspectionMethod"] for b in inspected} == {method}
        for body in inspected:
            assert body["TransactionId"] == started[body["InspectedUnits"][0]["UnitIdentifier"]]

    # The repair station's verdicts: UnitsRepaired in the AOI's transaction of the board.
    aoi_started = started_by_barcode(cfx_events, handles["aoi"])
    for body in bodies(cfx_events, REPAIRED, handles["aoi"]):
        unit = body["RepairedUnits"][0]
        assert body["TransactionId"] == aoi_started[unit["UnitIdentifier"]]
        assert {r["RepairName"] for r in unit["Repairs"]} <= {"false call cleared", "defect confirmed"}

    # The scanner: one IdentifiersRead per board (double reads dropped), naming its BoardId.
    reads = bodies(cfx_events, READ, handles["scanner"])
    assert [r["PrimaryIdentifier"] for r in reads] == barcodes
    assert [r["HermesIdentifier"] for r in reads] == departed
    scanner = linegate_gateway.gateway.machines["scanner"].adapters[0]
    assert isinstance(scanner, ScannerAdapter) and scanner.double_reads >= 1  # board 3's at least
    _, samples = parse_metrics(render_metrics(linegate_gateway.gateway, None, None))
    counted = metric(samples, "linegate_serial_report_lines_total", machine="scanner", outcome="double_read")
    assert counted == scanner.double_reads
    assert metric(samples, "linegate_unknown_board_results_total", machine="fct") == 0

    # The same results reached RabbitMQ, each as the gateway stored it (its transaction with it).
    results = [e for e in cfx_events.envelopes if e["MessageName"] in (TESTED, INSPECTED, REPAIRED, READ)]
    await broker.wait_for({e["UniqueID"] for e in results})
    assert all(broker.by_id[e["UniqueID"]] == e for e in results)

    # What the gateway wrote itself is what the SDK writes.
    ours = [
        e
        for e in cfx_events.envelopes
        if e["MessageName"] in (TESTED, INSPECTED, READ, REPAIRED) and e["Source"] != handles["spi"]
    ]
    assert ours and all(validate_bytes(orjson.dumps(e)) == [] for e in ours)
