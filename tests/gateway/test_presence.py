"""A machine that stops answering is reported in CFX within its grace period, and again when back.

The reflow oven simulator on Modbus TCP hangs on demand (``go_silent``: the socket stays open,
nothing is answered); the gateway runs with a memory sink, a 1 s Heartbeat and its HTTP server,
all on 127.0.0.1 with free ports. The reconnect policy draws the largest delay its backoff
allows (no jitter luck), so a backoff that grew during the hang shows as a slow return.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from adapters.base import AdapterState, ReconnectPolicy
from adapters.maps import ModbusMap, builtin_map
from adapters.modbus import ModbusAdapter
from gateway.http.server import HttpServer
from gateway.normalize import COMMUNICATION_LOST
from gateway.outbox import Outbox
from gateway.recipes import RecipeService
from gateway.runtime import Gateway, MachineRuntime
from gateway.sinks.amqp import AmqpSink
from protocols.cfx.transport import CFXPublisher
from protocols.transport.ports import free_port
from simulators.reflow_oven import ReflowOven
from tests.adapters.recorder import eventually
from tests.gateway.http_support import MemorySink

GRACE = 1.0  # seconds of silence before the MES is told
HANDLE = "Acme.Oven.1"


class Longest(random.Random):
    """Every jittered delay at its ceiling: the worst case, every time."""

    def uniform(self, a: float, b: float) -> float:
        return b


@dataclass
class Rig:
    oven: ReflowOven
    adapter: ModbusAdapter
    memory: MemorySink
    url: str

    def bodies(self, name: str) -> list[dict[str, Any]]:
        return [orjson.loads(e.payload)["MessageBody"] for e in self.memory.events if e.message_name == name]

    def names(self) -> list[str]:
        return [e.message_name.rsplit(".", 1)[-1] for e in self.memory.events]


# The plugin's reflow_oven on its virtual_clock, stepped: simulated time stands still here.
pytestmark = pytest.mark.linegate_clock(stepped=True)


@pytest.fixture
async def rig(tmp_path: Path, reflow_oven: ReflowOven) -> AsyncIterator[Rig]:
    oven = reflow_oven
    device_map = builtin_map("reflow_oven")
    assert isinstance(device_map, ModbusMap)
    # The production backoff (0.5 s growing to 30 s), with the worst jitter draw.
    policy = ReconnectPolicy(base=0.5, cap=30.0, healthy_after=30.0, liveness_timeout=15.0, rng=Longest())
    adapter = ModbusAdapter(
        "oven1",
        _quick(device_map),
        host="127.0.0.1",
        port=oven.port or 0,
        policy=policy,
    )
    memory = MemorySink()
    outbox = Outbox(tmp_path / "outbox.sqlite", sinks=[memory.name])
    outbox.open()
    runtime = MachineRuntime("oven1", HANDLE, adapter, outbox, "refuse", link_grace=GRACE)
    gateway = Gateway(
        outbox, [runtime], [memory], RecipeService({"oven1": runtime}, {}), heartbeat=timedelta(seconds=1)
    )
    stop = asyncio.Event()
    task = asyncio.create_task(gateway.run(stop))
    try:
        async with HttpServer(gateway, port=0) as server:
            await asyncio.wait_for(gateway.started.wait(), 5)
            await adapter.wait_connected(5)
            yield Rig(oven, adapter, memory, server.url.rstrip("/"))
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        outbox.close()


def _quick(device_map: ModbusMap) -> ModbusMap:
    # 0.3 s per request: a session against the hung oven ends after 3 unanswered, about 0.9 s.
    return dataclasses.replace(device_map, timeout=0.3, poll_interval=0.25)


async def _health(url: str) -> tuple[int, dict[str, Any], int]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/healthz") as live:
            body = await live.json()
        async with http.get(f"{url}/readyz") as ready:
            return live.status, body, ready.status


async def test_a_hung_machine_is_reported_lost_within_grace_and_back_within_2_s(rig: Rig) -> None:
    """Hung: FaultOccurred CommunicationLost and StationStateChanged to USD within the grace,
    no Heartbeat while it lasts, /healthz degraded and /readyz 503. Answering again: FaultCleared
    (same occurrence) and the machine's own state within 2 s, Heartbeats again."""
    loop = asyncio.get_running_loop()
    await rig.memory.wait_for("CFX.ResourcePerformance.StationStateChanged")
    await rig.memory.wait_for("CFX.Heartbeat")
    status, body, ready = await _health(rig.url)
    assert (status, body["status"], body["machines_down"], ready) == (200, "ok", [], 200)

    hung = loop.time()
    rig.oven.go_silent()
    await rig.memory.wait_for("CFX.ResourcePerformance.FaultOccurred")
    learned = loop.time() - hung
    print(f"MES learned of the loss after {learned:.3f} s (grace {GRACE} s)")
    assert GRACE - 0.3 <= learned <= GRACE + 0.5
    fault = rig.bodies("CFX.ResourcePerformance.FaultOccurred")[-1]["Fault"]
    assert fault["FaultCode"] == COMMUNICATION_LOST and fault["Cause"] == "ServicesFailure"
    assert "modbus" in fault["Description"]
    down = (await rig.memory.wait_for("CFX.ResourcePerformance.StationStateChanged", 2))[-1]
    change = orjson.loads(down.payload)["MessageBody"]
    assert change["NewState"] == "5000" and change["RelatedFault"]["FaultCode"] == COMMUNICATION_LOST
    status, body, ready = await _health(rig.url)
    assert (status, body["status"], body["machines_down"], body["connected"], ready) == (
        200,
        "degraded",
        ["oven1"],
        0,
        503,
    )
    async with aiohttp.ClientSession() as http, http.get(f"{rig.url}/metrics") as response:
        assert 'linegate_machine_reachable{machine="oven1"} 0' in await response.text()

    # Stay hung until the backoff would have grown to 4 s (the 4th failed session), and end the
    # hang while the adapter waits in it: a grown backoff would keep the oven away that long.
    failures = rig.adapter.health.failures
    await eventually(
        lambda: (
            rig.adapter.health.failures >= failures + 3
            and rig.adapter.health.state is AdapterState.BACKING_OFF
        ),
        deadline=20,
    )
    answering = loop.time()
    rig.oven.go_silent(False)
    await rig.memory.wait_for("CFX.ResourcePerformance.FaultCleared")
    back = loop.time() - answering
    print(f"back {back:.3f} s after the hang ended")
    assert back <= 2.0
    cleared = rig.bodies("CFX.ResourcePerformance.FaultCleared")[-1]
    assert cleared["FaultOccurrenceId"] == fault["FaultOccurrenceId"]
    up = (await rig.memory.wait_for("CFX.ResourcePerformance.StationStateChanged", 3))[-1]
    change = orjson.loads(up.payload)["MessageBody"]
    assert change["OldState"] == "5000" and change["NewState"] != "5000"

    # No Heartbeat between the loss and the return (the hang lasted three sessions, > 2.7 s,
    # with Heartbeats due every second), and they come again afterwards.
    names = rig.names()
    lost_at, back_at = names.index("FaultOccurred"), names.index("FaultCleared")
    assert "Heartbeat" not in names[lost_at:back_at]
    beats = len(rig.bodies("CFX.Heartbeat"))
    await rig.memory.wait_for("CFX.Heartbeat", beats + 1)
    status, body, ready = await _health(rig.url)
    assert (body["status"], body["machines_down"], ready) == ("ok", [], 200)


@pytest.mark.broker
async def test_healthz_names_an_unreachable_broker(tmp_path: Path) -> None:
    """/healthz stays 200 but says degraded with the broker sink not connected, and /readyz is
    503; with RabbitMQ reachable both say ok."""
    dead = f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    live = "amqp://guest:guest@127.0.0.1:5672/"
    async with CFXPublisher(dead, exchange="linegate-health") as nowhere, CFXPublisher(live) as rabbit:
        await rabbit.wait_connected(10)
        for publisher, expected, ready in ((nowhere, "degraded", 503), (rabbit, "ok", 200)):
            outbox = Outbox(tmp_path / f"{expected}.sqlite", sinks=["amqp"])
            outbox.open()
            gateway = Gateway(outbox, [], [AmqpSink(publisher)], RecipeService({}, {}), heartbeat=None)
            stop = asyncio.Event()
            task = asyncio.create_task(gateway.run(stop))
            try:
                async with HttpServer(gateway, port=0) as server:
                    await asyncio.wait_for(gateway.started.wait(), 5)
                    status, body, readiness = await _health(server.url.rstrip("/"))
            finally:
                stop.set()
                await asyncio.wait_for(task, 15)
                outbox.close()
            assert (status, body["status"], body["brokers"], readiness) == (
                200,
                expected,
                {"amqp": expected == "ok"},
                ready,
            )
