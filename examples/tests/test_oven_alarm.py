"""Example: an oven alarm raised on the machine becomes a CFX fault, and clearing it clears it.

FaultOccurred and FaultCleared must carry the same FaultOccurrenceId (CFX links them by it),
and the fault must come from the oven's CFX handle. (OV-O2-HIGH is a poor choice here: at the
plugin's default pace the oven raises it on its own while its nitrogen settles.)
"""

from __future__ import annotations

import pytest

from gateway.testing import CFXEventCollector, LinegateGateway
from simulators import FaultSeverity, ReflowOven, small_line


@pytest.mark.linegate_line(small_line(), boards=4)  # placement -> reflow -> solder -> coater: quick
async def test_oven_alarm_raises_and_clears_a_cfx_fault(
    linegate_gateway: LinegateGateway, cfx_events: CFXEventCollector
) -> None:
    oven = linegate_gateway.line.machine("reflow", ReflowOven)
    handle = linegate_gateway.handles["reflow"]
    start = cfx_events.mark()

    oven.raise_fault("OV-EXHAUST-FAN", "exhaust fan stalled", FaultSeverity.ERROR)
    occurred = await cfx_events.wait_for(
        "CFX.ResourcePerformance.FaultOccurred",
        source=handle,
        where=lambda e: e["MessageBody"]["Fault"]["FaultCode"] == "OV-EXHAUST-FAN",
        since=start,
        timeout=15,
    )
    oven.clear_fault("OV-EXHAUST-FAN")
    occurrence = occurred["MessageBody"]["Fault"]["FaultOccurrenceId"]
    cleared = await cfx_events.wait_for(
        "CFX.ResourcePerformance.FaultCleared",
        source=handle,
        where={"FaultOccurrenceId": occurrence},
        since=start,
        timeout=15,
    )

    assert cleared["MessageBody"]["FaultOccurrenceId"] == occurrence
    assert occurred["TimeStamp"] <= cleared["TimeStamp"]
