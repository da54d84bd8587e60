"""Declarative machine maps: TOML files saying which register, node or frame field means what.

A map describes one machine model for one adapter: where the state lives and how its values
translate to SEMI E10 codes (the numbers CFX's ResourceState uses), which bit, event or frame
means which fault, which values are process data or plain readings, and how a recipe is
activated and confirmed. Modbus point fields are EdgeX device-profile names where they fit
(``scale``, ``offset``, ``mask``, ``shift``); see ``protocols.modbus.registermap``.

Every map starts with ``[machine] protocol = "modbus" | "opcua" | "serial" | "files" | "tester"``.
:func:`load_map` reads a file, :func:`builtin_map` one of the maps shipped in ``adapters/maps/``
(written from the simulators' manuals). Any problem is a :class:`~protocols.errors.ConfigError`
naming the file and the dotted key path (``recipes.activate[1].until``), and unknown keys are
errors too, so a typo never silently drops a mapping.

Each protocol's schema lives beside its adapter (:mod:`adapters.modbus_map`,
``adapters.opcua_map``, ``adapters.serial_map``, ``adapters.files_map``, ``adapters.tester_map``)
on the shared pieces of :mod:`adapters.map_schema`; this module reads a file and dispatches on its
protocol, and re-exports every map type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from adapters.files_map import FilesMap, read_files_map
from adapters.map_schema import FaultEntry, Section, StateTable
from adapters.modbus_map import (
    NUMBER,
    ModbusFaults,
    ModbusMap,
    ModbusRecipes,
    ModbusStep,
    PollGroup,
    ReflowProcess,
    ZonePoints,
    read_modbus_map,
)
from adapters.opcua_map import OpcUaFaults, OpcUaMap, OpcUaRecipes, OpcUaWork, read_opcua_map
from adapters.serial_map import SerialEvent, SerialMap, read_serial_map
from adapters.tester_map import TesterMap, read_tester_map
from protocols.errors import ConfigError
from protocols.tomlread import parse_toml, read_toml

# --- loading --------------------------------------------------------------------------------------

MachineMap = ModbusMap | OpcUaMap | SerialMap | FilesMap | TesterMap
_Reader = Callable[[Section], MachineMap]
_READERS: dict[str, _Reader] = {
    "modbus": read_modbus_map,
    "opcua": read_opcua_map,
    "serial": read_serial_map,
    "files": read_files_map,
    "tester": read_tester_map,
}


def parse_map(data: Mapping[str, Any], *, path: str | None = None) -> MachineMap:
    """A map from parsed TOML.

    Raises:
        ConfigError: naming ``path`` and the key path of the first problem.
    """
    root = Section(data, path, "")
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
    return parse_map(read_toml(path), path=str(path))


def builtin_map(name: str) -> MachineMap:
    """One of the maps shipped in ``adapters/maps/`` (``reflow_oven``, ``selective_solder``, ``coater``,
    ``aoi_xml``, ``xray_csv``, ``ict_csv``, ``fct_lines``).

    Raises:
        ConfigError: no such map.
    """
    resource = resources.files("adapters").joinpath("maps", f"{name}.toml")
    if not resource.is_file():
        raise ConfigError(f"no built-in map called {name!r}")
    where = f"adapters/maps/{name}.toml"
    return parse_map(parse_toml(resource.read_text(encoding="utf-8"), path=where), path=where)


__all__ = [
    "NUMBER",
    "FaultEntry",
    "FilesMap",
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
    "TesterMap",
    "ZonePoints",
    "builtin_map",
    "load_map",
    "parse_map",
]
