"""``/metrics`` shows the intake backlog of a CFX machine that pushes to the gateway, and the
backlog stays within the listener's credit window while the outbox does not take anything."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from adapters.base import ReconnectPolicy
from adapters.cfx_native import CFXNativeAdapter, DirectEvents
from gateway.http.collect import render_metrics
from gateway.outbox import Outbox
from gateway.recipes import RecipeService
from gateway.runtime import Gateway, MachineRuntime
from protocols.cfx import Envelope
from protocols.cfx import messages as cfx
from protocols.cfx.transport import AMQP10Publisher
from tests.adapters.recorder import eventually
from tests.gateway.test_http import parse_metrics, value

HANDLE = "Acme.Placer.7"
WINDOW = 20


async def test_the_intake_backlog_is_a_metric_and_never_exceeds_the_window(tmp_path: Path) -> None:
    """The outbox is stalled (forward waits): the machine's transfers pile up to its link's
    credit (half the window) and no further, /metrics says so, and once the outbox takes them
    again the backlog drains."""
    stalled = asyncio.Event()
    resume = asyncio.Event()
    async with Outbox(tmp_path / "outbox.sqlite", sinks=["amqp"]) as outbox:
        adapter = CFXNativeAdapter(
            "placer",
            handle=HANDLE,
            events=DirectEvents(host="127.0.0.1", address="linegate", window=WINDOW),
            liveness_timeout=60.0,
            policy=ReconnectPolicy(),
        )
        runtime = MachineRuntime("placer", HANDLE, adapter, outbox, "refuse")
        gateway = Gateway(outbox, [runtime], [], RecipeService({"placer": runtime}), heartbeat=None)

        def backlog() -> float:
            _, samples = parse_metrics(render_metrics(gateway, None, None))
            return value(samples, "linegate_intake_backlog", machine="placer")

        async def forward(envelopes: Sequence[Envelope]) -> None:
            stalled.set()
            await resume.wait()
            await runtime.forward(envelopes)

        running = asyncio.create_task(adapter.run(runtime.observe, forward=forward))
        try:
            await adapter.wait_connected(10)
            assert backlog() == 0
            assert adapter.events_uri is not None
            async with AMQP10Publisher(adapter.events_uri, "linegate", handle=HANDLE) as machine:
                sent = [Envelope.create(cfx.StationOnline(), source=HANDLE) for _ in range(3 * WINDOW)]
                publishing = asyncio.gather(*(machine.publish(e) for e in sent))
                await asyncio.wait_for(stalled.wait(), 10)
                await eventually(lambda: backlog() == WINDOW // 2)
                listener = adapter._listener
                assert listener is not None
                # The listener's engines run on this loop: their links can be read directly.
                held = sum(lk.credit for lk in listener._side.event_links.values())
                assert held == 0  # the machine may send nothing more until we commit
                assert outbox.depth() == 0 and not publishing.done()
                resume.set()
                await asyncio.wait_for(publishing, 10)
            assert outbox.depth() == len(sent)
            await eventually(lambda: backlog() == 0)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
