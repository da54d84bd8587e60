"""Line files: the machine kinds a line may name, and the line description they parse into.

:func:`load_line` reads a line file (TOML) and :func:`parse_line` checks its content into a
:class:`LineSpec` (machines in order, the board source, timing, the open ends' outside peer);
:func:`default_line` is the line shipped in ``simulators/lines/default.toml``. The machine kinds
are a registry (:data:`MACHINE_KINDS`); ``placement`` is imported only when a line uses it.
Every problem is a :class:`~protocols.errors.ConfigError` naming the file and the key path.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import structlog

from protocols.errors import ConfigError
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
    parameters = machine_parameters(cls)
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
]
