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
import importlib
import inspect
import random
import socket
import tomllib
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import structlog

from protocols.errors import ConfigError
from protocols.hermes.messages import BoardAvailable
from simulators.clock import Clock, ScaledClock
from simulators.hermes_link import BoardBook, HermesDownstream, HermesUpstream
from simulators.machine import (
    Board,
    BoardIn,
    BoardOut,
    Handoff,
    Machine,
    MachineEvent,
    UnitsArrived,
    UnitsDeparted,
)
from simulators.reflow_oven import COIL_CONVEYOR_RUN, COIL_EXIT_RELEASE, ReflowOven
from simulators.scenario import AppliedFault, Scenario
from simulators.supervisory import SupervisoryChannel

log = structlog.get_logger("simulators.line")

#: The MachineIds of the built-in board source and sink.
SOURCE_ID = "source"
SINK_ID = "sink"


# -- the machine kinds -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MachineKind:
    """A kind of machine a line file may name: where its class lives and what it speaks."""

    name: str
    protocol: str
    module: str
    class_name: str | None = None  # None: the module's one Machine subclass

    def load(self) -> type[Machine]:
        """Import the machine class.

        Raises:
            ImportError: the module (or the class) is not available.
        """
        module = importlib.import_module(self.module)
        if self.class_name is not None:
            cls: type[Machine] = getattr(module, self.class_name)
            return cls
        found = [
            value
            for value in vars(module).values()
            if inspect.isclass(value)
            and issubclass(value, Machine)
            and value is not Machine
            and value.__module__ == module.__name__
        ]
        if len(found) != 1:
            raise ImportError(f"{self.module} defines {len(found)} machine classes, expected one")
        return found[0]

    def available(self) -> bool:
        """Whether the machine class can be imported."""
        try:
            self.load()
        except ImportError:
            return False
        return True


#: Machine kinds by the name line files use.
MACHINE_KINDS: dict[str, MachineKind] = {
    kind.name: kind
    for kind in (
        # Imported lazily: the placement machine (CFX over AMQP 1.0) may not be installed.
        MachineKind("placement", "cfx-amqp1.0", "simulators.placement", "PlacementMachine"),
        MachineKind("reflow_oven", "modbus-tcp", "simulators.reflow_oven", "ReflowOven"),
        MachineKind("selective_solder", "opcua", "simulators.selective_solder", "SelectiveSolder"),
        MachineKind("coater", "serial", "simulators.coater", "Coater"),
    )
}

# Arguments the line itself passes to every machine class (never options in a line file).
_LINE_ARGUMENTS = frozenset({"machine_id", "clock", "seed", "board_in", "board_out", "host"})
_HANDLE_ARGUMENTS = ("cfx_handle", "handle")
LEGACY_CONVEYOR = ("auto", "external")
LEGACY_NEIGHBOURS = ("memory", "hermes")


def _parameters(cls: type[Machine]) -> Mapping[str, inspect.Parameter]:
    return inspect.signature(cls.__init__).parameters


# -- the line description ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MachineSpec:
    """One machine of a line file's ``[[machines]]``.

    ``hermes_port`` is its Downstream server's port and ``vertical_port`` its
    SupervisorySystemPort (0: a free port; see :meth:`Line.endpoints`).
    """

    kind: str
    machine_id: str
    handle: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    hermes_port: int = 0
    vertical_port: int = 0
    lane_id: int = 1
    legacy_conveyor: str = "auto"
    legacy_neighbours: str = "memory"

    @property
    def legacy(self) -> bool:
        """Whether the machine runs without Hermes (the reflow oven's legacy mode)."""
        return bool(self.options.get("legacy", False))

    @property
    def bridged(self) -> bool:
        """Whether a Hermes bridge stands in for this legacy machine towards its neighbours."""
        return self.legacy and self.legacy_neighbours == "hermes"


@dataclass(frozen=True, slots=True)
class WorkOrder:
    """A work order the source produces: ``quantity`` boards of ``product_type_id``."""

    work_order_id: str
    product_type_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """How the built-in source makes boards (work orders repeat in order)."""

    work_orders: tuple[WorkOrder, ...] = (WorkOrder("WO-1", "PRODUCT-A", 100),)
    barcode_prefix: str = "PCB"
    interval: float = 0.0  # simulated seconds between two boards leaving the source (at least)
    length_mm: float = 160.0
    width_mm: float = 100.0
    thickness_mm: float = 1.6


@dataclass(frozen=True, slots=True)
class LineSpec:
    """A whole line: machines in order, source, timing, and the open ends' outside peer."""

    machines: tuple[MachineSpec, ...]
    name: str = "line"
    time_scale: float = 1.0
    boards: int | None = None  # how many boards the source makes (None: no limit)
    seed: int = 0
    source: SourceSpec = SourceSpec()
    upstream_host: str = "127.0.0.1"  # with open ends: the outside sender the first machine joins
    upstream_port: int = 50101
    path: str | None = None  # the line file it came from


def machine_classes(spec: LineSpec) -> dict[str, type[Machine]]:
    """The machine class of every machine in ``spec``, by MachineId (to check a scenario early)."""
    return {m.machine_id: MACHINE_KINDS[m.kind].load() for m in spec.machines}


def default_line_path() -> Path:
    """The line file shipped with the package (``simulators/lines/default.toml``)."""
    return Path(str(resources.files("simulators") / "lines" / "default.toml"))


def default_line() -> LineSpec:
    """The default line: placement → reflow oven → selective solder → coater.

    Without the placement simulator (``simulators.placement`` not importable) the line starts at
    the reflow oven.
    """
    spec = load_line(default_line_path())
    usable = tuple(m for m in spec.machines if MACHINE_KINDS[m.kind].available())
    if len(usable) != len(spec.machines):
        log.warning(
            "line.placement_unavailable", dropped=[m.machine_id for m in spec.machines if m not in usable]
        )
    return dataclasses.replace(spec, machines=usable)


class _Reader:
    """Typed access to a TOML table that names the file and key path in every error."""

    def __init__(self, table: Mapping[str, Any], path: str | None, key: str) -> None:
        self.table = table
        self.path = path
        self.key = key

    def _where(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def error(self, name: str, problem: str) -> ConfigError:
        return ConfigError(problem, path=self.path, key=self._where(name))

    def get(
        self, name: str, kind: type | tuple[type, ...], default: Any = None, *, required: bool = False
    ) -> Any:
        if name not in self.table:
            if required:
                raise self.error(name, "is required")
            return default
        value = self.table[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # TOML integers are fine where a float is asked for; booleans are not numbers here.
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds:
            raise self.error(name, f"must be {_kind_names(kinds)}, not a boolean")
        if not isinstance(value, kinds):
            raise self.error(name, f"must be {_kind_names(kinds)}, not {type(value).__name__}")
        return value

    def table_at(self, name: str) -> _Reader:
        value = self.get(name, dict, {})
        return _Reader(value, self.path, self._where(name))

    def tables(self, name: str) -> Iterator[_Reader]:
        for index, item in enumerate(self.get(name, list, [])):
            if not isinstance(item, dict):
                raise ConfigError("must be a table", path=self.path, key=f"{self._where(name)}[{index}]")
            yield _Reader(item, self.path, f"{self._where(name)}[{index}]")

    def reject_unknown(self, known: set[str]) -> None:
        for name in self.table:
            if name not in known:
                raise self.error(name, f"unknown key (known: {', '.join(sorted(known))})")


def _kind_names(kinds: tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "a boolean",
        dict: "a table",
        list: "an array",
    }
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _port(reader: _Reader, name: str, default: int) -> int:
    value: int = reader.get(name, int, default)
    if not 0 <= value <= 65535:
        raise reader.error(name, f"must be a TCP port 0..65535, not {value}")
    return value


def _machine_spec(reader: _Reader, seen: set[str]) -> MachineSpec:
    reader.reject_unknown(
        {
            "kind",
            "id",
            "handle",
            "options",
            "hermes_port",
            "vertical_port",
            "lane_id",
            "legacy_conveyor",
            "legacy_neighbours",
        }
    )
    kind_name: str = reader.get("kind", str, required=True)
    kind = MACHINE_KINDS.get(kind_name)
    if kind is None:
        raise reader.error("kind", f"unknown machine kind {kind_name!r} (known: {', '.join(MACHINE_KINDS)})")
    machine_id: str = reader.get("id", str, required=True)
    if not machine_id or machine_id in seen or machine_id in (SOURCE_ID, SINK_ID):
        raise reader.error("id", f"machine id {machine_id!r} is empty, repeated or reserved")
    seen.add(machine_id)
    options = dict(reader.get("options", dict, {}))
    try:
        cls = kind.load()
    except ImportError as exc:
        raise reader.error("kind", f"machine kind {kind_name!r} is not available: {exc}") from None
    parameters = _parameters(cls)
    for name in options:
        if name in _LINE_ARGUMENTS or name not in parameters or name.startswith("_") or name == "self":
            raise ConfigError(
                f"{cls.__name__} has no option {name!r}", path=reader.path, key=f"{reader.key}.options.{name}"
            )
    legacy_conveyor: str = reader.get("legacy_conveyor", str, "auto")
    if legacy_conveyor not in LEGACY_CONVEYOR:
        raise reader.error("legacy_conveyor", f"must be one of {', '.join(LEGACY_CONVEYOR)}")
    legacy_neighbours: str = reader.get("legacy_neighbours", str, "memory")
    if legacy_neighbours not in LEGACY_NEIGHBOURS:
        raise reader.error("legacy_neighbours", f"must be one of {', '.join(LEGACY_NEIGHBOURS)}")
    if legacy_neighbours == "hermes" and not options.get("legacy", False):
        raise reader.error("legacy_neighbours", "needs options.legacy = true (a machine without Hermes)")
    lane_id: int = reader.get("lane_id", int, 1)
    if lane_id < 1:
        raise reader.error("lane_id", "must be at least 1")
    return MachineSpec(
        kind=kind_name,
        machine_id=machine_id,
        handle=reader.get("handle", str),
        options=options,
        hermes_port=_port(reader, "hermes_port", 0),
        vertical_port=_port(reader, "vertical_port", 0),
        lane_id=lane_id,
        legacy_conveyor="external" if legacy_neighbours == "hermes" else legacy_conveyor,
        legacy_neighbours=legacy_neighbours,
    )


def _source_spec(reader: _Reader) -> SourceSpec:
    reader.reject_unknown(
        {"work_orders", "barcode_prefix", "interval", "length_mm", "width_mm", "thickness_mm"}
    )
    defaults = SourceSpec()
    orders = []
    for order in reader.tables("work_orders"):
        order.reject_unknown({"id", "product", "quantity"})
        quantity: int = order.get("quantity", int, 1)
        if quantity < 1:
            raise order.error("quantity", "must be at least 1")
        orders.append(
            WorkOrder(order.get("id", str, required=True), order.get("product", str, required=True), quantity)
        )
    interval: float = reader.get("interval", float, defaults.interval)
    if interval < 0:
        raise reader.error("interval", "must not be negative")
    return SourceSpec(
        work_orders=tuple(orders) or defaults.work_orders,
        barcode_prefix=reader.get("barcode_prefix", str, defaults.barcode_prefix),
        interval=interval,
        length_mm=reader.get("length_mm", float, defaults.length_mm),
        width_mm=reader.get("width_mm", float, defaults.width_mm),
        thickness_mm=reader.get("thickness_mm", float, defaults.thickness_mm),
    )


def parse_line(data: Mapping[str, Any], *, path: str | None = None) -> LineSpec:
    """Build a :class:`LineSpec` from a parsed line file.

    Raises:
        ConfigError: naming ``path`` and the key path of the first problem.
    """
    root = _Reader(data, path, "")
    # [products] (product -> machine id -> recipe, as in linegate run's config) is for the
    # gateway the test kit wires to the line (gateway.testing); the simulators ignore it.
    root.reject_unknown(
        {"name", "time_scale", "boards", "seed", "source", "open_ends", "machines", "products"}
    )
    seen: set[str] = set()
    machines = tuple(_machine_spec(reader, seen) for reader in root.tables("machines"))
    if not machines:
        raise ConfigError("a line needs at least one [[machines]] entry", path=path, key="machines")
    for end, machine in (("first", machines[0]), ("last", machines[-1])):
        if machine.legacy:
            raise ConfigError(
                f"the {end} machine cannot run without Hermes (legacy): the source and sink speak Hermes",
                path=path,
                key=f"machines[{machines.index(machine)}].options.legacy",
            )
    time_scale: float = root.get("time_scale", float, 1.0)
    if time_scale <= 0:
        raise root.error("time_scale", "must be positive")
    boards: int | None = root.get("boards", int)
    if boards is not None and boards < 1:
        raise root.error("boards", "must be at least 1")
    ends = root.table_at("open_ends")
    ends.reject_unknown({"upstream_host", "upstream_port"})
    return LineSpec(
        machines=machines,
        name=root.get("name", str, Path(path).stem if path else "line"),
        time_scale=time_scale,
        boards=boards,
        seed=root.get("seed", int, 0),
        source=_source_spec(root.table_at("source")),
        upstream_host=ends.get("upstream_host", str, "127.0.0.1"),
        upstream_port=_port(ends, "upstream_port", 50101),
        path=path,
    )


def load_line(path: str | Path) -> LineSpec:
    """Read a line file (TOML).

    Raises:
        ConfigError: the file cannot be read, is not TOML, or describes no valid line.
    """
    name = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the line file: {exc.strerror or exc}", path=name) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=name) from None
    return parse_line(data, path=name)


# -- source and sink ---------------------------------------------------------------------------


class BoardSource:
    """The line's board loader: makes boards and hands them to the first machine over Hermes.

    BoardIds are GUIDs drawn from the seeded generator, so a run is reproducible; barcodes are
    ``<prefix><serial>``; product type and work order follow the work orders in turn.

    Args:
        spec: what boards to make.
        clock: the line's clock.
        out: where boards go (the source's Hermes Downstream server).
        count: how many boards (None: no limit).
        seed: seeds the BoardIds.
    """

    def __init__(
        self, spec: SourceSpec, clock: Clock, out: BoardOut, *, count: int | None, seed: int = 0
    ) -> None:
        self.spec = spec
        self.clock = clock
        self.out = out
        self.count = count
        self.rng = random.Random(seed)
        #: BoardIds in the order they left the source.
        self.sent: list[str] = []

    def boards(self) -> Iterator[Board]:
        """The boards the source makes, in order."""
        serial = 0
        while True:
            for order in self.spec.work_orders:
                for _ in range(order.quantity):
                    if self.count is not None and serial >= self.count:
                        return
                    serial += 1
                    yield Board(
                        board_id=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                        barcode=f"{self.spec.barcode_prefix}{serial:06d}",
                        product_type_id=order.product_type_id,
                        work_order_id=order.work_order_id,
                        length_mm=self.spec.length_mm,
                        width_mm=self.spec.width_mm,
                        thickness_mm=self.spec.thickness_mm,
                    )

    async def run(self) -> None:
        """Hand every board to the first machine, ``interval`` simulated seconds apart at least."""
        for board in self.boards():
            await self.out.give_board(board)
            self.sent.append(board.board_id)
            await self.clock.sleep(self.spec.interval)


class BoardSink:
    """The line's unloader: takes every board from the last machine over Hermes and keeps account.

    Args:
        upstream: the sink's Hermes Upstream client, connected to the last machine.
    """

    def __init__(self, upstream: HermesUpstream) -> None:
        self.upstream = upstream
        #: The boards received, in order, as the last machine described them.
        self.received: list[BoardAvailable] = []
        self._changed = asyncio.Condition()

    @property
    def board_ids(self) -> list[str]:
        """The BoardIds received, in order."""
        return [board.board_id for board in self.received]

    @property
    def repeats(self) -> int:
        """Boards offered again after they had been taken (never counted twice)."""
        return self.upstream.repeats

    async def run(self) -> None:
        """Take boards until cancelled."""
        while True:
            board = await self.upstream.take_board()
            self.received.append(self.upstream.book.describe(board))
            async with self._changed:
                self._changed.notify_all()

    async def wait_for(self, count: int) -> None:
        """Wait until at least ``count`` boards arrived."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.received) >= count)


# -- legacy (non-Hermes) neighbours ------------------------------------------------------------


class _LegacyEntry:
    """The machine before a legacy oven: puts boards on the oven's entry sensor (a BoardOut).

    With ``drive`` (the line plays the PLC) it waits for the oven's ready flag first, as a
    line controller would; without, whoever drives the coils decides when boards enter.
    """

    def __init__(self, clock: Clock, drive: bool) -> None:
        self.clock = clock
        self.drive = drive
        self.oven: ReflowOven | None = None  # set once it is built
        self._entered: dict[str, asyncio.Future[None]] = {}

    def attach(self, oven: ReflowOven) -> None:
        self.oven = oven
        oven.subscribe(self._on_event)

    def _on_event(self, event: MachineEvent) -> None:
        if isinstance(event, UnitsArrived):
            waiting = self._entered.pop(event.board.board_id, None)
            if waiting is not None and not waiting.done():
                waiting.set_result(None)

    async def give_board(self, board: Board) -> None:
        assert self.oven is not None, "attach() the oven first"
        while self.drive and not self.oven.is_ready():
            await self.clock.sleep(1.0)  # the PLC's scan of the ready flag
        entered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._entered[board.board_id] = entered
        try:
            self.oven.place_board_at_entry(board)
            await entered
        finally:
            self._entered.pop(board.board_id, None)


class _BridgedEntry:
    """The physical link into a bridged legacy oven: a board lands on its entry sensor when the
    previous machine's Hermes transfer to the bridge has run (``HermesDownstream.on_transferred``)."""

    def __init__(self) -> None:
        self.oven: ReflowOven | None = None  # set once it is built

    def attach(self, oven: ReflowOven) -> None:
        self.oven = oven

    async def place(self, board: Board) -> None:
        assert self.oven is not None and self.oven.entrance is not None, "attach() a legacy oven first"
        # Waits (never raises) if a board still sits on the sensor: the conveyor stops behind it.
        await self.oven.entrance.waiting.put(board)
        self.oven.entrance.changed.set()


class _BridgedExit:
    """The BoardIn of the machine after a bridged legacy oven.

    Hermes (its Upstream client, connected to the bridge) says which board arrives and how it is
    described; the board itself comes off the oven's exit through ``physical`` once released.

    Raises:
        RuntimeError: from ``take_board``, when the board that physically arrives is not the one
            the bridge handed over (the bridge mixed up its boards).
    """

    def __init__(self, hermes: HermesUpstream, physical: Handoff) -> None:
        self.hermes = hermes
        self.physical = physical

    async def take_board(self) -> Board:
        board = await self.hermes.take_board()
        moved = await self.physical.take_board()
        if moved.board_id != board.board_id:
            raise RuntimeError(
                f"the bridge handed over board {board.board_id} but board {moved.board_id} left the oven"
            )
        return board


def _free_port(host: str) -> int:
    # The bridge binds this port later; a port just freed is rarely taken meanwhile.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port


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
    if kind.name == "coater":
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
        self._bridged_entries: dict[int, _BridgedEntry] = {}
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
                self.bridge_ports[spec.machine_id] = spec.hermes_port or _free_port(self.host)
            if self._hands_over_in_memory(index):
                continue
            on_transferred: Callable[[Board], Awaitable[None]] | None = None
            if index + 1 < len(specs) and specs[index + 1].bridged:
                entry = self._bridged_entries[index + 1] = _BridgedEntry()
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
        entries: dict[int, _LegacyEntry] = {}  # in-memory links into a legacy oven, by its index
        for index, spec in enumerate(specs):
            board_in: BoardIn | None
            board_out: BoardOut | None
            if index > 0 and specs[index - 1].bridged:
                board_in = _BridgedExit(await self._upstream(index, source_lane), exits[index - 1])
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
                board_out = entries[index + 1] = _LegacyEntry(self.clock, drive)
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
        parameters = _parameters(cls)
        arguments: dict[str, Any] = {
            "machine_id": spec.machine_id,
            "clock": self.clock,
            "seed": self.spec.seed * 1000 + index,
            "board_in": board_in,
            "board_out": board_out,
            "host": self.host,
        }
        for name in _HANDLE_ARGUMENTS:
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
                )
            )
        return found


__all__ = [
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
]
