"""What every machine map shares: a TOML table reader that names key paths, fault entries, state tables.

:class:`Section` reads one TOML table; every accessor's :class:`~protocols.errors.ConfigError`
names the file and the dotted key path, and :meth:`Section.done` refuses keys nobody read, so a
misspelt key never silently drops a mapping. The per-protocol maps (``adapters.modbus_map``,
``adapters.opcua_map``, ``adapters.serial_map``) are built from these pieces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from adapters.observations import Severity
from protocols.errors import ConfigError

_T = TypeVar("_T")
MISSING: Any = object()


# --- reading TOML tables with key paths ---------------------------------------------------------


class Section:
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

    def get(self, name: str, kind: type[_T] | tuple[type, ...], default: Any = MISSING) -> Any:
        self._used.add(name)
        if name not in self.data:
            if default is MISSING:
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

    def positive(self, name: str, default: Any = MISSING) -> float:
        value: float = self.get(name, float, default)
        if not value > 0:
            raise self.error("must be greater than 0", name)
        return value

    def section(self, name: str, *, required: bool = False) -> Section | None:
        self._used.add(name)
        if name not in self.data:
            if required:
                raise self.error("is required", name)
            return None
        value = self.data[name]
        if not isinstance(value, Mapping):
            raise self.error("must be a table", name)
        return Section(value, self.path, self.where(name))

    def require(self, name: str) -> Section:
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

    def sections(self, name: str) -> list[Section]:
        """An array of tables (``[[name]]``)."""
        self._used.add(name)
        value = self.data.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise self.error("must be an array of tables", name)
        return [Section(v, self.path, f"{self.where(name)}[{i}]") for i, v in enumerate(value)]

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
