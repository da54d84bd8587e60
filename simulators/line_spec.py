"""Line files: the machine kinds a line may name, and the line description they parse into.

:func:`load_line` reads a line file (TOML) and :func:`parse_line` checks its content into a
:class:`LineSpec` (machines in order, the board source, timing, the open ends' outside peer);
:func:`default_line` is the line shipped in ``simulators/lines/default.toml`` (the whole SMT
line), :func:`small_line` the short one in ``small.toml``. The machine kinds
are a registry (:data:`MACHINE_KINDS`); ``placement`` is imported only when a line uses it.
Every problem is a :class:`~protocols.errors.ConfigError` naming the file and the key path.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import structlog

from protocols.errors import ConfigError
from protocols.tomlread import Table, read_toml
from simulators.machine import Machine

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
        MachineKind("printer", "cfx-amqp1.0", "simulators.printer", "SolderPastePrinter"),
        MachineKind("spi", "cfx-amqp1.0", "simulators.spi", "SolderPasteInspection"),
        MachineKind("scanner", "serial", "simulators.scanner", "BarcodeScanner"),
        MachineKind("aoi", "files", "simulators.inspection_station", "AOIStation"),
        MachineKind("xray", "files", "simulators.inspection_station", "XRayStation"),
        MachineKind("ict", "files", "simulators.test_station", "InCircuitTester"),
        MachineKind("fct", "serial", "simulators.test_station", "FunctionalTester"),
    )
}

# Arguments the line itself passes to every machine class (never options in a line file).
_LINE_ARGUMENTS = frozenset({"machine_id", "clock", "seed", "board_in", "board_out", "host"})
HANDLE_ARGUMENTS = ("cfx_handle", "handle")
LEGACY_CONVEYOR = ("auto", "external")
LEGACY_NEIGHBOURS = ("memory", "hermes")


def machine_parameters(cls: type[Machine]) -> Mapping[str, inspect.Parameter]:
    """The parameters of a machine class's constructor (what a line file's options may name)."""
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


def small_line_path() -> Path:
    """The small line file shipped with the package (``simulators/lines/small.toml``)."""
    return Path(str(resources.files("simulators") / "lines" / "small.toml"))


def default_line() -> LineSpec:
    """The default line, the whole SMT line: scanner → printer → SPI → placement → AOI → reflow
    oven → X-ray → selective solder → coater → ICT → FCT.

    Without the placement simulator (``simulators.placement`` not importable) the line skips
    the placement machine.
    """
    return _usable(load_line(default_line_path()))


def small_line() -> LineSpec:
    """The small line for quick runs and tests: placement → reflow oven → selective solder →
    coater (without the placement simulator, from the reflow oven on)."""
    return _usable(load_line(small_line_path()))


def _usable(spec: LineSpec) -> LineSpec:
    usable = tuple(m for m in spec.machines if MACHINE_KINDS[m.kind].available())
    if len(usable) != len(spec.machines):
        log.warning(
            "line.placement_unavailable", dropped=[m.machine_id for m in spec.machines if m not in usable]
        )
    return dataclasses.replace(spec, machines=usable)


def _port(reader: Table, name: str, default: int) -> int:
    value: int = reader.get(name, int, default)
    if not 0 <= value <= 65535:
        raise reader.error(f"must be a TCP port 0..65535, not {value}", name)
    return value


def _machine_spec(reader: Table, seen: set[str]) -> MachineSpec:
    reader.only(
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
    kind_name: str = reader.get("kind", str)
    kind = MACHINE_KINDS.get(kind_name)
    if kind is None:
        raise reader.error(f"unknown machine kind {kind_name!r} (known: {', '.join(MACHINE_KINDS)})", "kind")
    machine_id: str = reader.get("id", str)
    if not machine_id or machine_id in seen or machine_id in (SOURCE_ID, SINK_ID):
        raise reader.error(f"machine id {machine_id!r} is empty, repeated or reserved", "id")
    seen.add(machine_id)
    options = dict(reader.get("options", dict, {}))
    try:
        cls = kind.load()
    except ImportError as exc:
        raise reader.error(f"machine kind {kind_name!r} is not available: {exc}", "kind") from None
    parameters = machine_parameters(cls)
    for name in options:
        if name in _LINE_ARGUMENTS or name not in parameters or name.startswith("_") or name == "self":
            raise ConfigError(
                f"{cls.__name__} has no option {name!r}", path=reader.path, key=f"{reader.key}.options.{name}"
            )
    legacy_conveyor: str = reader.get("legacy_conveyor", str, "auto")
    if legacy_conveyor not in LEGACY_CONVEYOR:
        raise reader.error(f"must be one of {', '.join(LEGACY_CONVEYOR)}", "legacy_conveyor")
    legacy_neighbours: str = reader.get("legacy_neighbours", str, "memory")
    if legacy_neighbours not in LEGACY_NEIGHBOURS:
        raise reader.error(f"must be one of {', '.join(LEGACY_NEIGHBOURS)}", "legacy_neighbours")
    if legacy_neighbours == "hermes" and not options.get("legacy", False):
        raise reader.error("needs options.legacy = true (a machine without Hermes)", "legacy_neighbours")
    lane_id: int = reader.get("lane_id", int, 1)
    if lane_id < 1:
        raise reader.error("must be at least 1", "lane_id")
    return MachineSpec(
        kind=kind_name,
        machine_id=machine_id,
        handle=reader.get("handle", str, None),
        options=options,
        hermes_port=_port(reader, "hermes_port", 0),
        vertical_port=_port(reader, "vertical_port", 0),
        lane_id=lane_id,
        legacy_conveyor="external" if legacy_neighbours == "hermes" else legacy_conveyor,
        legacy_neighbours=legacy_neighbours,
    )


def _source_spec(reader: Table) -> SourceSpec:
    reader.only({"work_orders", "barcode_prefix", "interval", "length_mm", "width_mm", "thickness_mm"})
    defaults = SourceSpec()
    orders = []
    for order in reader.sections("work_orders"):
        order.only({"id", "product", "quantity"})
        quantity: int = order.get("quantity", int, 1)
        if quantity < 1:
            raise order.error("must be at least 1", "quantity")
        orders.append(WorkOrder(order.get("id", str), order.get("product", str), quantity))
    interval: float = reader.get("interval", float, defaults.interval)
    if interval < 0:
        raise reader.error("must not be negative", "interval")
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
    root = Table(data, path)
    # [products] (product -> machine id -> recipe, as in linegate run's config) is for the
    # gateway the test kit wires to the line (gateway.testing); the simulators ignore it.
    root.only({"name", "time_scale", "boards", "seed", "source", "open_ends", "machines", "products"})
    seen: set[str] = set()
    machines = tuple(_machine_spec(reader, seen) for reader in root.sections("machines"))
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
        raise root.error("must be positive", "time_scale")
    boards: int | None = root.get("boards", int, None)
    if boards is not None and boards < 1:
        raise root.error("must be at least 1", "boards")
    ends = root.optional("open_ends")
    ends.only({"upstream_host", "upstream_port"})
    return LineSpec(
        machines=machines,
        name=root.get("name", str, Path(path).stem if path else "line"),
        time_scale=time_scale,
        boards=boards,
        seed=root.get("seed", int, 0),
        source=_source_spec(root.optional("source")),
        upstream_host=ends.get("upstream_host", str, "127.0.0.1"),
        upstream_port=_port(ends, "upstream_port", 50101),
        path=path,
    )


def load_line(path: str | Path) -> LineSpec:
    """Read a line file (TOML).

    Raises:
        ConfigError: the file cannot be read, is not TOML, or describes no valid line.
    """
    return parse_line(read_toml(path), path=str(path))


__all__ = [
    "HANDLE_ARGUMENTS",
    "LEGACY_CONVEYOR",
    "LEGACY_NEIGHBOURS",
    "MACHINE_KINDS",
    "SINK_ID",
    "SOURCE_ID",
    "LineSpec",
    "MachineKind",
    "MachineSpec",
    "SourceSpec",
    "WorkOrder",
    "default_line",
    "default_line_path",
    "load_line",
    "machine_classes",
    "machine_parameters",
    "parse_line",
    "small_line",
    "small_line_path",
]
