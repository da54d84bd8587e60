"""The gateway runtime: observations reach the sinks as CFX, recipe requests are answered, crashes stay local.

The machine here is a small loopback TCP peer that speaks newline-delimited JSON, with an adapter
written for it in the test; the adapters for real protocols are tested against the simulators.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import orjson
import pytest

from adapters import observations as obs
from adapters.base import Adapter, CommandError, Emit, RecipeInfo, ReconnectPolicy
from gateway.config import RecipeRef
from gateway.outbox import Outbox, Priority, StoredEvent
from gateway.recipes import Decision, RecipeService, interlock
from gateway.runtime import Gateway, MachineRuntime, priority_for
from gateway.sinks.amqp import AmqpSink
from protocols.cfx import (
    ActivateRecipeRequest,
    ActivateRecipeResponse,
    GetActiveRecipeRequest,
    GetActiveRecipeResponse,
    GetAvailableRecipesRequest,
    GetAvailableRecipesResponse,
    LockStationRequest,
    NotSupportedResponse,
    new_request,
)
from protocols.cfx.enums import StatusResult
from protocols.cfx.transport import CFXListener, CFXPublisher, request
from protocols.errors import TransportError

BOARD = "3c8d7e2a-5b6f-4a1c-9d0e-1f2a3b4c5d6e"


class JsonMachine:
    """A loopback machine: sends the observations the test queues, answers recipe commands."""

    def __init__(self, recipes: list[str], refuse: set[str] | None = None) -> None:
        self.recipes = recipes
        self.refuse = refuse or set()
        self.active = recipes[0]
        self.outgoing: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def pump() -> None:
            while True:
                writer.write(json.dumps(await self.outgoing.get()).encode() + b"\n")
                await writer.drain()

        pumping = asyncio.create_task(pump())
        try:
            while line := await reader.readline():
                command = json.loads(line)
                if command["op"] == "activate":
                    name = command["recipe"]
                    if name in self.refuse or name not in self.recipes:
                        reply = {"reply": "refused", "reason": f"recipe {name} refused"}
                    else:
                        self.active = name
                        reply = {"reply": "ok", "active": name}
                    writer.write(json.dumps(reply).encode() + b"\n")
        finally:
            pumping.cancel()
            writer.close()


class JsonAdapter(Adapter):
    protocol = "test-json"

    def __init__(self, machine_id: str, machine: JsonMachine) -> None:
        super().__init__(machine_id, policy=ReconnectPolicy(base=0.01, cap=0.05, liveness_timeout=30))
        self.peer = machine
        self.replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.writer: asyncio.StreamWriter | None = None

    async def _session(self, emit: Emit) -> None:
        reader, self.writer = await asyncio.open_connection("127.0.0.1", self.peer.port)
        self.connected()
        try:
            while line := await reader.readline():
                self.alive()
                msg = json.loads(line)
                if "reply" in msg:
                    await self.replies.put(msg)
                    continue
                at = datetime.now(UTC)
                kind = msg.pop("kind")
                await emit(getattr(obs, kind)(machine_id=self.machine_id, at=at, **msg))
            raise TransportError("machine closed the connection")
        finally:
            self.writer.close()
            self.writer = None

    async def activate_recipe(self, name: str, revision: str | None = None) -> obs.RecipeActivated:
        await self.wait_connected(5)
        assert self.writer is not None
        self.writer.write(json.dumps({"op": "activate", "recipe": name}).encode() + b"\n")
        reply = await asyncio.wait_for(self.replies.get(), 5)
        if reply["reply"] != "ok":
            raise CommandError(reply["reason"], refused=True)
        return obs.RecipeActivated(machine_id=self.machine_id, at=datetime.now(UTC), recipe=reply["active"])

    async def active_recipe(self) -> RecipeInfo | None:
        return RecipeInfo(self.peer.active)

    async def available_recipes(self) -> list[RecipeInfo]:
        return [RecipeInfo(r) for r in self.peer.recipes]


class Collector:
    """A sink that keeps what it gets and lets tests wait for it."""

    name = "test"

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.changed = asyncio.Condition()

    async def publish(self, batch: list[StoredEvent]) -> None:
        async with self.changed:
            self.events += [orjson.loads(e.payload) for e in batch]
            self.changed.notify_all()

    async def wait_for(self, name: str, count: int = 1, timeout: float = 10) -> list[dict[str, Any]]:
        def matching() -> list[dict[str, Any]]:
            return [e for e in self.events if e["MessageName"] == name]

        async with asyncio.timeout(timeout), self.changed:
            await self.changed.wait_for(lambda: len(matching()) >= count)
        return matching()


@pytest.fixture
async def line(
    tmp_path: Path,
) -> AsyncIterator[tuple[Gateway, dict[str, JsonMachine], Collector, CFXListener]]:
    machines = {"oven1": JsonMachine(["P-A", "P-B"]), "solder1": JsonMachine(["S-A", "S-B"], refuse={"S-B"})}
    for m in machines.values():
        await m.start()
    outbox = Outbox(tmp_path / "outbox.sqlite", sinks=["test"])
    outbox.open()
    interlocks = {"oven1": "finish_board", "solder1": "refuse"}
    runtimes = [
        MachineRuntime(mid, f"Acme.{mid}.1", JsonAdapter(mid, m), outbox, interlocks[mid])
        for mid, m in machines.items()
    ]
    products = {"PCB-B": {"oven1": RecipeRef("P-B"), "solder1": RecipeRef("S-B")}}
    recipes = RecipeService({r.machine_id: r for r in runtimes}, products, drain_timeout=5)
    collector = Collector()
    gateway = Gateway(outbox, runtimes, [collector], recipes, heartbeat=timedelta(seconds=1))
    stop = asyncio.Event()
    async with CFXListener("127.0.0.1", 0) as listener:
        for r in runtimes:
            listener.add_handle(r.handle, recipes.handler_for(r.handle))
        task = asyncio.create_task(gateway.run(stop))
        await asyncio.wait_for(gateway.started.wait(), 5)
        for r in runtimes:
            await r.adapter.wait_connected(5)
        try:
            yield gateway, machines, collector, listener
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
            outbox.close()
            for m in machines.values():
                assert m.server is not None
                m.server.close()


async def test_observations_become_linked_cfx_events(line: Any) -> None:
    _gateway, machines, collector, _ = line
    oven = machines["oven1"]
    for kind, extra in [
        ("StateChanged", {"state": 1100}),
        ("BoardArrived", {"board_id": BOARD, "barcode": "SN-1"}),
        ("WorkStarted", {"board_id": BOARD, "barcode": "SN-1"}),
        ("WorkFinished", {"board_id": BOARD, "barcode": "SN-1"}),
        ("FaultRaised", {"code": "E-7", "description": "zone 3 high"}),
        ("FaultCleared", {"code": "E-7"}),
    ]:
        await oven.outgoing.put({"kind": kind, **extra})
    cleared = (await collector.wait_for("CFX.ResourcePerformance.FaultCleared"))[0]
    occurred = (await collector.wait_for("CFX.ResourcePerformance.FaultOccurred"))[0]
    assert (
        cleared["MessageBody"]["FaultOccurrenceId"] == occurred["MessageBody"]["Fault"]["FaultOccurrenceId"]
    )
    started = (await collector.wait_for("CFX.Production.WorkStarted"))[0]
    completed = (await collector.wait_for("CFX.Production.WorkCompleted"))[0]
    assert started["MessageBody"]["TransactionID"] == completed["MessageBody"]["TransactionID"]
    assert started["Source"] == "Acme.oven1.1"
    connected = await collector.wait_for("CFX.EndpointConnected", 2)
    assert {e["Source"] for e in connected} == {"Acme.oven1.1", "Acme.solder1.1"}
    heartbeat = (await collector.wait_for("CFX.Heartbeat"))[0]
    assert heartbeat["MessageBody"]["HeartbeatFrequency"] == "00:00:01"


async def test_activate_recipe_request_over_amqp10(line: Any) -> None:
    _gateway, machines, collector, listener = line
    req = new_request(ActivateRecipeRequest(recipe_name="P-B"), source="MES.Line.1", target="Acme.oven1.1")
    response = await request(listener.uri, req, timeout=10)
    assert isinstance(response.body, ActivateRecipeResponse)
    assert response.body.result.result is StatusResult.SUCCESS
    assert response.request_id == req.request_id and response.source == "Acme.oven1.1"
    assert machines["oven1"].active == "P-B"
    activated = (await collector.wait_for("CFX.Production.RecipeActivated"))[0]
    assert activated["MessageBody"]["RecipeName"] == "P-B" and activated["Source"] == "Acme.oven1.1"

    get = new_request(GetActiveRecipeRequest(), source="MES.Line.1", target="Acme.oven1.1")
    active = (await request(listener.uri, get, timeout=10)).body
    assert isinstance(active, GetActiveRecipeResponse) and active.active_recipe_name == "P-B"
    avail = new_request(GetAvailableRecipesRequest(), source="MES.Line.1", target="Acme.oven1.1")
    listing = (await request(listener.uri, avail, timeout=10)).body
    assert isinstance(listing, GetAvailableRecipesResponse)
    assert [r.recipe_name for r in listing.recipes or []] == ["P-A", "P-B"]
    other = new_request(LockStationRequest(), source="MES.Line.1", target="Acme.oven1.1")
    assert isinstance((await request(listener.uri, other, timeout=10)).body, NotSupportedResponse)


async def test_refused_recipe_and_interlock(line: Any) -> None:
    gateway, machines, collector, _listener = line
    refused = await gateway.recipes.activate("solder1", RecipeRef("S-B"))
    assert not refused.ok and "refused" in refused.result.message
    # A board in process on a machine whose interlock is "refuse": the request is refused at once.
    await machines["solder1"].outgoing.put({"kind": "WorkStarted", "board_id": BOARD})
    await collector.wait_for("CFX.Production.WorkStarted")
    blocked = await gateway.recipes.activate("solder1", RecipeRef("S-A"))
    assert (
        not blocked.ok and blocked.result.result_code == 1 and "board(s) in process" in blocked.result.message
    )


async def test_finish_board_interlock_waits_for_the_board(line: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    gateway, machines, collector, _ = line
    runtime = gateway.machines["oven1"]
    waiting = asyncio.Event()  # set once the interlock waits for the machine's boards
    wait_idle = runtime.wait_idle

    async def waiting_idle(besides: Any = ()) -> None:
        waiting.set()
        await wait_idle(besides)

    monkeypatch.setattr(runtime, "wait_idle", waiting_idle)
    await machines["oven1"].outgoing.put({"kind": "WorkStarted", "board_id": BOARD})
    await collector.wait_for("CFX.Production.WorkStarted")
    change = asyncio.create_task(gateway.recipes.activate("oven1", RecipeRef("P-B")))
    await asyncio.wait_for(waiting.wait(), 10)
    assert not change.done() and machines["oven1"].active == "P-A"
    await machines["oven1"].outgoing.put({"kind": "WorkFinished", "board_id": BOARD})
    outcome = await asyncio.wait_for(change, 10)
    assert outcome.ok and machines["oven1"].active == "P-B"


async def test_changeover_reports_per_machine(line: Any) -> None:
    gateway, _machines, _, _ = line
    outcomes = {o.machine_id: o for o in await gateway.recipes.changeover("PCB-B")}
    assert outcomes["oven1"].ok and not outcomes["solder1"].ok
    with pytest.raises(KeyError, match="no product 'PCB-Z'"):
        await gateway.recipes.changeover("PCB-Z")


class NoRecipes(Adapter):
    """An adapter whose machine has no recipes: every command is refused."""

    async def activate_recipe(self, name: str, revision: str | None = None) -> obs.RecipeActivated:
        raise CommandError("no")

    async def active_recipe(self) -> RecipeInfo | None:
        return None

    async def available_recipes(self) -> list[RecipeInfo]:
        return []


class Crashing(NoRecipes):
    protocol = "test-crash"

    def __init__(self) -> None:
        super().__init__("crashy", policy=ReconnectPolicy(base=0.01, cap=0.02))
        self.runs = 0
        self.restarted = asyncio.Event()

    async def _session(self, emit: Emit) -> None:
        self.runs += 1
        if self.runs >= 3:
            self.restarted.set()
        raise RuntimeError("bug in the adapter")


async def test_a_crashing_adapter_is_restarted_and_others_keep_flowing(tmp_path: Path) -> None:
    good = JsonMachine(["P"])
    await good.start()
    async with Outbox(tmp_path / "o.sqlite", sinks=["test"]) as outbox:
        crashy = Crashing()
        runtimes = [
            MachineRuntime("crashy", "Acme.Crash.1", crashy, outbox, "refuse"),
            MachineRuntime("good", "Acme.Good.1", JsonAdapter("good", good), outbox, "refuse"),
        ]
        collector = Collector()
        gateway = Gateway(outbox, runtimes, [collector], RecipeService({}), heartbeat=None, restart_base=0.01)
        stop = asyncio.Event()
        task = asyncio.create_task(gateway.run(stop))
        try:
            await asyncio.wait_for(crashy.restarted.wait(), 10)
            await runtimes[1].adapter.wait_connected(5)
            await good.outgoing.put({"kind": "StateChanged", "state": 1100})
            await collector.wait_for("CFX.ResourcePerformance.StationStateChanged")
            assert gateway.crashes["crashy"] >= 2 and gateway.crashes["good"] == 0
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
        assert good.server is not None
        good.server.close()
    shutdown = [e for e in collector.events if e["MessageName"] == "CFX.EndpointShuttingDown"]
    assert {e["Source"] for e in shutdown} == {"Acme.Crash.1", "Acme.Good.1"}


class ReportsOnClose(NoRecipes):
    """A machine link that reports one last state while it is being closed."""

    protocol = "test-close"

    def __init__(self) -> None:
        super().__init__("closing")
        self.session = asyncio.Event()

    async def _session(self, emit: Emit) -> None:
        self.session.set()
        try:
            await asyncio.Event().wait()
        finally:
            await emit(obs.StateChanged(machine_id=self.machine_id, at=datetime.now(UTC), state=1000))


async def test_a_clean_stop_delivers_what_adapters_report_while_closing(tmp_path: Path) -> None:
    """The intake stops before the shutdown flush, so its last event is delivered, not left behind."""
    async with Outbox(tmp_path / "o.sqlite", sinks=["test"]) as outbox:
        adapter = ReportsOnClose()
        runtime = MachineRuntime("closing", "Acme.Close.1", adapter, outbox, "refuse")
        collector = Collector()
        gateway = Gateway(outbox, [runtime], [collector], RecipeService({}), heartbeat=None)
        stop = asyncio.Event()
        task = asyncio.create_task(gateway.run(stop))
        await asyncio.wait_for(adapter.session.wait(), 10)
        stop.set()
        await asyncio.wait_for(task, 10)
        assert outbox.depth() == 0
    names = [e["MessageName"] for e in collector.events]
    assert names[-2:] == ["CFX.ResourcePerformance.StationStateChanged", "CFX.EndpointShuttingDown"]


def test_priorities_and_interlock_decisions() -> None:
    assert priority_for("CFX.ResourcePerformance.FaultOccurred") is Priority.HIGH
    assert priority_for("CFX.ResourcePerformance.StationStateChanged") is Priority.HIGH
    assert priority_for("CFX.Production.RecipeActivated") is Priority.HIGH
    assert priority_for("CFX.Production.Processing.UnitsProcessed") is Priority.BULK
    assert priority_for("CFX.Production.WorkStarted") is Priority.BULK
    assert priority_for("CFX.ResourcePerformance.EnergyConsumed") is Priority.BULK
    assert interlock("refuse", 0) is Decision.GO
    assert interlock("refuse", 1) is Decision.REFUSE
    assert interlock("finish_board", 2) is Decision.WAIT


@pytest.mark.broker
async def test_amqp_sink_publishes_confirmed_to_the_exchange(tmp_path: Path) -> None:
    exchange = f"linegate-test-{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
    async with connection:
        channel = await connection.channel()
        ex = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(ex, "Acme.oven1.1.#")
        good = JsonMachine(["P"])
        await good.start()
        async with (
            Outbox(tmp_path / "o.sqlite", sinks=["amqp"]) as outbox,
            CFXPublisher(exchange=exchange) as publisher,
        ):
            runtime = MachineRuntime("oven1", "Acme.oven1.1", JsonAdapter("oven1", good), outbox, "refuse")
            gateway = Gateway(outbox, [runtime], [AmqpSink(publisher)], RecipeService({}), heartbeat=None)
            stop = asyncio.Event()
            task = asyncio.create_task(gateway.run(stop))
            try:
                await runtime.adapter.wait_connected(5)
                await good.outgoing.put({"kind": "StateChanged", "state": 2202})
                names = []
                async with queue.iterator() as messages:
                    async for message in messages:
                        async with message.process():
                            names.append(message.routing_key)
                            body = orjson.loads(message.body)
                            assert message.message_id == body["UniqueID"]
                            if body["MessageName"] == "CFX.ResourcePerformance.StationStateChanged":
                                assert body["MessageBody"]["NewState"] == "2202"
                                break
                assert names[0] == "Acme.oven1.1.CFX.EndpointConnected"
            finally:
                stop.set()
                await asyncio.wait_for(task, 10)
        await ex.delete()
        assert good.server is not None
        good.server.close()


async def test_the_running_recipe_is_known_without_a_changeover(line: Any) -> None:
    _gateway, _machines, collector, _ = line
    beats = await collector.wait_for("CFX.Heartbeat", 2)
    oven = [b for b in beats if b["Source"] == "Acme.oven1.1"]
    assert oven[0]["MessageBody"]["ActiveRecipes"][0]["RecipeIdentifier"]["RecipeName"] == "P-A"
    assert not [e for e in collector.events if e["MessageName"] == "CFX.Production.RecipeActivated"]


async def test_a_refused_event_is_logged_with_its_machine(tmp_path: Path) -> None:
    from structlog.testing import capture_logs

    from gateway.outbox import OverflowPolicy

    async with Outbox(
        tmp_path / "o.sqlite", sinks=["test"], max_events=1, overflow=OverflowPolicy.REFUSE_NEW
    ) as ob:
        runtime = MachineRuntime("oven1", "Acme.oven1.1", Crashing(), ob, "refuse")
        with capture_logs() as logs:
            await runtime.record(obs.StateChanged(machine_id="oven1", at=datetime.now(UTC), state=1100))
            await runtime.record(obs.StateChanged(machine_id="oven1", at=datetime.now(UTC), state=2202))
            await ob.flush()
        refused = [e for e in logs if e["event"] == "outbox.refused"]
        assert refused and refused[0]["machine"] == "oven1" and "max_events=1" in refused[0]["error"]
        assert ob.depth() == 1
