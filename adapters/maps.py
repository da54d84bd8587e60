"""Declarative machine maps: TOML files saying which register, node or frame field means what.

A map describes one machine model for one adapter: where the state lives and how its values
translate to SEMI E10 codes (the numbers CFX's ResourceState uses), which bit, event or frame
means which fault, which values are process data or plain readings, and how a recipe is
activated and confirmed. Modbus point fields are EdgeX device-profile names where they fit
(``scale``, ``offset``, ``mask``, ``shift``); see ``protocols.modbus.registermap``.

Every map starts with ``[machine] protocol = "modbus" | "opcua" | "serial"``. :func:`load_map`
reads a file, :func:`builtin_map` one of the maps shipped in ``adapters/maps/`` (written from
the simulators' manuals). Any problem is a :class:`~protocols.errors.ConfigError` naming the
file and the dotted key path (``recipes.activate[1].until``), and unknown keys are errors too,
so a typo never silently drops a mapping.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from adapters.observations import Severity
from protocols.errors import ConfigError
from protocols.modbus import Point, load_points

_T = TypeVar("_T")
_MISSING: Any = object()
NUMBER = "$number"  # in a Modbus activation step: the recipe's number from [recipes.numbers]


# --- reading TOML tables with key paths ---------------------------------------------------------


class _Section:
    """One TOML table being read; every accessor names the key path in its errors."""

    def __init__(self, data: Mapping[str, Any], path: str | None, key: str) -> None:
        self.data, self.path, self.key = data, path, key
        self._used: set[str] = set()

    def where(self, name: str | None = None) -> str:
        if name is None:
            return self.key
        return f"{self.key}.{name}" if self.key else name

    def error(self, problem: str, name: str | None = None) -> ConfigError:
        return ConfigError(problem, path=self.path, key=self.where(name))

    def has(self, name: str) -> bool:
        return name in self.data

    def get(self, name: str, kind: type[_T] | tuple[type, ...], default: Any = _MISSING) -> Any:
        self._used.add(name)
        if name not in self.data:
            if default is _MISSING:
                raise self.error("is required", name)
            return default
        value = self.data[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, bool) and bool not in kinds:
            raise self.error(f"must be {_kind_name(kinds)}", name)
        if not isinstance(value, kinds):
            raise self.error(f"must be {_kind_name(kinds)}", name)
        return value

    def positive(self, name: str, default: Any = _MISSING) -> float:
        value: float = self.get(name, float, default)
        if not value > 0:
            raise self.error("must be greater than 0", name)
        return value

    def section(self, name: str, *, required: bool = False) -> _Section | None:
        self._used.add(name)
        if name not in self.data:
            if required:
                raise self.error("is required", name)
            return None
        value = self.data[name]
        if not isinstance(value, Mapping):
            raise self.error("must be a table", name)
        return _Section(value, self.path, self.where(name))

    def require(self, name: str) -> _Section:
        """A sub-table that must be present."""
        table = self.section(name, required=True)
        assert table is not None
        return table

    def strings(self, name: str) -> dict[str, str]:
        """A table of strings (``{}`` when absent), checked completely."""
        table = self.section(name)
        if table is None:
            return {}
        values = {key: table.get(key, str) for key in table.data}
        table.done()
        return values

    def sections(self, name: str) -> list[_Section]:
        """An array of tables (``[[name]]``)."""
        self._used.add(name)
        value = self.data.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise self.error("must be an array of tables", name)
        return [_Section(v, self.path, f"{self.where(name)}[{i}]") for i, v in enumerate(value)]

    def done(self) -> None:
        """Refuse keys nobody read: a misspelt key must not be silently ignored."""
        unknown = sorted(set(self.data) - self._used)
        if unknown:
            raise self.error("unknown key", unknown[0])


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "an array"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


# --- shared pieces --------------------------------------------------------------------------------

_SEVERITIES = {s.value: s for s in Severity}


@dataclass(frozen=True, slots=True)
class FaultEntry:
    """What the map says about one fault code."""

    code: str
    description: str = ""
    severity: Severity = Severity.ERROR
    cause: str | None = None  # CFX FaultCause name, e.g. "MechanicalFailure"


@dataclass(frozen=True, slots=True)
class StateTable:
    """Machine state values → SEMI E10 codes; with no ``codes`` the value already is the code."""

    codes: Mapping[str, int] = field(default_factory=dict)
    names: Mapping[str, str] = field(default_factory=dict)  # value → reason text for StateChanged

    def translate(self, value: object) -> int | None:
        """The E10 code for a machine value, or None when the map does not know it."""
        key = str(int(value)) if isinstance(value, bool | int | float) else str(value)
        if not self.codes:
            try:
                return int(key)
            except ValueError:
                return None
        return self.codes.get(key)


def _severity(section: _Section, name: str, default: Severity) -> Severity:
    text = section.get(name, str, default.value)
    if text not in _SEVERITIES:
        raise section.error(f"must be one of {', '.join(_SEVERITIES)}", name)
    return _SEVERITIES[text]


def _fault_entry(section: _Section, code: str | None = None) -> FaultEntry:
    entry = FaultEntry(
        code=code if code is not None else section.get("code", str),
        description=section.get("description", str, ""),
        severity=_severity(section, "severity", Severity.ERROR),
        cause=section.get("cause", str, None),
    )
    section.done()
    return entry


def _fault_codes(section: _Section | None) -> dict[str, FaultEntry]:
    if section is None:
        return {}
    codes = {code: _fault_entry(section.require(code), code) for code in section.data}
    section.done()
    return codes


def _state_table(section: _Section) -> StateTable:
    codes: dict[str, int] = {}
    if (table := section.section("codes")) is not None:
        for value in table.data:
            codes[value] = table.get(value, int)
            if not 1000 <= codes[value] <= 9999:
                raise table.error("must be a SEMI E10 state code (1000..9999)", value)
        table.done()
    return StateTable(codes, section.strings("names"))


def _readings(section: _Section | None, known: set[str]) -> dict[str, str | None]:
    if section is None:
        return {}
    readings: dict[str, str | None] = {}
    for name in section.data:
        if name not in known:
            raise section.error("names no point or node of this map", name)
        readings[name] = section.get(name, str) or None
    section.done()
    return readings


# --- Modbus ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModbusFaults:
    """A bit-field point whose bits are faults: bit number → entry; other set bits get ``point.bitN``."""

    point: str
    bits: Mapping[int, FaultEntry]


@dataclass(frozen=True, slots=True)
class ZonePoints:
    """The point names of one reflow zone's setpoints and actuals."""

    zone: int
    setpoint_top: str | None = None
    setpoint_bottom: str | None = None
    actual_top: str | None = None
    actual_bottom: str | None = None


@dataclass(frozen=True, slots=True)
class ReflowProcess:
    """Reflow process data: one record per increment of the ``trigger`` counter point."""

    trigger: str
    zones: tuple[ZonePoints, ...] = ()
    conveyor_speed: str | None = None  # point in mm/s
    o2_ppm: str | None = None


@dataclass(frozen=True, slots=True)
class ModbusStep:
    """One step of a recipe activation sequence.

    ``write``: point → value (``"$number"`` is the recipe number), written in one request per
    run of adjacent registers. ``pulse``: write 1 then 0 to a point. ``wait``: read a point until
    its value is in ``until`` (success) or ``refused`` (the machine said no; value → reason).
    """

    kind: str  # "write" | "pulse" | "wait"
    values: Mapping[str, int | float | str] = field(default_factory=dict)
    point: str | None = None
    until: tuple[int | float | str, ...] = ()
    refused: Mapping[str, str] = field(default_factory=dict)
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class ModbusRecipes:
    """Recipes stored in the machine under numbers, and how to activate one."""

    numbers: Mapping[str, int]
    active: str  # point holding the active number
    steps: tuple[ModbusStep, ...]
    timeout: float = 30.0
    poll: float = 0.1  # seconds between reads in a wait step


@dataclass(frozen=True, slots=True)
class PollGroup:
    """Points polled at their own interval."""

    interval: float
    points: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ModbusMap:
    """A Modbus machine: points, polling, and what the points mean."""

    points: tuple[Point, ...]
    poll_interval: float = 1.0
    groups: tuple[PollGroup, ...] = ()
    unit: int = 1
    max_gap: int = 8
    timeout: float = 1.0
    state_point: str | None = None
    state: StateTable = field(default_factory=StateTable)
    faults: ModbusFaults | None = None
    readings: Mapping[str, str | None] = field(default_factory=dict)
    process: ReflowProcess | None = None
    recipes: ModbusRecipes | None = None
    source: str | None = None

    def point(self, name: str) -> Point:
        """The point called ``name``.

        Raises:
            KeyError: no such point.
        """
        for point in self.points:
            if point.name == name:
                return point
        raise KeyError(name)


def _point_name(section: _Section, name: str, known: set[str], default: Any = _MISSING) -> Any:
    value = section.get(name, str, default)
    if value is not None and value not in known:
        raise section.error(f"names no point ({value!r})", name)
    return value


def _modbus(root: _Section) -> ModbusMap:
    path = root.path
    points_section = root.require("points")
    points = load_points(points_section.data, path=path, key="points")
    known = {p.name for p in points}
    options = root.section("modbus") or _Section({}, path, "modbus")
    groups = []
    if (groups_section := options.section("groups")) is not None:
        for name in groups_section.data:
            group = groups_section.require(name)
            members = group.get("points", list)
            for i, member in enumerate(members):
                if member not in known:
                    raise group.error(f"names no point ({member!r})", f"points[{i}]")
            groups.append(PollGroup(group.positive("interval"), tuple(members)))
            group.done()
        groups_section.done()
    state_point, state = None, StateTable()
    if (section := root.section("state")) is not None:
        state_point = _point_name(section, "point", known)
        state = _state_table(section)
        section.done()
    faults = None
    if (section := root.section("faults")) is not None:
        point = _point_name(section, "point", known)
        bits: dict[int, FaultEntry] = {}
        if (bit_section := section.section("bits")) is not None:
            for bit in bit_section.data:
                if not bit.isdigit() or not 0 <= int(bit) <= 63:
                    raise bit_section.error("must be a bit number 0..63", bit)
                entry = bit_section.require(bit)
                bits[int(bit)] = _fault_entry(entry)
            bit_section.done()
        faults = ModbusFaults(point, bits)
        section.done()
    modbus_map = ModbusMap(
        points=tuple(points),
        poll_interval=options.positive("poll_interval", 1.0),
        groups=tuple(groups),
        unit=options.get("unit", int, 1),
        max_gap=options.get("max_gap", int, 8),
        timeout=options.positive("timeout", 1.0),
        state_point=state_point,
        state=state,
        faults=faults,
        readings=_readings(root.section("readings"), known),
        process=_reflow_process(root.section("process"), known),
        recipes=_modbus_recipes(root.section("recipes"), known),
        source=path,
    )
    options.done()
    return modbus_map


def _reflow_process(section: _Section | None, known: set[str]) -> ReflowProcess | None:
    if section is None:
        return None
    if section.get("kind", str) != "reflow":
        raise section.error("must be 'reflow' for a Modbus map", "kind")
    zones = []
    for zone in section.sections("zones"):
        zones.append(
            ZonePoints(
                zone.get("zone", int),
                *(_point_name(zone, n, known, None) for n in ("setpoint_top", "setpoint_bottom")),
                *(_point_name(zone, n, known, None) for n in ("actual_top", "actual_bottom")),
            )
        )
        zone.done()
    process = ReflowProcess(
        trigger=_point_name(section, "trigger", known),
        zones=tuple(zones),
        conveyor_speed=_point_name(section, "conveyor_speed", known, None),
        o2_ppm=_point_name(section, "o2_ppm", known, None),
    )
    section.done()
    return process


def _modbus_recipes(section: _Section | None, known: set[str]) -> ModbusRecipes | None:
    if section is None:
        return None
    numbers_section = section.require("numbers")
    numbers = {name: numbers_section.get(name, int) for name in numbers_section.data}
    numbers_section.done()
    steps = [_modbus_step(step, known) for step in section.sections("activate")]
    if not steps:
        raise section.error("needs at least one step", "activate")
    recipes = ModbusRecipes(
        numbers=numbers,
        active=_point_name(section, "active", known),
        steps=tuple(steps),
        timeout=section.positive("timeout", 30.0),
        poll=section.positive("poll", 0.1),
    )
    section.done()
    return recipes


def _modbus_step(step: _Section, known: set[str]) -> ModbusStep:
    kinds = [k for k in ("write", "pulse", "wait") if step.has(k)]
    if len(kinds) != 1:
        raise step.error("needs exactly one of write, pulse, wait")
    kind = kinds[0]
    timeout = step.positive("timeout", None) if step.has("timeout") else None
    if kind == "write":
        values = step.require("write")
        for name in values.data:
            if name not in known:
                raise values.error("names no point", name)
            value = values.get(name, (int, float, str))
            if isinstance(value, str) and value != NUMBER:
                raise values.error(f"must be a number or {NUMBER!r}", name)
        values.done()
        result = ModbusStep("write", values=dict(values.data), timeout=timeout)
    elif kind == "pulse":
        result = ModbusStep("pulse", point=_point_name(step, "pulse", known), timeout=timeout)
    else:
        until = step.get("until", list)
        reasons = step.strings("refused")
        point = _point_name(step, "wait", known)
        result = ModbusStep("wait", point=point, until=tuple(until), refused=reasons, timeout=timeout)
    step.done()
    return result


# --- OPC UA ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpcUaFaults:
    """Alarm events: which event type, and which of its fields mean what."""

    event_type: str
    code: str
    active: str
    description: str = "Message"
    severity: str = "Severity"
    levels: tuple[tuple[int, Severity], ...] = ()  # (lowest OPC UA severity, level), descending
    codes: Mapping[str, FaultEntry] = field(default_factory=dict)
    # A node listing the active alarm codes, read on every (re)connect to reconcile the alarms
    # whose events were missed while the link was down.
    active_list: str | None = None
    list_separator: str = ","

    def level(self, severity: int) -> Severity:
        """The fault level for an OPC UA severity (1..1000)."""
        return next((level for floor, level in self.levels if severity >= floor), Severity.ERROR)


@dataclass(frozen=True, slots=True)
class OpcUaWork:
    """Per-board result events and the selective-solder process data they carry."""

    event_type: str
    board_id: str
    barcode: str | None = None
    result: str | None = None
    passed: str = "Pass"
    process_time: str | None = None  # event field, seconds
    values: Mapping[str, str] = field(default_factory=dict)  # process-data field → node name


@dataclass(frozen=True, slots=True)
class OpcUaRecipes:
    """Recipe methods on one object, and the nodes that confirm the active program."""

    object: str
    load: str
    list: str
    active: str
    revision: str | None = None
    timeout: float = 60.0
    refused: Mapping[str, str] = field(default_factory=dict)  # status code name → reason


@dataclass(frozen=True, slots=True)
class OpcUaMap:
    """An OPC UA machine: its namespace, node names and what they mean."""

    namespace: str
    nodes: Mapping[str, str]
    events_from: str
    publishing_interval: float = 0.5
    state_node: str | None = None
    state: StateTable = field(default_factory=StateTable)
    faults: OpcUaFaults | None = None
    work: OpcUaWork | None = None
    readings: Mapping[str, str | None] = field(default_factory=dict)
    recipes: OpcUaRecipes | None = None
    source: str | None = None


_PROCESS_VALUES = ("preheat_temperature", "pot_temperature", "wave_height", "nitrogen_flow")


def _node_name(section: _Section, name: str, known: set[str], default: Any = _MISSING) -> Any:
    value = section.get(name, str, default)
    if value is not None and value not in known:
        raise section.error(f"names no node ({value!r})", name)
    return value


def _opcua(root: _Section) -> OpcUaMap:
    options = root.require("opcua")
    nodes = root.strings("nodes")
    if not nodes:
        raise root.error("is required", "nodes")
    known = set(nodes)
    state_node, state = None, StateTable()
    if (section := root.section("state")) is not None:
        state_node = _node_name(section, "node", known)
        state = _state_table(section)
        section.done()
    opcua_map = OpcUaMap(
        namespace=options.get("namespace", str),
        nodes=nodes,
        events_from=_node_name(options, "events_from", known),
        publishing_interval=options.positive("publishing_interval", 0.5),
        state_node=state_node,
        state=state,
        faults=_opcua_faults(root.section("faults"), known),
        work=_opcua_work(root.section("work"), known),
        readings=_readings(root.section("readings"), known),
        recipes=_opcua_recipes(root.section("recipes"), known),
        source=root.path,
    )
    options.done()
    return opcua_map


def _opcua_faults(section: _Section | None, known: set[str]) -> OpcUaFaults | None:
    if section is None:
        return None
    levels = []
    if (levels_section := section.section("levels")) is not None:
        for floor in levels_section.data:
            if not floor.isdigit():
                raise levels_section.error("must be an OPC UA severity 1..1000", floor)
            levels.append((int(floor), _severity(levels_section, floor, Severity.ERROR)))
        levels_section.done()
    faults = OpcUaFaults(
        event_type=section.get("event_type", str),
        code=section.get("code", str),
        active=section.get("active", str),
        description=section.get("description", str, "Message"),
        severity=section.get("severity", str, "Severity"),
        levels=tuple(sorted(levels, reverse=True)),
        codes=_fault_codes(section.section("codes")),
        active_list=_node_name(section, "active_list", known, None),
        list_separator=section.get("list_separator", str, ","),
    )
    section.done()
    return faults


def _opcua_work(section: _Section | None, known: set[str]) -> OpcUaWork | None:
    if section is None:
        return None
    value_nodes: dict[str, str] = {}
    if (values := section.section("values")) is not None:
        for name in values.data:
            if name not in _PROCESS_VALUES:
                raise values.error(f"must be one of {', '.join(_PROCESS_VALUES)}", name)
            value_nodes[name] = _node_name(values, name, known)
        values.done()
    work = OpcUaWork(
        event_type=section.get("event_type", str),
        board_id=section.get("board_id", str),
        barcode=section.get("barcode", str, None),
        result=section.get("result", str, None),
        passed=section.get("passed", str, "Pass"),
        process_time=section.get("process_time", str, None),
        values=value_nodes,
    )
    section.done()
    return work


def _opcua_recipes(section: _Section | None, known: set[str]) -> OpcUaRecipes | None:
    if section is None:
        return None
    recipes = OpcUaRecipes(
        object=_node_name(section, "object", known),
        load=section.get("load", str),
        list=section.get("list", str),
        active=_node_name(section, "active", known),
        revision=_node_name(section, "revision", known, None),
        timeout=section.positive("timeout", 60.0),
        refused=section.strings("refused"),
    )
    section.done()
    return recipes


# --- serial ---------------------------------------------------------------------------------------

# Observation kind → the observation fields an event may fill from frame fields.
_EVENT_FIELDS = {
    "work_started": ("board_id", "barcode"),
    "work_finished": ("board_id", "result"),
    "fault_raised": ("code", "severity", "description"),
    "fault_cleared": ("code",),
    "recipe_activated": ("name", "revision"),
}
_EVENT_KINDS = tuple(_EVENT_FIELDS)


@dataclass(frozen=True, slots=True)
class SerialEvent:
    """An unsolicited frame type: which observation it becomes, and from which fields.

    ``fields`` maps observation field names (``board_id``, ``code``, ``severity``, ...) to frame
    field names; ``measurements`` maps measurement names to frame fields (coating data).
    """

    kind: str
    fields: Mapping[str, str]
    measurements: Mapping[str, str] = field(default_factory=dict)
    passed: str = "PASS"


@dataclass(frozen=True, slots=True)
class SerialMap:
    """A serial machine: line settings, framing, commands and the fields of its frames."""

    baudrate: int = 9600
    framing: str = "stx_etx"
    checksum: str = "xor8"
    timeout: float = 1.0
    retries: int = 2
    poll_interval: float = 2.0
    status_command: str = "ST"
    status_fields: Mapping[str, str] = field(default_factory=dict)  # state, recipe, revision, alarms
    list_separator: str = ","
    none_value: str = "-"
    error_tag: str = "ER"
    error_code: str = "CODE"
    error_text: str = "TEXT"
    resend_codes: frozenset[int] = frozenset()
    refused_codes: frozenset[int] = frozenset()
    event_tag: str = "EV"
    event_type: str = "TYPE"
    events: Mapping[str, SerialEvent] = field(default_factory=dict)
    severities: Mapping[str, Severity] = field(default_factory=dict)
    fault_codes: Mapping[str, FaultEntry] = field(default_factory=dict)
    recipe_list: str = "RL"
    recipe_names: str = "NAMES"
    recipe_select: str = "RS"
    recipe_name: str = "NAME"
    recipe_revision: str = "REV"
    recipe_timeout: float = 60.0
    state: StateTable = field(default_factory=StateTable)
    source: str | None = None


def _serial(root: _Section) -> SerialMap:
    line = root.section("serial") or _Section({}, root.path, "serial")
    status = root.require("status")
    errors = root.section("errors") or _Section({}, root.path, "errors")
    events = root.section("events") or _Section({}, root.path, "events")
    recipes = root.section("recipes") or _Section({}, root.path, "recipes")
    faults = root.section("faults") or _Section({}, root.path, "faults")
    framing = line.get("framing", str, "stx_etx")
    if framing not in ("stx_etx", "lines"):
        raise line.error("must be stx_etx or lines", "framing")
    checksum = line.get("checksum", str, "xor8")
    if checksum not in ("xor8", "sum8", "lrc"):
        raise line.error("must be xor8, sum8 or lrc", "checksum")
    status_fields = {}
    for name in ("state", "recipe", "revision", "alarms"):
        if status.has(name):
            status_fields[name] = status.get(name, str)
    severities = {}
    if (levels := faults.section("severity")) is not None:
        severities = {name: _severity(levels, name, Severity.ERROR) for name in levels.data}
        levels.done()
    serial_map = SerialMap(
        baudrate=line.get("baudrate", int, 9600),
        framing=framing,
        checksum=checksum,
        timeout=line.positive("timeout", 1.0),
        retries=line.get("retries", int, 2),
        poll_interval=line.positive("poll_interval", 2.0),
        status_command=status.get("command", str),
        status_fields=status_fields,
        list_separator=status.get("separator", str, ","),
        none_value=status.get("none", str, "-"),
        error_tag=errors.get("tag", str, "ER"),
        error_code=errors.get("code", str, "CODE"),
        error_text=errors.get("text", str, "TEXT"),
        resend_codes=frozenset(errors.get("resend", list, [])),
        refused_codes=frozenset(errors.get("refused", list, [])),
        event_tag=events.get("tag", str, "EV"),
        event_type=events.get("type", str, "TYPE"),
        events=_serial_events(events),
        severities=severities,
        fault_codes=_fault_codes(faults.section("codes")),
        recipe_list=recipes.get("list", str, "RL"),
        recipe_names=recipes.get("names", str, "NAMES"),
        recipe_select=recipes.get("select", str, "RS"),
        recipe_name=recipes.get("name", str, "NAME"),
        recipe_revision=recipes.get("revision", str, "REV"),
        recipe_timeout=recipes.positive("timeout", 60.0),
        state=_state_table(status),
        source=root.path,
    )
    for section in (line, status, errors, events, recipes, faults):
        section.done()
    return serial_map


def _serial_events(events: _Section) -> dict[str, SerialEvent]:
    event_types: dict[str, SerialEvent] = {}
    for name in [k for k in events.data if k not in ("tag", "type")]:
        section = events.require(name)
        kind = section.get("kind", str)
        if kind not in _EVENT_KINDS:
            raise section.error(f"must be one of {', '.join(_EVENT_KINDS)}", "kind")
        fields = {k: section.get(k, str) for k in _EVENT_FIELDS[kind] if section.has(k)}
        finished = kind == "work_finished"
        event_types[name] = SerialEvent(
            kind=kind,
            fields=fields,
            measurements=section.strings("measurements") if finished else {},
            passed=section.get("passed", str, "PASS") if finished else "PASS",
        )
        section.done()
    return event_types


# --- loading --------------------------------------------------------------------------------------

MachineMap = ModbusMap | OpcUaMap | SerialMap
_Reader = Callable[[_Section], MachineMap]
_READERS: dict[str, _Reader] = {"modbus": _modbus, "opcua": _opcua, "serial": _serial}


def parse_map(data: Mapping[str, Any], *, path: str | None = None) -> MachineMap:
    """A map from parsed TOML.

    Raises:
        ConfigError: naming ``path`` and the key path of the first problem.
    """
    root = _Section(data, path, "")
    machine = root.require("machine")
    protocol = machine.get("protocol", str)
    if protocol not in _READERS:
        raise machine.error(f"must be one of {', '.join(_READERS)}", "protocol")
    for name in ("vendor", "model", "manual"):
        machine.get(name, str, None)
    machine.done()
    result = _READERS[protocol](root)
    root.done()
    return result


def load_map(path: str | Path) -> MachineMap:
    """Read a map file.

    Raises:
        ConfigError: the file cannot be read, is not TOML, or its content is wrong.
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=name) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=name) from None
    return parse_map(data, path=name)


def builtin_map(name: str) -> MachineMap:
    """One of the maps shipped in ``adapters/maps/`` (``reflow_oven``, ``selective_solder``, ``coater``).

    Raises:
        ConfigError: no such map.
    """
    resource = resources.files("adapters").joinpath("maps", f"{name}.toml")
    if not resource.is_file():
        raise ConfigError(f"no built-in map called {name!r}")
    return parse_map(tomllib.loads(resource.read_text(encoding="utf-8")), path=f"adapters/maps/{name}.toml")


__all__ = [
    "NUMBER",
    "FaultEntry",
    "MachineMap",
    "ModbusFaults",
    "ModbusMap",
    "ModbusRecipes",
    "ModbusStep",
    "OpcUaFaults",
    "OpcUaMap",
    "OpcUaRecipes",
    "OpcUaWork",
    "PollGroup",
    "ReflowProcess",
    "SerialEvent",
    "SerialMap",
    "StateTable",
    "ZonePoints",
    "builtin_map",
    "load_map",
    "parse_map",
]
