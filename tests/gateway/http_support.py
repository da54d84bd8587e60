"""A small running line behind a real ``HttpServer``, shared by the HTTP, CLI and dashboard tests.

Three loopback machines (``JsonMachine`` from ``test_runtime``: a TCP peer with an adapter
written for it) under a real ``Gateway`` with a real SQLite outbox; the sinks are the SSE sink
and a measured in-memory sink. ``drive_board`` walks one board through the line by recording
observations on each machine's runtime, as its adapter would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters import observations as obs
from adapters.base import Adapter, CommandError, Emit, PointValue, RecipeInfo, ReconnectPolicy
from gateway.cli import main as cli_main
from gateway.config import RecipeRef
from gateway.http import HttpServer, SseSink
from gateway.metrics import Metrics, TimedSink
from gateway.outbox import Outbox, StoredEvent
from gateway.recipes import RecipeService
from gateway.runtime import Gateway, MachineRuntime
from gateway.sinks.base import Sink
from gateway.trace.control import ControlConfig
from gateway.trace.service import TraceService
from gateway.trace.store import SqliteStore

TOKEN = "s3cret-token-for-tests"
MACHINES = ("printer1", "oven1", "aoi1")
ZONE_SETPOINTS = (150.0, 170.0, 185.0, 200.0, 230.0, 245.0, 240.0, 180.0)


class JsonMachine:
    """A loopback machine (after ``test_runtime``): answers recipe commands over newline JSON."""

    def __init__(self, recipes: list[str], refuse: set[str] | None = None) -> None:
        self.recipes = recipes
        self.refuse = refuse or set()
        self.active = recipes[0]
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                name = json.loads(line)["recipe"]
                if name in self.refuse or name not in self.recipes:
                    reply = {"reply": "refused", "reason": f"recipe {name} refused"}
                else:
                    self.active = name
                    reply = {"reply": "ok", "active": name}
                writer.write(json.dumps(reply).encode() + b"\n")
        finally:
            writer.close()


class JsonAdapter(Adapter):
    """The adapter for ``JsonMachine``: holds the link, performs recipe commands."""

    protocol = "test-json"

    def __init__(self, machine_id: str, machine: JsonMachine) -> None:
        super().__init__(machine_id, policy=ReconnectPolicy(base=0.01, cap=0.05, liveness_timeout=3600))
        self.peer = machine
        self.replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.writer: asyncio.StreamWriter | None = None

    async def _session(self, emit: Emit) -> None:
        reader, self.writer = await asyncio.open_connection("127.0.0.1", self.peer.port)
        self.connected()
        try:
            while line := await reader.readline():
                self.alive()
                await self.replies.put(json.loads(line))
        finally:
            self.writer.close()
            self.writer = None

    async def activate_recipe(self, name: str, revision: str | None = None) -> obs.RecipeActivated:
        await self.wait_connected(5)
        assert self.writer is not None
        self.writer.write(json.dumps({"recipe": name}).encode() + b"\n")
        reply = await asyncio.wait_for(self.replies.get(), 5)
        if reply["reply"] != "ok":
            raise CommandError(reply["reason"], refused=True)
        return obs.RecipeActivated(
            machine_id=self.machine_id, at=datetime.now(UTC), recipe=reply["active"], revision=revision
        )

    async def active_recipe(self) -> RecipeInfo | None:
        return RecipeInfo(self.peer.active)

    async def available_recipes(self) -> list[RecipeInfo]:
        return [RecipeInfo(r) for r in self.peer.recipes]

    def points(self) -> list[PointValue]:
        # One point, so the point browser has something to show: the recipe the peer runs.
        active = self.peer.active
        return [PointValue("active_recipe", f"json 127.0.0.1:{self.peer.port} active", active, active)]


class MemorySink:
    """A sink that keeps what it is given and lets a test wait for a count."""

    name = "memory"

    def __init__(self) -> None:
        self.events: list[StoredEvent] = []
        self.changed = asyncio.Condition()

    async def publish(self, batch: list[StoredEvent]) -> None:
        async with self.changed:
            self.events += batch
            self.changed.notify_all()

    async def wait_for(self, name: str, count: int = 1, timeout: float = 10) -> list[StoredEvent]:
        def matching() -> list[StoredEvent]:
            return [e for e in self.events if e.message_name == name]

        async with asyncio.timeout(timeout), self.changed:
            await self.changed.wait_for(lambda: len(matching()) >= count)
        return matching()


@dataclass
class RunningLine:
    """Everything a test may poke at."""

    gateway: Gateway
    server: HttpServer
    machines: dict[str, JsonMachine]
    sse: SseSink
    memory: MemorySink
    metrics: Metrics

    @property
    def url(self) -> str:
        return self.server.url.rstrip("/")

    def runtime(self, machine_id: str) -> MachineRuntime:
        return self.gateway.machines[machine_id]


@contextlib.asynccontextmanager
async def running_line(
    tmp_path: Path, *, token: str | None = TOKEN, client_queue: int = 1024, trace: bool = False
) -> AsyncIterator[RunningLine]:
    """Start machines, gateway and HTTP server (port 0); stop them all on exit. With ``trace``
    the gateway runs the trace service over an SQLite store in ``tmp_path`` (no rules)."""
    machines = {
        m: JsonMachine([f"{m}-A", f"{m}-B"], refuse={f"{m}-B"} if m == "aoi1" else None) for m in MACHINES
    }
    for machine in machines.values():
        await machine.start()
    metrics = Metrics()
    sse = SseSink(client_queue=client_queue)
    memory = MemorySink()
    sinks: list[Sink] = [TimedSink(memory, metrics), sse]
    service = None
    if trace:
        store = SqliteStore(tmp_path / "trace.sqlite")
        await store.open()
        service = TraceService(store, ControlConfig(), {m: f"Acme.{m}.1" for m in MACHINES})
        sinks.append(service)
    outbox = Outbox(tmp_path / "outbox.sqlite", sinks=[s.name for s in sinks])
    outbox.open()
    runtimes = [
        MachineRuntime(m, f"Acme.{m}.1", JsonAdapter(m, machine), outbox, "refuse")
        for m, machine in machines.items()
    ]
    products = {
        "PCB-B": {m: RecipeRef(f"{m}-B") for m in MACHINES},
        "PCB-A": {m: RecipeRef(f"{m}-A", "2") for m in MACHINES},
    }
    recipes = RecipeService({r.machine_id: r for r in runtimes}, products, drain_timeout=5)
    gateway = Gateway(outbox, runtimes, sinks, recipes, heartbeat=None)
    if service is not None:
        service.outbox, gateway.trace = outbox, service
    stop = asyncio.Event()
    task = asyncio.create_task(gateway.run(stop))
    try:
        async with HttpServer(
            gateway, port=0, token=token, sse=sse, metrics=metrics, line_name="Line 1"
        ) as server:
            await asyncio.wait_for(gateway.started.wait(), 5)
            for runtime in runtimes:
                await runtime.adapter.wait_connected(5)
            yield RunningLine(gateway, server, machines, sse, memory, metrics)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        outbox.close()
        if service is not None:
            await service.store.close()
        for machine in machines.values():
            assert machine.server is not None
            machine.server.close()


def zones(step: int) -> tuple[obs.ZoneReading, ...]:
    """Eight reflow zones; the actual temperatures wander around the setpoints with ``step``."""
    drift = ((step * 7) % 11 - 5) * 0.8
    return tuple(
        obs.ZoneReading(
            zone=i + 1,
            setpoint_top=sp,
            setpoint_bottom=sp,
            actual_top=sp + drift,
            actual_bottom=sp - drift / 2,
        )
        for i, sp in enumerate(ZONE_SETPOINTS)
    )


async def drive_board(line: RunningLine, board: str, step: int = 0) -> None:
    """One board through every machine: arrive, work (with reflow data in the oven), depart."""
    for machine_id in MACHINES:
        runtime = line.runtime(machine_id)
        at = datetime.now(UTC)
        await runtime.record(
            obs.BoardArrived(machine_id=machine_id, at=at, board_id=board, barcode=f"SN-{board}")
        )
        await runtime.record(obs.StateChanged(machine_id=machine_id, at=at, state=1100))
        await runtime.record(
            obs.WorkStarted(machine_id=machine_id, at=at, board_id=board, barcode=f"SN-{board}")
        )
        if machine_id == "oven1":
            await runtime.record(
                obs.ReflowProcessData(
                    machine_id=machine_id,
                    at=at,
                    board_id=board,
                    zones=zones(step),
                    conveyor_speed=14.0,
                    o2_ppm=850.0,
                )
            )
        later = at + timedelta(milliseconds=5)
        await runtime.record(
            obs.WorkFinished(machine_id=machine_id, at=later, board_id=board, barcode=f"SN-{board}")
        )
        await runtime.record(
            obs.BoardDeparted(machine_id=machine_id, at=later, board_id=board, barcode=f"SN-{board}")
        )
        await runtime.record(obs.StateChanged(machine_id=machine_id, at=later, state=2202))


__all__ = ["MACHINES", "TOKEN", "MemorySink", "RunningLine", "drive_board", "running_line", "zones"]


async def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``linegate ARGV`` (in a thread: the command runs its own event loop) -> status, out, err."""
    capsys.readouterr()
    status = await asyncio.wait_for(asyncio.to_thread(cli_main, list(argv)), 30)
    captured = capsys.readouterr()
    return status, captured.out, captured.err
