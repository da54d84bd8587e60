"""``linegate demo``: the default simulated line and the gateway against it, in one process.

Nothing to configure: the line (placement → reflow oven → selective solder → coater, with Hermes
between them) runs on an accelerated clock; the gateway connects to each machine in its own
protocol (CFX over AMQP 1.0, Modbus TCP, OPC UA, serial) and to each machine's Hermes vertical
channel, writes CFX to an embedded SQLite outbox and prints it (and publishes to AMQP and MQTT
when asked). Midway it changes the line over to the second product and raises one oven alarm,
then clears it. It ends with a summary.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import orjson
import structlog

from adapters.base import Adapter, ReconnectPolicy
from adapters.cfx_native import CFXNativeAdapter, DirectEvents
from adapters.hermes_supervisory import HermesSupervisoryAdapter
from adapters.maps import ModbusMap, OpcUaMap, SerialMap, builtin_map
from adapters.modbus import ModbusAdapter
from adapters.opcua import OpcUaAdapter
from adapters.serial import SerialAdapter
from gateway.board_identity import BoardIdentities
from gateway.config import RecipeRef
from gateway.deadline import arm_stop_deadline
from gateway.http import HttpServer, SseSink
from gateway.metrics import Metrics, TimedSink
from gateway.outbox import Outbox, StoredEvent
from gateway.recipes import Outcome, RecipeService
from gateway.runtime import Gateway, MachineRuntime
from gateway.sinks.amqp import AmqpSink
from gateway.sinks.base import Sink
from gateway.sinks.console import ConsoleSink
from gateway.sinks.mqtt import MqttSink
from gateway.stations import station_adapter
from protocols.cfx.transport import CFXListener, CFXPublisher
from simulators import Endpoint, Line, LineSpec, ReflowOven, default_line
from simulators.line_spec import MACHINE_KINDS

log = structlog.get_logger("linegate.demo")

# The two products of the default line's work orders, and each machine's recipe for them (the
# names the simulators ship).
PRODUCTS: dict[str, dict[str, RecipeRef]] = {
    "CTRL-MAIN-R3": {
        "placement": RecipeRef("PCB-CTRL-A"),
        "reflow": RecipeRef("SAC305-STD"),
        "solder": RecipeRef("PGM-CONN-A"),
        "coater": RecipeRef("ACRYLIC-50"),
    },
    "PSU-24V-R1": {
        "placement": RecipeRef("PCB-PWR-B"),
        "reflow": RecipeRef("SAC305-HEAVY"),
        "solder": RecipeRef("PGM-PWR-B"),
        "coater": RecipeRef("SILICONE-75"),
    },
}
#: The protocol of the simulator kinds that are CFX endpoints of their own (simulators.line_spec).
CFX_NATIVE = "cfx-amqp1.0"
DEMO_ALARM = "OV-O2-HIGH"  # a warning: the oven keeps running while it is active


@dataclass(slots=True)
class DemoOptions:
    """What ``linegate demo`` was asked for."""

    boards: int = 20
    time_scale: float = 100.0
    amqp: str | None = None
    mqtt: str | None = None
    quiet: bool = False
    summary_json: str | None = None
    http_port: int = 0
    # End the process if stopping takes longer than the deadline (the CLI; not for callers
    # that run the demo inside their own process, such as tests).
    stop_deadline: bool = False


@dataclass(slots=True)
class DemoSummary:
    """What the demo did, printed at the end and written by ``--summary-json``."""

    boards: int = 0
    seconds: float = 0.0
    events: int = 0
    events_by_type: dict[str, int] = field(default_factory=dict)
    machines: dict[str, dict[str, Any]] = field(default_factory=dict)
    changeover: dict[str, str] = field(default_factory=dict)
    fault: str | None = None
    dashboard: str | None = None

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["events_per_second"] = round(self.events_per_second, 1)
        return data


class Counter:
    """A sink that counts the events by message name (for the summary and the progress line)."""

    name = "summary"

    def __init__(self) -> None:
        self.by_type: collections.Counter[str] = collections.Counter()

    async def publish(self, batch: list[StoredEvent]) -> None:
        for event in batch:
            self.by_type[event.message_name] += 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def speaks_cfx(kind: str) -> bool:
    """Whether machines of simulator ``kind`` are CFX endpoints of their own (placement, printer,
    SPI): they publish to the gateway's listener and host their own request handle."""
    return MACHINE_KINDS[kind].protocol == CFX_NATIVE


def publishing_to(spec: LineSpec, events_port: int) -> LineSpec:
    """``spec`` with its CFX-native machines publishing their CFX events to a gateway's AMQP 1.0
    listener (address ``linegate``): the first one on ``events_port``, each further one on a
    free port of its own (each machine's CFX-native adapter owns its listener;
    :func:`line_runtimes` reads the port back from the machine)."""
    machines = []
    port = events_port
    for machine in spec.machines:
        if speaks_cfx(machine.kind):
            options = {"publish_uri": f"amqp://127.0.0.1:{port}", "publish_address": "linegate"}
            machine = dataclasses.replace(machine, options={**machine.options, **options})
            port = _free_port()
        machines.append(machine)
    return dataclasses.replace(spec, machines=tuple(machines))


def demo_line(options: DemoOptions, events_port: int) -> LineSpec:
    """The default line, paced as asked, with the placement machine publishing to us."""
    spec = publishing_to(default_line(), events_port)
    return dataclasses.replace(spec, time_scale=options.time_scale, boards=options.boards)


def build_adapter(endpoint: Endpoint, events_port: int, request_uri: str | None) -> Adapter:
    """The gateway's adapter for one simulated machine, from where it listens."""
    fast = ReconnectPolicy(base=0.2, cap=2.0, healthy_after=10.0, liveness_timeout=15.0)
    host = endpoint.host
    station = station_adapter(  # AOI, X-ray, ICT, FCT, scanner
        endpoint.kind, endpoint.machine_id, fast, host=host, port=endpoint.port, folder=endpoint.folder
    )
    if station is not None:
        return station
    if endpoint.protocol == CFX_NATIVE:
        assert endpoint.cfx_handle is not None
        return CFXNativeAdapter(
            endpoint.machine_id,
            handle=endpoint.cfx_handle,
            events=DirectEvents(host="127.0.0.1", port=events_port, address="linegate"),
            request_uri=request_uri,
            policy=fast,
        )
    if endpoint.kind == "reflow_oven":
        modbus_map = builtin_map("reflow_oven")
        assert isinstance(modbus_map, ModbusMap) and endpoint.port is not None
        return ModbusAdapter(endpoint.machine_id, modbus_map, host=host, port=endpoint.port, policy=fast)
    if endpoint.kind == "selective_solder":
        opcua_map = builtin_map("selective_solder")
        assert isinstance(opcua_map, OpcUaMap) and endpoint.url is not None
        return OpcUaAdapter(endpoint.machine_id, opcua_map, url=endpoint.url, policy=fast)
    if endpoint.kind == "coater":
        serial_map = builtin_map("coater")
        assert isinstance(serial_map, SerialMap) and endpoint.port is not None
        return SerialAdapter(
            endpoint.machine_id, serial_map, url=f"socket://{host}:{endpoint.port}", policy=fast
        )
    raise ValueError(f"the demo has no adapter for a {endpoint.kind}")


def line_runtimes(line: Line, events_port: int, outbox: Outbox) -> list[MachineRuntime]:
    """One runtime per machine of a running simulated line: its own adapter, plus its Hermes
    vertical channel to track the boards."""
    runtimes = []
    identities = BoardIdentities()  # one link of barcodes, BoardIds and transactions per line
    for endpoint in line.endpoints():
        machine = line.machine(endpoint.machine_id)
        request_uri = getattr(machine, "request_uri", None)
        publish_uri = getattr(machine, "publish_uri", None)  # a CFX-native machine's own listener
        port = urlsplit(publish_uri).port if isinstance(publish_uri, str) else None
        vertical = HermesSupervisoryAdapter(
            endpoint.machine_id,
            host=endpoint.host,
            port=endpoint.hermes.vertical_port,
            policy=ReconnectPolicy(base=0.2, cap=2.0, liveness_timeout=15.0),
        )
        adapter = build_adapter(endpoint, port or events_port, request_uri)
        runtimes.append(
            MachineRuntime(
                endpoint.machine_id,
                endpoint.cfx_handle or endpoint.machine_id,
                adapter,
                outbox,
                "finish_board",
                trackers=[vertical],
                # Work the machine's protocol does not report is derived from Hermes.
                synthesize_work=not adapter.reports_work,
            )
        )
        runtimes[-1].normalizer.identity = identities
    return runtimes


def host_handles(listener: CFXListener, runtimes: list[MachineRuntime], recipes: RecipeService) -> None:
    """Answer CFX requests for every machine that does not host its own handle."""
    for runtime in runtimes:
        if not runtime.passthrough:
            listener.add_handle(runtime.handle, recipes.handler_for(runtime.handle))


async def run_demo(options: DemoOptions, out: TextIO | None = None) -> DemoSummary:
    """Run the demo line with the gateway until ``options.boards`` boards left the line."""
    out = out or sys.stdout
    summary = DemoSummary()
    events_port = _free_port()
    spec = demo_line(options, events_port)
    counter = Counter()
    metrics, sse = Metrics(), SseSink()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="linegate-demo-") as folder:
        async with AsyncExitStack() as stack:
            line = await stack.enter_async_context(Line(spec, start_source=False))
            sinks: list[Sink] = [counter]
            if not options.quiet:
                sinks.append(ConsoleSink(out))
            if options.amqp:
                publisher = await stack.enter_async_context(CFXPublisher(options.amqp))
                sinks.append(AmqpSink(publisher))
            if options.mqtt:
                mqtt = MqttSink(*_host_port(options.mqtt, 1883))
                stack.push_async_callback(mqtt.aclose)
                sinks.append(mqtt)
            sinks = [TimedSink(s, metrics) for s in sinks] + [sse]
            outbox = await stack.enter_async_context(
                Outbox(Path(folder) / "outbox.sqlite", sinks=[s.name for s in sinks])
            )
            runtimes = line_runtimes(line, events_port, outbox)
            recipes = RecipeService({r.machine_id: r for r in runtimes}, PRODUCTS, drain_timeout=120)
            listener = await stack.enter_async_context(CFXListener("127.0.0.1", 0))
            host_handles(listener, runtimes, recipes)
            gateway = Gateway(outbox, runtimes, sinks, recipes, listener=listener)
            http = await stack.enter_async_context(
                HttpServer(gateway, port=options.http_port, sse=sse, metrics=metrics, line_name="demo")
            )
            summary.dashboard = http.url
            print(f"linegate demo: dashboard at {http.url}", file=out, flush=True)
            print(f"linegate demo: CFX requests at {listener.uri}", file=out, flush=True)
            stop = asyncio.Event()
            running = asyncio.create_task(gateway.run(stop), name="demo.gateway")
            try:
                for runtime in runtimes:
                    for adapter in runtime.adapters:
                        await adapter.wait_connected(60)
                line.start_source()
                await _drive(line, gateway, options, summary, out, counter)
            finally:
                # From here the demo must end: the boards are through, or it was interrupted.
                deadline = arm_stop_deadline("linegate demo") if options.stop_deadline else None
                stop.set()
                await asyncio.wait_for(running, 30)
            summary.seconds = time.perf_counter() - started
            summary.boards = len(line.departed)
            summary.events_by_type = dict(sorted(counter.by_type.items()))
            summary.events = sum(counter.by_type.values())
            for runtime in runtimes:
                norm = runtime.normalizer
                summary.machines[runtime.machine_id] = {
                    "handle": runtime.handle,
                    "state": norm.state.value if norm.state else None,
                    "recipe": norm.active_recipe.recipe_name if norm.active_recipe else None,
                    "faults": sorted(norm.faults),
                    "events": runtime.events,
                }
    if deadline is not None:
        deadline.cancel()
    _print_summary(summary, out)
    if options.summary_json:
        text = json.dumps(summary.to_json(), indent=2) + "\n"
        await asyncio.to_thread(Path(options.summary_json).write_text, text, encoding="utf-8")
    return summary


async def _drive(
    line: Line, gateway: Gateway, options: DemoOptions, summary: DemoSummary, out: TextIO, counter: Counter
) -> None:
    """Wait for the boards; change over at half-time; raise and clear one oven alarm."""
    total = options.boards
    changeover_at = max(1, total // 2)
    fault_at = max(1, total // 3)
    oven = next((m for m in line.machines if isinstance(m, ReflowOven)), None)
    changeover: asyncio.Task[list[Outcome]] | None = None
    progress = _progress(out, total)
    done = 0
    while done < total:
        await line.wait_departed(done + 1)
        done = len(line.departed)
        progress(done, sum(counter.by_type.values()))
        if oven is not None and summary.fault is None and done >= fault_at:
            oven.raise_fault(DEMO_ALARM, "O2 above limit (demo)")
            summary.fault = DEMO_ALARM
        elif oven is not None and summary.fault and done >= fault_at + 2 and DEMO_ALARM in oven.faults:
            oven.clear_fault(DEMO_ALARM)
        if changeover is None and done >= changeover_at:
            changeover = asyncio.create_task(
                gateway.recipes.changeover(list(PRODUCTS)[1]), name="demo.changeover"
            )
    if oven is not None and DEMO_ALARM in oven.faults:
        oven.clear_fault(DEMO_ALARM)
    if changeover is not None:
        outcomes = await asyncio.wait_for(changeover, 120)
        summary.changeover = {o.machine_id: o.result.message or o.result.result.value for o in outcomes}
    await asyncio.wait_for(gateway.outbox.wait_delivered(counter.name), 30)
    print("", file=out, flush=True)


def _progress(out: TextIO, total: int) -> Callable[[int, int], None]:
    tty = out.isatty()

    def show(done: int, events: int) -> None:
        width = 30
        filled = width * done // total
        bar = "#" * filled + "-" * (width - filled)
        text = f"boards [{bar}] {done}/{total}  events {events}"
        if tty:
            out.write("\r" + text)
            out.flush()
        else:
            print(text, file=out, flush=True)

    return show


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    rest = url.split("://", 1)[-1].rsplit("@", 1)[-1].strip("/")
    host, _, port = rest.partition(":")
    return host or "127.0.0.1", int(port) if port else default_port


def _print_summary(summary: DemoSummary, out: TextIO) -> None:
    print(f"\nlinegate demo: {summary.boards} boards through the line in {summary.seconds:.1f} s", file=out)
    print(f"  {summary.events} CFX events ({summary.events_per_second:.0f}/s)", file=out)
    for name, count in summary.events_by_type.items():
        print(f"    {count:>6}  {name}", file=out)
    print("  machines:", file=out)
    for machine_id, info in summary.machines.items():
        faults = ", ".join(info["faults"]) or "no faults"
        print(f"    {machine_id:<10} state {info['state']}  recipe {info['recipe']}  {faults}", file=out)
    if summary.changeover:
        print("  changeover:", file=out)
        for machine_id, message in summary.changeover.items():
            print(f"    {machine_id:<10} {message}", file=out)
    if summary.fault:
        print(f"  injected fault: {summary.fault} (raised and cleared on the oven)", file=out)
    out.flush()


def summary_from_json(data: bytes) -> dict[str, Any]:
    """Read back a ``--summary-json`` file (for scripts and tests)."""
    result: dict[str, Any] = orjson.loads(data)
    return result
