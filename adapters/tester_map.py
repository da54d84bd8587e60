"""The tester map schema: how a test station's report lines spell units, steps and results.

:func:`read_tester_map` reads the tables of a map whose ``[machine] protocol = "tester"``
(``adapters.maps.parse_map`` dispatches here) into a :class:`TesterMap`, which
:class:`adapters.serial_reports.TestReportAdapter` follows. A tester sends, per unit, a line that
starts its test, one line per step measured and a line that ends it, each ``TAG:KEY=VALUE;...``
(``protocols.serial.payload``); the map names the three tags, the field that names the unit on
every line, the fields each line carries and the words for a result. docs/maps.md describes every
key; ``adapters/maps/fct_lines.toml`` is the simulated functional tester's (``simulators/fct.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from adapters import observations as obs
from adapters.files_map import TEST_METHODS
from adapters.map_schema import Section

#: The line syntaxes a tester map may name (``tagged``: ``TAG:KEY=VALUE;KEY=VALUE``).
SYNTAXES = ("tagged",)
#: The fields each kind of line may map, and the ones it must.
START_FIELDS = ("panel", "position", "recipe")
STEP_FIELDS = ("name", "value", "unit", "low", "high", "result")
END_FIELDS = ("result",)
_REQUIRED = {"step": ("name", "value")}
_DEFAULT_WORDS: dict[obs.Outcome, tuple[str, ...]] = {
    obs.Outcome.PASSED: ("PASS", "PASSED"),
    obs.Outcome.FAILED: ("FAIL", "FAILED"),
}


@dataclass(frozen=True, slots=True)
class TesterMap:
    """A test station's report lines: tags, the unit's key field, each line's fields, words."""

    __test__ = False  # not a pytest class, whatever its name

    method: str = "FCT"
    unit: str = "SN"  # the field that names the unit (its serial, or barcode) on every line
    start: str = "TS"
    step: str = "TR"
    end: str = "TE"
    start_fields: Mapping[str, str] = field(default_factory=dict)
    step_fields: Mapping[str, str] = field(default_factory=lambda: {"name": "NAME", "value": "VAL"})
    end_fields: Mapping[str, str] = field(default_factory=dict)
    words: Mapping[obs.Outcome, tuple[str, ...]] = field(default_factory=lambda: dict(_DEFAULT_WORDS))
    #: Units started and not ended that are kept; past it the oldest is reported as an error.
    max_open: int = 64

    def outcome(self, word: str | None) -> obs.Outcome | None:
        """The result ``word`` spells (case-insensitive), or None for a word the map does not know."""
        if word is None:
            return None
        key = word.strip().upper()
        for outcome, words in self.words.items():
            if key in words:
                return outcome
        return None


def _fields(root: Section, kind: str, allowed: tuple[str, ...]) -> dict[str, str] | None:
    table = root.section(kind)
    if table is None:
        return None
    fields: dict[str, str] = {}
    for name in table.data:
        if name not in allowed:
            raise table.error(f"unknown field (one of {', '.join(allowed)})", name)
        source = table.get(name, str)
        if not source or any(c in source for c in ";=:"):
            raise table.error("must name a line field (no ';', '=' or ':')", name)
        fields[name] = source
    for name in _REQUIRED.get(kind, ()):
        if name not in fields:
            raise table.error("is required", name)
    table.done()
    return fields


def _words(root: Section) -> dict[obs.Outcome, tuple[str, ...]]:
    table = root.section("words")
    words = dict(_DEFAULT_WORDS)
    if table is None:
        return words
    for outcome in obs.Outcome:
        if table.has(outcome.value):
            listed = table.get(outcome.value, list)
            if not listed or not all(isinstance(w, str) and w for w in listed):
                raise table.error("must be a list of words", outcome.value)
            words[outcome] = tuple(w.upper() for w in listed)
    table.done()
    return words


def read_tester_map(root: Section) -> TesterMap:
    """A tester map from its TOML tables.

    Raises:
        ConfigError: naming the file and key path of the first problem.
    """
    lines = root.require("lines")
    if lines.get("syntax", str, "tagged") not in SYNTAXES:
        raise lines.error(f"must be one of {', '.join(SYNTAXES)}", "syntax")
    method = lines.get("method", str, "FCT")
    if method not in TEST_METHODS:
        raise lines.error(f"must be a CFX TestMethod ({', '.join(TEST_METHODS)})", "method")
    tags = {name: lines.get(name, str) for name in ("start", "step", "end")}
    for name, tag in tags.items():
        if not tag or any(c in tag for c in ";=:"):
            raise lines.error("must be a line tag (no ';', '=' or ':')", name)
    if len(set(tags.values())) != 3:
        raise lines.error("start, step and end must be three different tags", "end")
    unit = lines.get("unit", str)
    if not unit or any(c in unit for c in ";=:"):
        raise lines.error("must name a line field (no ';', '=' or ':')", "unit")
    max_open = lines.get("max_open", int, 64)
    if max_open < 1:
        raise lines.error("must be at least 1", "max_open")
    lines.done()
    step_fields = _fields(root, "step", STEP_FIELDS)
    if step_fields is None:
        raise root.error("is required: the fields of a step line (name, value at least)", "step")
    return TesterMap(
        method=method,
        unit=unit,
        start=tags["start"],
        step=tags["step"],
        end=tags["end"],
        start_fields=_fields(root, "start", START_FIELDS) or {},
        step_fields=step_fields,
        end_fields=_fields(root, "end", END_FIELDS) or {},
        words=_words(root),
        max_open=max_open,
    )


__all__ = ["END_FIELDS", "START_FIELDS", "STEP_FIELDS", "SYNTAXES", "TesterMap", "read_tester_map"]
