"""A map's ``[readings]`` reach ``/metrics`` and ``/api/line`` (the dashboard), end to end: the
reflow oven simulator over Modbus TCP, the gateway, its HTTP server, all on real sockets."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.base import ReconnectPolicy
from adapters.maps import ModbusMap, builtin_map
from adapters.modbus import ModbusAdapter
from gateway.http import HttpServer
from gateway.metrics import Metrics
from gateway.outbox import Outbox, StoredEvent
from gateway.recipes import RecipeService
from gateway.runtime import Gateway, MachineRuntime
from simulators import SteppedClock
from simulators.reflow_oven import ReflowOven

FAST = ReconnectPolicy(base=0.01, cap=0.05, healthy_after=60.0, liveness_timeout=5.0)


class Discard:
    name = "discard"

    async def publish(self, batch: list[StoredEvent]) -> None:
        pass


async def _until(read: Callable[[], Any], ok: Callable[[Any], bool], deadline: float = 10.0) -> Any:
    # The HTTP views have no change notification: ask again (a bounded wait, not a delay).
    async with asyncio.timeout(deadline):
        while not ok(value := await read()):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    return value


@pytest.mark.linegate_clock(stepped=True)
async def test_readings_reach_metrics_and_the_line_view(
    tmp_path: Path, reflow_oven: ReflowOven, virtual_clock: SteppedClock
) -> None:
    """The oven's zone temperatures and O2 (map ``[readings]``) are gauges in /metrics, with the
    map's unit, and values in /api/line; a reading that changes is shown changed."""
    oven, clock = reflow_oven, virtual_clock
    device_map = builtin_map("reflow_oven")
    assert isinstance(device_map, ModbusMap)
    device_map = dataclasses.replace(device_map, poll_interval=0.05, timeout=0.5)
    adapter = ModbusAdapter("reflow", device_map, host="127.0.0.1", port=oven.port or 0, policy=FAST)
    sink = Discard()
    outbox = Outbox(tmp_path / "outbox.sqlite", sinks=[sink.name])
    outbox.open()
    runtime = MachineRuntime("reflow", "Acme.Oven.1", adapter, outbox, "refuse")
    gateway = Gateway(outbox, [runtime], [sink], RecipeService({"reflow": runtime}, {}), heartbeat=None)
    stop = asyncio.Event()
    running = asyncio.create_task(gateway.run(stop))
    try:
        async with (
            HttpServer(gateway, port=0, metrics=Metrics()) as http,
            aiohttp.ClientSession(base_url=http.url) as client,
        ):

            async def metrics() -> str:
                async with client.get("/metrics") as response:
                    return await response.text()

            async def line() -> dict[str, Any]:
                async with client.get("/api/line") as response:
                    view: dict[str, Any] = await response.json()
                    return view

            text = await _until(metrics, lambda t: "linegate_reading{" in t)
            assert 'linegate_reading{machine="reflow",name="zone1_top_actual",unit="°C"} 25' in text
            assert 'linegate_reading{machine="reflow",name="o2",unit="ppm"} 209000' in text
            view = await _until(line, lambda v: "zone8_top_actual" in v["machines"][0]["readings"])
            first = view["machines"][0]["readings"]["zone8_top_actual"]
            assert (first["value"], first["unit"]) == (25.0, "°C")
            await clock.run_for(60)  # the heaters warm up
            warmer = await _until(
                line, lambda v: v["machines"][0]["readings"]["zone8_top_actual"]["value"] > 25.0
            )
            assert warmer["machines"][0]["readings"]["zone8_top_actual"]["at"] > first["at"]
    finally:
        stop.set()
        await asyncio.wait_for(running, 15)
        outbox.close()
