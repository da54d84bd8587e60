"""Result files of inspection and test stations, sans-IO: readiness rules, maps, streaming parsers.

A station (AOI, X-ray, tester) drops one file per board, or per batch of boards, into a folder.
:mod:`protocols.files.readiness` decides when a file is complete; :class:`ResultMap` says which
element or column means what; :func:`parser_for` gives the streaming parser for the map's
format, which takes the file in chunks and returns :class:`BoardRecord` values as they complete.
Bad input is a :class:`MalformedResultFile` naming the file, line and offset.
"""

from __future__ import annotations

from collections.abc import Iterable

from protocols.files.csv_stream import CsvResultParser
from protocols.files.readiness import FileStat, Readiness, ReadinessTracker, ReadyRule
from protocols.files.records import (
    BoardRecord,
    DefectRecord,
    MalformedResultFile,
    MeasurementRecord,
    Outcome,
    UnitRecord,
    Verdict,
)
from protocols.files.resultmap import FileFormat, ResultMap, Words
from protocols.files.xml_stream import XmlResultParser

ResultParser = XmlResultParser | CsvResultParser


def parser_for(result_map: ResultMap, *, name: str | None = None) -> ResultParser:
    """A fresh streaming parser for one file in the map's format."""
    if result_map.format is FileFormat.XML:
        return XmlResultParser(result_map, name=name)
    return CsvResultParser(result_map, name=name)


def parse_chunks(
    result_map: ResultMap, chunks: Iterable[bytes], *, name: str | None = None
) -> list[BoardRecord]:
    """Every board of a file given as chunks (tests and small files).

    Raises:
        MalformedResultFile: the file is malformed.
    """
    parser = parser_for(result_map, name=name)
    boards: list[BoardRecord] = []
    for chunk in chunks:
        boards.extend(parser.feed(chunk))
    boards.extend(parser.close())
    return boards


__all__ = [
    "BoardRecord",
    "CsvResultParser",
    "DefectRecord",
    "FileFormat",
    "FileStat",
    "MalformedResultFile",
    "MeasurementRecord",
    "Outcome",
    "Readiness",
    "ReadinessTracker",
    "ReadyRule",
    "ResultMap",
    "ResultParser",
    "UnitRecord",
    "Verdict",
    "Words",
    "XmlResultParser",
    "parse_chunks",
    "parser_for",
]
