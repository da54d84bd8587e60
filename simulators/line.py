"""A simulated line: N machines in order with Hermes between them, a board source and a sink.

:class:`Line` builds the machines a :class:`LineSpec` lists (from a line file, see
:func:`load_line`, or :func:`default_line`), and wires them together:

- between neighbours, real Hermes lanes (:mod:`simulators.hermes_link`): each machine's
  Downstream server, and the next machine's Upstream client connected to it (reference §0);
- on every machine, a Hermes vertical server (:mod:`simulators.supervisory`), which also holds
  each board at the entrance until a supervisory client that takes work-order queries
  released it;
- before the first machine a :class:`BoardSource`, a Hermes sender that creates boards (BoardIds,
  barcodes, product types, work orders), and after the last a :class:`BoardSink`, a Hermes
  receiver that accounts for every board. With ``open_ends`` both are left out: the first
  machine's upstream connects to an outside sender, and the last machine's downstream server
  waits for an outside receiver.

A reflow oven in legacy mode (``options.legacy = true``) has no Hermes: its neighbours hand
boards over in memory, and its conveyor coils are driven by the line (``legacy_conveyor =
"auto"``, as a line PLC would) or left to a Modbus client such as a Hermes bridge
(``"external"``).

With ``legacy_neighbours = "hermes"`` the oven's neighbours speak Hermes to a Hermes bridge
(``adapters.hermes_bridge``) that stands in for the oven, and the coils are always left to it:

- the previous machine gets a real Downstream server; the bridge's Upstream client connects to
  it. When that machine's transfer to the bridge has run, the board lands on the oven's entry
  sensor (the physical conveyor link, modelled apart from Hermes);
- the next machine's Upstream client connects to the port in the oven's endpoint
  (``hermes.downstream_port``: the oven's ``hermes_port``, or a free port the line picks), where
  the bridge's Downstream server must listen. The board the oven releases travels to that
  machine through an in-memory physical link; the machine takes it once the bridge's Hermes
  handoff for the same BoardId has completed, with the description the bridge sent.

The oven's endpoint reads as if the oven spoke Hermes: ``hermes.upstream_host/upstream_port``
is where the bridge connects, ``hermes.downstream_port`` where it listens.

:meth:`Line.endpoints` says where every machine listens. The machine kinds are a registry
(:data:`MACHINE_KINDS`); ``placement`` is imported only when a line uses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from protocols.errors import ConfigError
from protocols.transport.ports import free_port
from simulators.clock import Clock, ScaledClock
from simulators.hermes_link import BoardBook, HermesDownstream, HermesUpstream
from simulators.legacy_links import BridgedEntry, BridgedExit, LegacyEntry
from simulators.line_ends import BoardSink, BoardSource
from simulators.line_spec import (
    HANDLE_ARGUMENTS,
    LEGACY_CONVEYOR,
    LEGACY_NEIGHBOURS,
    MACHINE_KINDS,
    SINK_ID,
    SOURCE_ID,
    LineSpec,
    MachineKind,
    MachineSpec,
    SourceSpec,
    WorkOrder,
    default_line,
    default_line_path,
    load_line,
    machine_classes,
    machine_parameters,
    parse_line,
    small_line,
    small_line_path,
)
from simulators.machine import (
    Board,
    BoardIn,
    BoardOut,
    Handoff,
    Machine,
    MachineEvent,
    UnitsDeparted,
)
from simulators.reflow_oven import COIL_CONVEYOR_RUN, COIL_EXIT_RELEASE, ReflowOven
from simulators.scenario import AppliedFault, Scenario
from simulators.supervisory import SupervisoryChannel

# -- endpoints ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HermesEndpoints:
    """A machine's Hermes side: its lane, where its Upstream client connects, its servers' ports."""

    lane_id: int
    upstream_host: str | None
    upstream_port: int | None
    downstream_port: int | None
    vertical_port: int


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where one machine of a running line listens (what ``linegate simulate`` prints)."""

    machine_id: str
    kind: str
    protocol: str
    host: str
    port: int | None
    tty_path: str | None
    url: str | None
    cfx_handle: str | None
    hermes: HermesEndpoints
    folder: str | None = None  # where a result-file station (ICT) drops its files

    def to_json(self) -> dict[str, Any]:
        """The endpoint as JSON-ready data (``--endpoints-json``)."""
        return dataclasses.asdict(self)


def _first_attribute(machine: Machine, names: tuple[str, ...]) -> Any:
    for name in names:
        value = getattr(machine, name, None)
        if value is not None:
            return value
    return None


def _machine_address(kind: MachineKind, machine: Machine) -> tuple[int | None, str | None, str | None]:
    """(port, tty path, url) of a machine's own protocol server."""
    if kind.protocol == "serial":  # the coater, the barcode scanner
        return getattr(machine, "tcp_port", None), getattr(machine, "tty_path", None), None
    port = _first_attribute(machine, ("port", "listener_port", "request_port"))
    url = _first_attribute(machine, ("url", "request_uri", "request_url", "listener_url"))
    return (port if isinstance(port, int) else None), None, (str(url) if url is not None else None)


# -- the line ----------------------------------------------------------------------------------


class Line:
    """A running line of simulated machines.

    Use it as ``async with Line(spec) as line``: every server is listening and every machine
    started when the body runs.

    Args:
        spec: the line (see :func:`load_line`, :func:`default_line`).
        clock: the clock for every machine; default a ScaledClock at ``spec.time_scale``.
        host: the address every server listens on.
        open_ends: leave out source and sink (see the module docstring).
        upstream: with ``open_ends``, the outside sender (host, port); default from the spec.
        start_source: start making boards at once; with False, call :meth:`start_source` (so
            that observers can connect first).
    """

    def __init__(
        self,
        spec: LineSpec,
        *,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        open_ends: bool = False,
        upstream: tuple[str, int] | None = None,
        start_source: bool = True,
    ) -> None:
        self.spec = spec
        self._autostart = start_source
        self.clock = clock or ScaledClock(spec.time_scale)
        self.host = host
        self.open_ends = open_ends
        self.upstream = upstream or (spec.upstream_host, spec.upstream_port)
        self.machines: list[Machine] = []
        self.books: dict[str, BoardBook] = {}
        self.upstreams: dict[str, HermesUpstream] = {}
        self.downstreams: dict[str, HermesDownstream] = {}
        #: For each bridged legacy machine: the port its bridge's Downstream server must use.
        self.bridge_ports: dict[str, int] = {}
        self._bridged_entries: dict[int, BridgedEntry] = {}
        self.channels: dict[str, SupervisoryChannel] = {}
        self.source: BoardSource | None = None
        self.sink: BoardSink | None = None
        #: Boards that left the last machine (to the sink or an outside receiver), in order.
        self.departed: list[str] = []
        self._departure = asyncio.Event()
        self._stack = contextlib.AsyncExitStack()
        self._tasks: list[asyncio.Task[Any]] = []

    def machine(self, machine_id: str) -> Machine:
        """The machine with ``machine_id``.

        Raises:
            KeyError: no such machine.
        """
        for machine in self.machines:
            if machine.machine_id == machine_id:
                return machine
        raise KeyError(machine_id)

    @property
    def machines_by_id(self) -> dict[str, Machine]:
        """The machines by MachineId."""
        return {machine.machine_id: machine for machine in self.machines}

    def start_scenario(self, scenario: Scenario) -> asyncio.Task[list[AppliedFault]]:
        """Run ``scenario``'s faults on this line's clock, from now, as a task the line stops.

        Raises:
            ConfigError: a step names a machine the line lacks or an action it cannot do.
        """
        machines = self.machines_by_id
        scenario.check({machine_id: type(machine) for machine_id, machine in machines.items()})
        task = asyncio.create_task(scenario.run(machines, self.clock), name="simulator[line].scenario")
        self._tasks.append(task)
        return task

    def _speed(self, index: int) -> Callable[[], float]:
        return lambda: self.machines[index].conveyor.speed_mm_s if index < len(self.machines) else 100.0

    async def __aenter__(self) -> Self:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for task in self._tasks:
            task.cancel()
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._stack.aclose()
        errors = [r for r in results if isinstance(r, Exception)]
        if errors:
            raise errors[0]

    async def _enter(self, context: Any) -> Any:
        return await self._stack.enter_async_context(context)

    async def _start(self) -> None:
        source_lane: HermesDownstream | None = None
        if not self.open_ends:
            source_lane = await self._enter(
                HermesDownstream(machine_id=SOURCE_ID, clock=self.clock, host=self.host, port=0)
            )
        # Downstream servers first, so that every upstream client has a port to connect to.
        await self._open_downstreams()
        await self._build_machines(source_lane)
        for machine, spec in zip(self.machines, self.spec.machines, strict=True):
            self.channels[spec.machine_id] = await self._enter(
                SupervisoryChannel(
                    machine,
                    self.books[spec.machine_id],
                    host=self.host,
                    port=spec.vertical_port,
                    upstream_lane_id=spec.lane_id,
                    downstream_lane_id=spec.lane_id,
                )
            )
        for machine_id, upstream in self.upstreams.items():
            upstream.on_arrival = self.channels[machine_id].assign_work_order
        for machine in self.machines:
            # A supervisory client that takes work-order queries releases each board first.
            machine.board_gate = self.channels[machine.machine_id].admit_board
        self.machines[-1].subscribe(self._on_last_event)
        await self._start_machines()
        if source_lane is not None:
            last = self.downstreams[self.spec.machines[-1].machine_id]
            sink_lane = await self._enter(HermesUpstream(self.host, last.port, machine_id=SINK_ID))
            self.sink = BoardSink(sink_lane)
            self.source = BoardSource(
                self.spec.source, self.clock, source_lane, count=self.spec.boards, seed=self.spec.seed
            )
            self._tasks.append(asyncio.create_task(self.sink.run(), name="simulator[line].sink"))
            if self._autostart:
                self.start_source()

    def _hands_over_in_memory(self, index: int) -> bool:
        """Whether machine ``index`` hands its boards on without Hermes (it or the next is legacy,
        and no Hermes bridge stands in for the legacy one)."""
        specs = self.spec.machines
        return specs[index].legacy or (
            index + 1 < len(specs) and specs[index + 1].legacy and not specs[index + 1].bridged
        )

    async def _open_downstreams(self) -> None:
        specs = self.spec.machines
        for index, spec in enumerate(specs):
            self.books[spec.machine_id] = BoardBook(spec.machine_id)
            if spec.bridged:
                self.bridge_ports[spec.machine_id] = spec.hermes_port or free_port(self.host)
            if self._hands_over_in_memory(index):
                continue
            on_transferred: Callable[[Board], Awaitable[None]] | None = None
            if index + 1 < len(specs) and specs[index + 1].bridged:
                entry = self._bridged_entries[index + 1] = BridgedEntry()
                on_transferred = entry.place
            self.downstreams[spec.machine_id] = await self._enter(
                HermesDownstream(
                    machine_id=spec.machine_id,
                    clock=self.clock,
                    book=self.books[spec.machine_id],
                    host=self.host,
                    port=spec.hermes_port,
                    lane_id=spec.lane_id,
                    conveyor_speed=self._speed(index),
                    on_transferred=on_transferred,
                )
            )

    async def _build_machines(self, source_lane: HermesDownstream | None) -> None:
        specs = self.spec.machines
        exits: dict[int, Handoff] = {}  # in-memory links out of a legacy oven, by its index
        entries: dict[int, LegacyEntry] = {}  # in-memory links into a legacy oven, by its index
        for index, spec in enumerate(specs):
            board_in: BoardIn | None
            board_out: BoardOut | None
            if index > 0 and specs[index - 1].bridged:
                board_in = BridgedExit(await self._upstream(index, source_lane), exits[index - 1])
            elif index > 0 and specs[index - 1].legacy:
                board_in = exits[index - 1]
            elif spec.legacy:
                board_in = None  # the oven's coil-driven entrance
            else:
                board_in = await self._upstream(index, source_lane)
            if spec.legacy:
                board_out = exits[index] = Handoff()
            elif self._hands_over_in_memory(index):
                drive = specs[index + 1].legacy_conveyor == "auto"
                board_out = entries[index + 1] = LegacyEntry(self.clock, drive)
            else:
                board_out = self.downstreams[spec.machine_id]
            self.machines.append(self._build(index, spec, board_in, board_out))
        for index, bridged in self._bridged_entries.items():
            oven = self.machines[index]
            assert isinstance(oven, ReflowOven)
            bridged.attach(oven)
        for index, entry in entries.items():
            oven = self.machines[index]
            assert isinstance(oven, ReflowOven)  # only the oven has a legacy option
            entry.attach(oven)
            if entry.drive:
                # The line plays the PLC: the conveyor runs and the exit releases all the time.
                oven.coils[COIL_CONVEYOR_RUN] = oven.coils[COIL_EXIT_RELEASE] = True

    def start_source(self) -> None:
        """Let the source start making boards (once; nothing to do with open ends)."""
        if self.source is not None and not any(t.get_name() == "simulator[line].source" for t in self._tasks):
            self._tasks.append(asyncio.create_task(self.source.run(), name="simulator[line].source"))

    async def _upstream(self, index: int, source_lane: HermesDownstream | None) -> HermesUpstream:
        spec = self.spec.machines[index]
        before = self.spec.machines[index - 1] if index > 0 else None
        if before is not None and before.bridged:
            host, port = self.host, self.bridge_ports[before.machine_id]  # the bridge listens there
        elif index > 0:
            host, port = self.host, self.downstreams[self.spec.machines[index - 1].machine_id].port
        elif source_lane is not None:
            host, port = self.host, source_lane.port
        else:
            host, port = self.upstream
        upstream: HermesUpstream = await self._enter(
            HermesUpstream(
                host,
                port,
                machine_id=spec.machine_id,
                book=self.books[spec.machine_id],
                lane_id=spec.lane_id,
                conveyor_speed=self._speed(index),
            )
        )
        self.upstreams[spec.machine_id] = upstream
        return upstream

    def _build(
        self, index: int, spec: MachineSpec, board_in: BoardIn | None, board_out: BoardOut | None
    ) -> Machine:
        kind = MACHINE_KINDS[spec.kind]
        cls = kind.load()
        parameters = machine_parameters(cls)
        arguments: dict[str, Any] = {
            "machine_id": spec.machine_id,
            "clock": self.clock,
            "seed": self.spec.seed * 1000 + index,
            "board_in": board_in,
            "board_out": board_out,
            "host": self.host,
        }
        for name in HANDLE_ARGUMENTS:
            if name in parameters and spec.handle is not None:
                arguments[name] = spec.handle
        arguments = {name: value for name, value in arguments.items() if name in parameters}
        arguments.update(spec.options)
        try:
            return cls(**arguments)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"cannot build {cls.__name__}: {exc}", path=self.spec.path, key=f"machines[{index}]"
            ) from None

    async def _start_machines(self) -> None:
        # The servers (OPC UA above all) take a moment each; start them side by side.
        results = await asyncio.gather(*(m.start() for m in self.machines), return_exceptions=True)
        for machine, result in zip(self.machines, results, strict=True):
            if not isinstance(result, BaseException):
                self._stack.push_async_callback(machine.stop)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    def _on_last_event(self, event: MachineEvent) -> None:
        if isinstance(event, UnitsDeparted):
            self.departed.append(event.board.board_id)
            self._departure.set()

    async def wait_departed(self, count: int) -> None:
        """Wait until at least ``count`` boards have left the last machine."""
        while len(self.departed) < count:
            self._departure.clear()
            await self._departure.wait()

    async def wait_published(self) -> None:
        """Wait until every machine's own published events (a CFX endpoint's spool) reached
        their peer: a machine's events can trail the boards it moved."""
        await asyncio.gather(*(m.wait_published() for m in self.machines))

    def endpoints(self) -> list[Endpoint]:
        """Where every machine listens, in line order."""
        found = []
        for spec, machine in zip(self.spec.machines, self.machines, strict=True):
            kind = MACHINE_KINDS[spec.kind]
            port, tty_path, url = _machine_address(kind, machine)
            upstream = self.upstreams.get(spec.machine_id)
            downstream = self.downstreams.get(spec.machine_id)
            upstream_host, upstream_port = (upstream.host, upstream.port) if upstream else (None, None)
            downstream_port = downstream.port if downstream else None
            if spec.bridged:
                # Where the bridge standing in for this machine connects and listens.
                index = self.spec.machines.index(spec)
                previous = self.downstreams[self.spec.machines[index - 1].machine_id]
                upstream_host, upstream_port = self.host, previous.port
                downstream_port = self.bridge_ports[spec.machine_id]
            found.append(
                Endpoint(
                    machine_id=spec.machine_id,
                    kind=spec.kind,
                    protocol=kind.protocol,
                    host=self.host,
                    port=port,
                    tty_path=tty_path,
                    url=url,
                    cfx_handle=spec.handle,
                    hermes=HermesEndpoints(
                        lane_id=spec.lane_id,
                        upstream_host=upstream_host,
                        upstream_port=upstream_port,
                        downstream_port=downstream_port,
                        vertical_port=self.channels[spec.machine_id].port,
                    ),
                    folder=getattr(machine, "folder", None) if kind.protocol == "files" else None,
                )
            )
        return found


__all__ = [
    "LEGACY_CONVEYOR",
    "LEGACY_NEIGHBOURS",
    "MACHINE_KINDS",
    "SINK_ID",
    "SOURCE_ID",
    "BoardSink",
    "BoardSource",
    "Endpoint",
    "HermesEndpoints",
    "Line",
    "LineSpec",
    "MachineKind",
    "MachineSpec",
    "SourceSpec",
    "WorkOrder",
    "default_line",
    "default_line_path",
    "load_line",
    "machine_classes",
    "parse_line",
    "small_line",
    "small_line_path",
]
