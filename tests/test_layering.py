"""Imports point one way: gateway → adapters → protocols → native; simulators use protocols only.

The one exception is the command line: ``linegate simulate`` and ``linegate demo`` start
simulators, so modules under ``gateway/commands/`` (and ``gateway/demo``, and the pytest plugin
in ``gateway/testing/``) may import them; the running gateway itself never does.

Sans-IO cores under protocols/ import no asyncio, socket or time; only the ``transport``
subpackages (the thin asyncio layers that simulators and adapters share) may.

And rooms a newcomer can place: no source file is longer than 700 lines, except the declarative
CFX message catalogue under ``protocols/cfx/messages/`` (generated from the SDK's types).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"gateway", "adapters", "protocols", "native", "simulators"}
ALLOWED = {
    "native": {"native"},
    "protocols": {"protocols", "native"},
    "adapters": {"adapters", "protocols", "native"},
    "gateway": {"gateway", "adapters", "protocols", "native"},
    "simulators": {"simulators", "protocols", "native"},
}
IO_MODULES = {"asyncio", "socket", "time", "threading", "selectors"}
# gateway/simulated.py describes a running simulated line as a line config (demo and test kit).
SIMULATOR_USERS = ("gateway/commands/", "gateway/demo", "gateway/simulated.py", "gateway/testing/")
# Every folder of source we write, and how long one file of it may grow (STYLE.md: one module
# per concept, typically 100-700 lines); the generated message catalogue is exempt.
SOURCE_FOLDERS = (*sorted(OURS), "bench", "fuzz", "scripts", "tests", "examples")
SOURCE_SUFFIXES = (".py", ".pyx")
MAX_LINES = 700
EXEMPT = ("protocols/cfx/messages/",)


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_one_way(package: str) -> None:
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in _sources(package)
        for line, name in _imports(path)
        if name.split(".")[0] in OURS
        and name.split(".")[0] not in ALLOWED[package]
        and not (
            name.split(".")[0] == "simulators"
            and path.relative_to(ROOT).as_posix().startswith(SIMULATOR_USERS)
        )
    ]
    assert not wrong, "\n".join(wrong)


def test_protocol_cores_do_no_io() -> None:
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in _sources("protocols")
        if "transport" not in path.relative_to(ROOT).parts
        for line, name in _imports(path)
        if name.split(".")[0] in IO_MODULES
    ]
    assert not wrong, "\n".join(wrong)


def _line_counts() -> dict[str, int]:
    counts = {}
    for folder in SOURCE_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*")):
            name = path.relative_to(ROOT).as_posix()
            if path.suffix in SOURCE_SUFFIXES and path.is_file() and not name.startswith(EXEMPT):
                counts[name] = len(path.read_text(encoding="utf-8").splitlines())
    return counts


def test_every_source_file_is_at_most_700_lines() -> None:
    """A file over 700 lines is split into modules named for what they hold (issue 19)."""
    counts = _line_counts()
    assert "simulators/line.py" in counts and "tests/test_layering.py" in counts  # the walk found them
    long = [f"{name}: {lines} lines" for name, lines in sorted(counts.items()) if lines > MAX_LINES]
    assert not long, f"longer than {MAX_LINES} lines:\n" + "\n".join(long)
