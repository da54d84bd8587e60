"""``linegate demo``: the default simulated line and the gateway against it, in one process.

Nothing to configure: the default line (``simulators/lines/default.toml``: scanner → printer →
SPI → placement → AOI → reflow oven → X-ray → selective solder → coater → ICT → FCT, with Hermes
between them), or the line file given, runs on an accelerated clock; the gateway connects to each
machine in its own protocol (CFX over AMQP 1.0, Modbus TCP, OPC UA, serial, result files) and to
each machine's Hermes vertical channel, writes CFX to an embedded SQLite outbox and prints it (and
publishes to AMQP and MQTT when asked). Midway it changes the line over to the second product and
raises one oven alarm, then clears it. It ends with a summary, which counts the units each
inspection and test station passed and failed.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import orjson
import structlog

from gateway.config import AmqpConfig, ChangeoverConfig, LineConfig, MqttConfig, RecipeRef
from gateway.deadline import arm_stop_deadline
from gateway.demo_trace import DEMO_CONTROL, print_trace, with_inspection
from gateway.http import SseSink
from gateway.launch import open_gateway, wait_connected
from gateway.metrics import Metrics
from gateway.outbox import StoredEvent
from gateway.recipes import Outcome
from gateway.runtime import Gateway
from gateway.simulated import line_config, line_products, publishing_to
from gateway.sinks.base import Sink
from gateway.sinks.console import ConsoleSink
from protocols.cfx.enums import ResourceState
from protocols.transport.ports import free_port
from simulators import FaultSeverity, Line, LineSpec, ReflowOven, default_line, load_line

log = structlog.get_logger("linegate.demo")

# The two products of the default line's work orders, and each machine's recipe for them (the
# names the simulators ship): the [products] table of simulators/lines/default.toml, which the
# demo reads (tests check the two agree).
PRODUCTS: dict[str, dict[str, RecipeRef]] = {
    "CTRL-MAIN-R3": {
        "printer": RecipeRef("PCB-CTRL-A"),
        "spi": RecipeRef("PCB-CTRL-A"),
        "placement": RecipeRef("PCB-CTRL-A"),
        "reflow": RecipeRef("SAC305-STD"),
        "solder": RecipeRef("PGM-CONN-A"),
        "coater": RecipeRef("ACRYLIC-50"),
    },
    "PSU-24V-R1": {
        "printer": RecipeRef("PCB-PWR-B"),
        "spi": RecipeRef("PCB-PWR-B"),
        "placement": RecipeRef("PCB-PWR-B"),
        "reflow": RecipeRef("SAC305-HEAVY"),
        "solder": RecipeRef("PGM-PWR-B"),
        "coater": RecipeRef("SILICONE-75"),
    },
}
# The alarm the demo injects: one the oven never raises by itself (it raises OV-O2-HIGH while its
# nitrogen purges at start), and a warning, so the oven keeps running while it is active.
DEMO_ALARM = "OV-CONVEYOR-DEVIATION"


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
    # After the summary, keep the dashboard and API up until interrupted (the CLI's --keep-open).
    keep_open: bool = False
    # End the process if stopping takes longer than the deadline (the CLI; not for callers
    # that run the demo inside their own process, such as tests).
    stop_deadline: bool = False
    # The trace store's SQLite file (gateway.demo_trace): with it the line starts with a
    # printer and an SPI, and an interlock refuses the board that fails SPI.
    trace_db: str | None = None
    # The line file to run (the CLI's --line); None runs the default line, the whole SMT line.
    line: str | None = None


@dataclass(slots=True)
class DemoSummary:
    """What the demo did, printed at the end and written by ``--summary-json``."""

    boards: int = 0
    seconds: float = 0.0
    events: int = 0
    events_by_type: dict[str, int] = field(default_factory=dict)
    machines: dict[str, dict[str, Any]] = field(default_factory=dict)
    changeover: dict[str, str] = field(default_factory=dict)
    #: Inspection and test stations: units passed and failed, by machine.
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)
    fault: str | None = None
    dashboard: str | None = None
    trace_db: str | None = None
    refusals: list[dict[str, Any]] = field(default_factory=list)

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


def demo_line(options: DemoOptions, events_port: int) -> LineSpec:
    """The line asked for (by default the default line), paced as asked, with its CFX-native
    machines publishing to us.

    Raises:
        ConfigError: the line file cannot be read or describes no valid line.
    """
    spec = load_line(options.line) if options.line else default_line()
    spec = publishing_to(with_inspection(spec) if options.trace_db else spec, events_port)
    return dataclasses.replace(spec, time_scale=options.time_scale, boards=options.boards)


def demo_config(options: DemoOptions, line: Line, events_port: int, folder: Path) -> LineConfig:
    """The running demo line as ``linegate run`` would be configured for it, the outbox in
    ``folder``; with ``--amqp`` / ``--mqtt``, those brokers (their URLs may carry the password,
    which a config file may not)."""
    config = line_config(
        line,
        events_port=events_port,
        outbox_path=folder / "outbox.sqlite",
        products=line_products(line.spec),
        name="demo",
        changeover=ChangeoverConfig(timeout=120),
        http_port=options.http_port,
    )
    return dataclasses.replace(
        config,
        amqp=AmqpConfig(url=options.amqp) if options.amqp else None,
        mqtt=MqttConfig(*_host_port(options.mqtt, 1883)) if options.mqtt else None,
        # --trace-db: the trace store there, and the demo's interlock (docs/trace.md).
        control=dataclasses.replace(DEMO_CONTROL, db=options.trace_db) if options.trace_db else None,
    )


async def run_demo(options: DemoOptions, out: TextIO | None = None) -> DemoSummary:
    """Run the demo line with the gateway until ``options.boards`` boards left the line."""
    out = out or sys.stdout
    summary = DemoSummary()
    events_port = free_port()
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
            if options.trace_db:  # a fresh store: the demo's queries read this run only
                await asyncio.to_thread(_remove_store, options.trace_db)
            opened = await open_gateway(
                demo_config(options, line, events_port, Path(folder)),
                stack,
                extra_sinks=sinks,
                metrics=metrics,
                sse=sse,
            )
            gateway = opened.gateway
            trace = gateway.trace  # the trace service and its interlocks, with --trace-db
            summary.dashboard = opened.http.url
            print(f"linegate demo: dashboard at {opened.http.url}", file=out, flush=True)
            print(f"linegate demo: CFX requests at {opened.listener.uri}", file=out, flush=True)
            stop = asyncio.Event()
            running = asyncio.create_task(gateway.run(stop), name="demo.gateway")
            try:
                await wait_connected(gateway, 60)
                if trace is not None:  # every machine's events flow, so no board is judged blind
                    await trace.wait_sources(trace.handles.values(), 60)
                line.start_source()
                await _drive(line, gateway, options, summary, out, counter)
                if trace is not None:  # the store holds every event before the summary reads it
                    await asyncio.wait_for(gateway.outbox.wait_delivered(trace.name), 30)
            finally:
                # From here the demo must end: the boards are through, or it was interrupted.
                deadline = arm_stop_deadline("linegate demo") if options.stop_deadline else None
                stop.set()
                await asyncio.wait_for(running, 30)
            summary.seconds = time.perf_counter() - started
            summary.boards = len(line.departed)
            summary.events_by_type = dict(sorted(counter.by_type.items()))
            summary.events = sum(counter.by_type.values())
            if trace is not None:
                summary.trace_db, summary.refusals = options.trace_db, list(trace.recent)
            for runtime in gateway.machines.values():
                norm = runtime.normalizer
                summary.machines[runtime.machine_id] = {
                    "handle": runtime.handle,
                    "state": norm.state.value if norm.state else None,
                    "recipe": norm.active_recipe.recipe_name if norm.active_recipe else None,
                    "faults": sorted(norm.faults),
                    "events": runtime.events,
                }
                figures = sse.tracker.shift.machine_view(runtime.handle, time.time())
                if figures["units_passed"] or figures["units_failed"]:
                    # An inspection or test station: its outcomes, from the stream it published.
                    summary.outcomes[runtime.machine_id] = {
                        "passed": figures["units_passed"],
                        "failed": figures["units_failed"],
                    }
            if options.keep_open:
                if deadline is not None:
                    deadline.cancel()
                    deadline = None
                await _report(summary, options, trace, out)
                # The gateway has stopped; its dashboard and API stay up, showing the end state.
                print(
                    f"linegate demo: the dashboard stays open at {opened.http.url}; Ctrl-C ends it",
                    file=out,
                    flush=True,
                )
                await asyncio.Event().wait()  # until the demo is interrupted (or cancelled)
    if deadline is not None:
        deadline.cancel()
    await _report(summary, options, trace, out)
    return summary


async def _report(summary: DemoSummary, options: DemoOptions, trace: Any, out: TextIO) -> None:
    """The summary on ``out``, the trace store's lines, and ``--summary-json``."""
    _print_summary(summary, out)
    if trace is not None and options.trace_db:
        print_trace(trace, options.trace_db, [], out)
    if options.summary_json:
        text = json.dumps(summary.to_json(), indent=2) + "\n"
        await asyncio.to_thread(Path(options.summary_json).write_text, text, encoding="utf-8")


async def _drive(
    line: Line, gateway: Gateway, options: DemoOptions, summary: DemoSummary, out: TextIO, counter: Counter
) -> None:
    """Wait for the boards; change over at half-time; raise and clear one oven alarm."""
    total = options.boards
    changeover_at = max(1, total // 2)
    # The line's second product, if its file names two (the default line's work orders do).
    products = list(gateway.recipes.products)
    target = products[1] if len(products) > 1 else None
    fault_at = max(1, total // 3)
    oven = next((m for m in line.machines if isinstance(m, ReflowOven)), None)
    changeover: asyncio.Task[list[Outcome]] | None = None
    # Redraw one progress line only when nothing else is printed: event lines would run into it.
    progress = _progress(out, total, redraw=out.isatty() and options.quiet)
    done = 0
    while done < total:
        await line.wait_departed(done + 1)
        done = len(line.departed)
        progress(done, sum(counter.by_type.values()))
        if oven is not None and summary.fault is None and done >= fault_at:
            oven.raise_fault(
                DEMO_ALARM, "conveyor speed deviation (injected by the demo)", FaultSeverity.WARNING
            )
            summary.fault = DEMO_ALARM
        elif oven is not None and summary.fault and done >= fault_at + 2 and DEMO_ALARM in oven.faults:
            oven.clear_fault(DEMO_ALARM)
        if changeover is None and target is not None and done >= changeover_at:
            changeover = asyncio.create_task(gateway.recipes.changeover(target), name="demo.changeover")
    if oven is not None and DEMO_ALARM in oven.faults:
        oven.clear_fault(DEMO_ALARM)
    if changeover is not None:
        outcomes = await asyncio.wait_for(changeover, 120)
        summary.changeover = {o.machine_id: o.result.message or o.result.result.value for o in outcomes}
    # The last board has left, but a CFX-native machine's events can trail it (one transfer in
    # flight each): the summary counts them only once they reached the gateway.
    await asyncio.wait_for(line.wait_published(), 30)
    await asyncio.wait_for(gateway.outbox.wait_delivered(counter.name), 30)
    print("", file=out, flush=True)


def _progress(out: TextIO, total: int, *, redraw: bool) -> Callable[[int, int], None]:
    def show(done: int, events: int) -> None:
        width = 30
        filled = width * done // total
        bar = "#" * filled + "-" * (width - filled)
        text = f"boards [{bar}] {done}/{total}  events {events}"
        if redraw:
            out.write("\r\x1b[K" + text)  # back to the line's start, clear it, draw
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
        state = _state_text(info["state"])
        recipe = f"recipe {info['recipe']}" if info["recipe"] else "no recipe"
        print(f"    {machine_id:<10} {state:<30} {recipe}  {faults}", file=out)
    if summary.outcomes:
        print("  inspection and test outcomes:", file=out)
        for machine_id, counts in summary.outcomes.items():
            print(f"    {machine_id:<10} {counts['passed']} passed, {counts['failed']} failed", file=out)
    if summary.changeover:
        print("  changeover:", file=out)
        for machine_id, message in summary.changeover.items():
            print(f"    {machine_id:<10} {message}", file=out)
    if summary.fault:
        print(f"  injected fault: {summary.fault} (raised and cleared on the oven)", file=out)
    out.flush()


def _remove_store(path: str) -> None:
    for stale in (path, f"{path}-wal", f"{path}-shm"):
        Path(stale).unlink(missing_ok=True)


def _state_text(code: str | None) -> str:
    """A SEMI E10 state code with its name: ``2202 SBY_NO_PRODUCT_STARVED``."""
    if code is None:
        return "state unknown"
    try:
        return f"{code} {ResourceState(code).name}"
    except ValueError:
        return code


def summary_from_json(data: bytes) -> dict[str, Any]:
    """Read back a ``--summary-json`` file (for scripts and tests)."""
    result: dict[str, Any] = orjson.loads(data)
    return result
