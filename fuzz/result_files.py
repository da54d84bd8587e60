"""The result-file parsers (XML and CSV, through the built-in maps) under fuzz.

Invariant: any bytes, fed in two chunks cut where the first byte says, parse into board records
or raise MalformedResultFile; nothing else escapes (no expat, csv, Unicode or value error).
"""

from __future__ import annotations

import random

from adapters.maps import FilesMap, builtin_map
from fuzz.harness import Harness, Target
from protocols.files import MalformedResultFile, ResultMap, parse_chunks
from simulators.result_files import aoi_xml, random_board, xray_csv


def _map(name: str) -> ResultMap:
    files_map = builtin_map(name)
    assert isinstance(files_map, FilesMap)
    return files_map.result


def _target(name: str) -> Target:
    result_map = _map(name)

    def one(data: bytes) -> None:
        cut = data[0] if data else 0
        parse_chunks(result_map, [data[:cut], data[cut:]])

    return one


def _boards(seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [
        b"".join(writer([random_board(rng, f"PCB{i}", positions=i % 3 + 1, defects=i, readings=i % 2)]))
        for i in range(6)
        for writer in ((aoi_xml, xray_csv)[seed % 2],)
    ]


HARNESSES = [
    Harness(
        "result-files-xml",
        "protocols/files/xml_stream.py",
        lambda: _target("aoi_xml"),
        (MalformedResultFile,),
        lambda: _boards(0),
    ),
    Harness(
        "result-files-csv",
        "protocols/files/csv_stream.py",
        lambda: _target("xray_csv"),
        (MalformedResultFile,),
        lambda: _boards(1),
    ),
]
