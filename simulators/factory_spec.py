"""Factory files: several simulated lines run together (``linegate simulate --factory FILE``).

A factory file names the line files of a factory, relative to itself::

    name = "plant-a"
    lines = ["line1.toml", "line2.toml"]

The lines run side by side, each with its own board source, clock and ports; they share no
Hermes lane. Line names must differ (they name the lines in the output and the endpoints JSON),
and so must the CFX handles the line files give (a handle is a source's identity in the whole
factory: two machines with one handle would merge into one stream at the broker).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from protocols.errors import ConfigError
from protocols.tomlread import read_toml
from simulators.line_spec import LineSpec, load_line


@dataclass(frozen=True, slots=True)
class FactorySpec:
    """Lines that run together, in the order the factory file lists them."""

    name: str
    lines: tuple[LineSpec, ...]
    path: str | None = None


def check_lines(lines: Sequence[LineSpec], *, path: str | None = None) -> None:
    """Refuse lines that cannot run side by side: repeated line names or CFX handles.

    Raises:
        ConfigError: naming the two lines.
    """
    names: dict[str, LineSpec] = {}
    handles: dict[str, tuple[LineSpec, str]] = {}
    for line in lines:
        if line.name in names:
            raise ConfigError(
                f"two lines are named {line.name!r} ({names[line.name].path or 'the default line'} and "
                f"{line.path or 'the default line'}); give each line file its own name",
                path=path,
                key="lines",
            )
        names[line.name] = line
        for machine in line.machines:
            if machine.handle is None:
                continue
            if machine.handle in handles:
                other, machine_id = handles[machine.handle]
                raise ConfigError(
                    f"CFX handle {machine.handle!r} is used by {other.name}/{machine_id} and by "
                    f"{line.name}/{machine.machine_id}; a handle identifies one machine in the factory",
                    path=path,
                    key="lines",
                )
            handles[machine.handle] = (line, machine.machine_id)


def load_factory(path: str | Path) -> FactorySpec:
    """Read a factory file and every line file it names.

    Raises:
        ConfigError: the factory file or a line file is unreadable or invalid, or the lines clash.
    """
    name = str(path)
    data = read_toml(path)  # the one TOML reader (protocols.tomlread): unreadable, not UTF-8, not TOML
    unknown = sorted(set(data) - {"name", "lines"})
    if unknown:
        raise ConfigError(f"unknown key(s): {', '.join(unknown)} (known: name, lines)", path=name)
    files = data.get("lines")
    if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
        raise ConfigError("must be a non-empty list of line file paths", path=name, key="lines")
    factory_name = data.get("name", Path(path).stem)
    if not isinstance(factory_name, str):
        raise ConfigError(f"must be a string, not {type(factory_name).__name__}", path=name, key="name")
    base = Path(path).parent
    lines = tuple(load_line(base / file) for file in files)
    check_lines(lines, path=name)
    return FactorySpec(factory_name, lines, name)


__all__ = ["FactorySpec", "check_lines", "load_factory"]
