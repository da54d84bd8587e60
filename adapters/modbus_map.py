"""The Modbus map schema: points, poll groups, state and fault bits, reflow process data, recipe steps.

Point fields are EdgeX device-profile names where they fit (``scale``, ``offset``, ``mask``,
``shift``); see ``protocols.modbus.registermap``. :func:`read_modbus_map` reads the tables of a
map whose ``[machine] protocol = "modbus"`` (``adapters.maps.parse_map`` dispatches here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.map_schema import (
    MISSING,
    FaultEntry,
    Section,
    StateTable,
    read_fault_entry,
    read_readings,
    read_state_table,
)
from protocols.modbus import Point, load_points

NUMBER = "$number"  # in a Modbus activation step: the recipe's number from [recipes.numbers]


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


def _point_name(section: Section, name: str, known: set[str], default: Any = MISSING) -> Any:
    value = section.get(name, str, default)
    if value is not None and value not in known:
        raise section.error(f"names no point ({value!r})", name)
    return value


def read_modbus_map(root: Section) -> ModbusMap:
    path = root.path
    points_section = root.require("points")
    points = load_points(points_section.data, path=path, key="points")
    known = {p.name for p in points}
    options = root.section("modbus") or Section({}, path, "modbus")
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
        state = read_state_table(section)
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
                bits[int(bit)] = read_fault_entry(entry)
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
        readings=read_readings(root.section("readings"), known),
        process=_reflow_process(root.section("process"), known),
        recipes=_modbus_recipes(root.section("recipes"), known),
        source=path,
    )
    options.done()
    return modbus_map


def _reflow_process(section: Section | None, known: set[str]) -> ReflowProcess | None:
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


def _modbus_recipes(section: Section | None, known: set[str]) -> ModbusRecipes | None:
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


def _modbus_step(step: Section, known: set[str]) -> ModbusStep:
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


__all__ = [
    "NUMBER",
    "ModbusFaults",
    "ModbusMap",
    "ModbusRecipes",
    "ModbusStep",
    "PollGroup",
    "ReflowProcess",
    "ZonePoints",
    "read_modbus_map",
]
