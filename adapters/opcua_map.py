"""The OPC UA map schema: namespace and node names, state, alarm events, work results, recipe methods.

:func:`read_opcua_map` reads the tables of a map whose ``[machine] protocol = "opcua"``
(``adapters.maps.parse_map`` dispatches here).
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
    read_fault_codes,
    read_readings,
    read_severity,
    read_state_table,
)
from adapters.observations import Severity


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


def node_address_problem(address: str) -> str | None:
    """Why ``address`` is not a node address a map may use, or None when it is one.

    A map names a node in one of four ways: a string id in the map's namespace
    (``"SelectiveSolder.State"``); a complete node id (``"ns=2;i=1007"``, ``"i=2258"``); a node id
    whose namespace is given by URI (``"nsu=urn:vendor:machine;i=1007"``, OPC UA Part 6 §5.3.1.11),
    which stays right when the server orders its namespaces differently; or a browse path from
    the Objects folder (``"/Objects/SelectiveSolder/ProcessValues/PreheatTemperature"``), each
    segment a browse name in the map's namespace, or ``"{URI}Name"`` in another.
    """
    if address.startswith("nsu="):
        uri, separator, rest = address[4:].partition(";")
        if not uri or not separator or not rest.startswith(("i=", "s=", "g=", "b=")):
            return "must be nsu=URI;i=N (or ;s=, ;g=, ;b=)"
        return None
    if address.startswith("/"):
        segments = address[1:].split("/")
        if not address[1:] or any(not segment for segment in segments):
            return "a browse path needs a name between every two slashes"
        for segment in segments:
            if segment.startswith("{") and ("}" not in segment or segment.endswith("}")):
                return f"segment {segment!r}: write {{URI}}Name"
        return None
    if not address.strip():
        return "must not be empty"
    return None


_PROCESS_VALUES = ("preheat_temperature", "pot_temperature", "wave_height", "nitrogen_flow")


def _node_name(section: Section, name: str, known: set[str], default: Any = MISSING) -> Any:
    value = section.get(name, str, default)
    if value is not None and value not in known:
        raise section.error(f"names no node ({value!r})", name)
    return value


def read_opcua_map(root: Section) -> OpcUaMap:
    options = root.require("opcua")
    nodes = root.strings("nodes")
    if not nodes:
        raise root.error("is required", "nodes")
    for name, address in nodes.items():
        if (problem := node_address_problem(address)) is not None:
            raise root.error(problem, f"nodes.{name}")
    known = set(nodes)
    state_node, state = None, StateTable()
    if (section := root.section("state")) is not None:
        state_node = _node_name(section, "node", known)
        state = read_state_table(section)
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
        readings=read_readings(root.section("readings"), known),
        recipes=_opcua_recipes(root.section("recipes"), known),
        source=root.path,
    )
    options.done()
    return opcua_map


def _opcua_faults(section: Section | None, known: set[str]) -> OpcUaFaults | None:
    if section is None:
        return None
    levels = []
    if (levels_section := section.section("levels")) is not None:
        for floor in levels_section.data:
            if not floor.isdigit():
                raise levels_section.error("must be an OPC UA severity 1..1000", floor)
            levels.append((int(floor), read_severity(levels_section, floor, Severity.ERROR)))
        levels_section.done()
    faults = OpcUaFaults(
        event_type=section.get("event_type", str),
        code=section.get("code", str),
        active=section.get("active", str),
        description=section.get("description", str, "Message"),
        severity=section.get("severity", str, "Severity"),
        levels=tuple(sorted(levels, reverse=True)),
        codes=read_fault_codes(section.section("codes")),
        active_list=_node_name(section, "active_list", known, None),
        list_separator=section.get("list_separator", str, ","),
    )
    section.done()
    return faults


def _opcua_work(section: Section | None, known: set[str]) -> OpcUaWork | None:
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


def _opcua_recipes(section: Section | None, known: set[str]) -> OpcUaRecipes | None:
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


__all__ = [
    "OpcUaFaults",
    "OpcUaMap",
    "OpcUaRecipes",
    "OpcUaWork",
    "node_address_problem",
    "read_opcua_map",
]
