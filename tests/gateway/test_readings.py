"""A map's ``[readings]`` reach ``/metrics`` and ``/api/line`` (the dashboard), end to end: the
reflow oven simulator over Modbus TCP, the gateway, its HTTP server, all on real sockets."""

from __future__ import annotations

import asyncio
import dataclasses
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

            # The views have no change notification; the runtime has: wait on it, then read them.
            readings = runtime.normalizer.readings
            polled = ("zone1_top_actual", "zone8_top_actual", "o2")
            await asyncio.wait_for(runtime.wait_until(lambda: all(n in readings for n in polled)), 10)
            text = await metrics()
            assert 'linegate_reading{machine="reflow",name="zone1_top_actual",unit="°C"} 25' in text
            assert 'linegate_reading{machine="reflow",name="o2",unit="ppm"} 209000' in text
            first = (await line())["machines"][0]["readings"]["zone8_top_actual"]
            assert (first["value"], first["unit"]) == (25.0, "°C")
            await clock.run_for(60)  # the heaters warm up

            def warm() -> bool:
                value = readings["zone8_top_actual"].value
                return isinstance(value, float) and value > 25.0

            await asyncio.wait_for(runtime.wait_until(warm), 10)
            warmer = (await line())["machines"][0]["readings"]["zone8_top_actual"]
            assert warmer["value"] > 25.0 and warmer["at"] > first["at"]
    finally:
        stop.set()
        await asyncio.wait_for(running, 15)
        outbox.close()
