"""The serial map schema: line settings, framing, the status command, error and event frames, recipes.

:func:`read_serial_map` reads the tables of a map whose ``[machine] protocol = "serial"``
(``adapters.maps.parse_map`` dispatches here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from adapters.map_schema import (
    FaultEntry,
    Section,
    StateTable,
    read_fault_codes,
    read_severity,
    read_state_table,
)
from adapters.observations import Severity

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


def read_serial_map(root: Section) -> SerialMap:
    line = root.section("serial") or Section({}, root.path, "serial")
    status = root.require("status")
    errors = root.section("errors") or Section({}, root.path, "errors")
    events = root.section("events") or Section({}, root.path, "events")
    recipes = root.section("recipes") or Section({}, root.path, "recipes")
    faults = root.section("faults") or Section({}, root.path, "faults")
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
        severities = {name: read_severity(levels, name, Severity.ERROR) for name in levels.data}
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
        fault_codes=read_fault_codes(faults.section("codes")),
        recipe_list=recipes.get("list", str, "RL"),
        recipe_names=recipes.get("names", str, "NAMES"),
        recipe_select=recipes.get("select", str, "RS"),
        recipe_name=recipes.get("name", str, "NAME"),
        recipe_revision=recipes.get("revision", str, "REV"),
        recipe_timeout=recipes.positive("timeout", 60.0),
        state=read_state_table(status),
        source=root.path,
    )
    for section in (line, status, errors, events, recipes, faults):
        section.done()
    return serial_map


def _serial_events(events: Section) -> dict[str, SerialEvent]:
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


__all__ = [
    "SerialEvent",
    "SerialMap",
    "read_serial_map",
]
