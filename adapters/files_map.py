"""The result-file map schema: format, elements or columns, field sources, result words.

:func:`read_files_map` reads the tables of a map whose ``[machine] protocol = "files"``
(``adapters.maps.parse_map`` dispatches here) into a :class:`protocols.files.ResultMap`.
docs/files.md describes every key.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from datetime import UTC, timedelta, timezone, tzinfo

from adapters.map_schema import Section
from protocols.files import FileFormat, Outcome, ResultMap, Verdict, Words
from protocols.files.resultmap import BOARD_FIELDS, DEFECT_FIELDS, MEASUREMENT_FIELDS, REQUIRED, UNIT_FIELDS

# CFX.Structures.InspectionMethod, as the SDK spells its members: results become UnitsInspected.
METHODS = ("AOI", "AXI", "SPI", "Human")
# CFX.Structures.TestMethod without Human (which InspectionMethod has too): results of a tester
# become UnitsTested.
TEST_METHODS = ("ICT", "FPT", "FCT", "BST", "Automated")
_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")
_SOURCE = re.compile(r"^(/?@[A-Za-z_][\w.:-]*|[A-Za-z_][\w.:-]*)$")


@dataclass(frozen=True, slots=True)
class FilesMap:
    """A result-file station: how its files read (the compiled :class:`ResultMap`)."""

    result: ResultMap


def _timezone(section: Section) -> tzinfo:
    text = section.get("timezone", str, "UTC")
    if text == "UTC":
        return UTC
    match = _OFFSET.match(text)
    if match is None:
        raise section.error('must be "UTC" or an offset like "+02:00"', "timezone")
    sign = -1 if match[1] == "-" else 1
    return timezone(sign * timedelta(hours=int(match[2]), minutes=int(match[3])))


def _fields(root: Section, kind: str, allowed: tuple[str, ...], fmt: FileFormat) -> dict[str, str]:
    table = root.section(kind)
    if table is None:
        return {}
    fields: dict[str, str] = {}
    for name in table.data:
        if name not in allowed:
            raise table.error(f"unknown field (one of {', '.join(allowed)})", name)
        source = table.get(name, str)
        if fmt is FileFormat.XML and not _SOURCE.match(source):
            raise table.error('must be "@attribute", "/@root-attribute" or a child element name', name)
        if fmt is FileFormat.CSV and not source:
            raise table.error("must name a column", name)
        fields[name] = source
    for name in REQUIRED.get(kind, ()):
        if fields and name not in fields:
            raise table.error("is required", name)
    table.done()
    return fields


def _words(root: Section) -> Words:
    table = root.section("words")
    default = Words()
    if table is None:
        return default
    outcomes = dict(default.outcomes)
    for outcome in Outcome:
        if table.has(outcome.value):
            outcomes[outcome] = _upper(table, outcome.value)
    verdicts = dict(default.verdicts)
    for verdict in Verdict:
        if table.has(verdict.value):
            verdicts[verdict] = _upper(table, verdict.value)
    table.done()
    return Words(outcomes, verdicts)


def _upper(table: Section, name: str) -> tuple[str, ...]:
    words = table.get(name, list)
    if not all(isinstance(w, str) for w in words):
        raise table.error("must be a list of strings", name)
    return tuple(w.upper() for w in words)


def read_files_map(root: Section) -> FilesMap:
    """A result-file map from its TOML tables.

    Raises:
        ConfigError: naming the file and key path of the first problem.
    """
    files = root.require("files")
    fmt_text = files.get("format", str)
    if fmt_text not in ("xml", "csv"):
        raise files.error('must be "xml" or "csv"', "format")
    fmt = FileFormat(fmt_text)
    method = files.get("method", str, "AOI")
    if method not in METHODS + TEST_METHODS:
        raise files.error(
            f"must be a CFX InspectionMethod ({', '.join(METHODS)})"
            f" or TestMethod ({', '.join(TEST_METHODS)})",
            "method",
        )
    max_defects = files.get("max_defects", int, 1_000_000)
    if max_defects < 1:
        raise files.error("must be at least 1", "max_defects")
    options: dict[str, object] = {
        "time_format": files.get("time_format", str, None),
        "timezone": _timezone(files),
        "max_defects": max_defects,
    }
    if fmt is FileFormat.CSV:
        for name, default in (("delimiter", ","), ("quotechar", '"')):
            value = files.get(name, str, default)
            if len(value) != 1:
                raise files.error("must be one character", name)
            options[name] = value
        options["encoding"] = _encoding(files)
    files.done()
    elements: dict[str, str | None] = {}
    if fmt is FileFormat.XML:
        table = root.require("elements")
        elements["board"] = table.get("board", str)
        for name in ("unit", "defect", "measurement"):
            elements[name] = table.get(name, str, None)
        table.done()
    result = ResultMap(
        format=fmt,
        method=method,
        board_fields=_fields(root, "board", BOARD_FIELDS, fmt),
        unit_fields=_fields(root, "unit", UNIT_FIELDS, fmt),
        defect_fields=_fields(root, "defect", DEFECT_FIELDS, fmt),
        measurement_fields=_fields(root, "measurement", MEASUREMENT_FIELDS, fmt),
        words=_words(root),
        **elements,  # type: ignore[arg-type]
        **options,  # type: ignore[arg-type]
    )
    if "barcode" not in result.board_fields:
        raise root.error("is required: results name boards by barcode", "board.barcode")
    return FilesMap(result)


def _encoding(files: Section) -> str:
    name: str = files.get("encoding", str, "utf-8")
    try:
        codecs.lookup(name)
    except LookupError:
        raise files.error(f"{name!r} is not a known text encoding", "encoding") from None
    return name
