"""What every machine map shares: a TOML table reader that names key paths, fault entries, state tables.

:class:`Section` (the shared :class:`protocols.tomlread.Table`) reads one TOML table; every
accessor's :class:`~protocols.errors.ConfigError` names the file and the dotted key path, and
:meth:`Section.done` refuses keys nobody read, so a misspelt key never silently drops a mapping.
The per-protocol maps (``adapters.modbus_map``, ``adapters.opcua_map``, ``adapters.serial_map``)
are built from these pieces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from adapters.observations import Severity
from protocols.tomlread import MISSING, Table

# The shared TOML table reader (protocols.tomlread), under the name the map readers use.
Section = Table


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


def read_severity(section: Section, name: str, default: Severity) -> Severity:
    """A fault level by name (``information``, ``warning``, ``error``, ``alarm``); ``default`` if absent."""
    text = section.get(name, str, default.value)
    if text not in _SEVERITIES:
        raise section.error(f"must be one of {', '.join(_SEVERITIES)}", name)
    return _SEVERITIES[text]


def read_fault_entry(section: Section, code: str | None = None) -> FaultEntry:
    """One fault's entry; ``code`` when the table is keyed by code, else its ``code`` key."""
    entry = FaultEntry(
        code=code if code is not None else section.get("code", str),
        description=section.get("description", str, ""),
        severity=read_severity(section, "severity", Severity.ERROR),
        cause=section.get("cause", str, None),
    )
    section.done()
    return entry


def read_fault_codes(section: Section | None) -> dict[str, FaultEntry]:
    """A table of fault entries keyed by fault code (``{}`` when absent)."""
    if section is None:
        return {}
    codes = {code: read_fault_entry(section.require(code), code) for code in section.data}
    section.done()
    return codes


def read_state_table(section: Section) -> StateTable:
    """The ``codes`` (value → SEMI E10 code) and ``names`` (value → reason) of a state table."""
    codes: dict[str, int] = {}
    if (table := section.section("codes")) is not None:
        for value in table.data:
            codes[value] = table.get(value, int)
            if not 1000 <= codes[value] <= 9999:
                raise table.error("must be a SEMI E10 state code (1000..9999)", value)
        table.done()
    return StateTable(codes, section.strings("names"))


def read_readings(section: Section | None, known: set[str]) -> dict[str, str | None]:
    """Readings: point or node name → unit (None: no unit); each name must be in ``known``."""
    if section is None:
        return {}
    readings: dict[str, str | None] = {}
    for name in section.data:
        if name not in known:
            raise section.error("names no point or node of this map", name)
        readings[name] = section.get(name, str) or None
    section.done()
    return readings


__all__ = [
    "MISSING",
    "FaultEntry",
    "Section",
    "StateTable",
    "read_fault_codes",
    "read_fault_entry",
    "read_readings",
    "read_severity",
    "read_state_table",
]
