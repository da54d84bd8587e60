"""Files maps: the built-in ones load, options reach the compiled map, and every mistake is a
ConfigError naming the key path."""

from __future__ import annotations

import tomllib
from datetime import timedelta

import pytest

from adapters.maps import FilesMap, builtin_map, parse_map
from protocols.errors import ConfigError
from protocols.files import FileFormat, Outcome, Verdict

BASE = """
[machine]
protocol = "files"
[files]
format = "xml"
[elements]
board = "Board"
defect = "Defect"
[board]
barcode = "@barcode"
[defect]
code = "@code"
"""


def _map(extra: str = "", base: str = BASE) -> FilesMap:
    result = parse_map(tomllib.loads(base + extra), path="m.toml")
    assert isinstance(result, FilesMap)
    return result


def test_the_builtin_maps_load() -> None:
    aoi, xray = builtin_map("aoi_xml"), builtin_map("xray_csv")
    assert isinstance(aoi, FilesMap) and isinstance(xray, FilesMap)
    assert (aoi.result.format, aoi.result.method, aoi.result.unit) == (FileFormat.XML, "AOI", "Panel")
    assert (xray.result.format, xray.result.method) == (FileFormat.CSV, "AXI")
    ict = builtin_map("ict_csv")
    assert isinstance(ict, FilesMap) and (ict.result.format, ict.result.method) == (FileFormat.CSV, "ICT")


def test_words_timezone_and_limits_reach_the_compiled_map() -> None:
    m = _map('[words]\npassed = ["gut"]\nfalse_call = ["pseudo"]\n').result
    assert m.words.outcome("GUT", "r") is Outcome.PASSED
    assert m.words.verdict("Pseudo", "v") is Verdict.FALSE_CALL
    assert m.words.outcome("FAIL", "r") is Outcome.FAILED  # the other defaults stay
    with_zone = _map(
        "",
        BASE.replace(
            'format = "xml"', 'format = "xml"\ntimezone = "-05:30"\nmax_defects = 7\ntime_format = "%d.%m.%Y"'
        ),
    ).result
    assert with_zone.timezone.utcoffset(None) == -timedelta(hours=5, minutes=30)
    assert with_zone.max_defects == 7
    assert with_zone.when("04.05.2026", "t").utcoffset() == -timedelta(hours=5, minutes=30)


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        (('format = "xml"', 'format = "json"'), "files.format", '"xml" or "csv"'),
        (('format = "xml"', 'format = "xml"\nmethod = "X-RAY"'), "files.method", "InspectionMethod"),
        (('format = "xml"', 'format = "xml"\ntimezone = "CET"'), "files.timezone", "offset"),
        (('format = "xml"', 'format = "xml"\nmax_defects = 0'), "files.max_defects", "at least 1"),
        (('format = "xml"', 'format = "xml"\ndelimiter = ";"'), "files.delimiter", "unknown key"),
        (('code = "@code"', 'code = "@code"\nseverity = "@sev"'), "defect.severity", "unknown field"),
        (('code = "@code"', 'code = "@co de"'), "defect.code", "@attribute"),
        (('code = "@code"', 'refdes = "@ref"'), "defect.code", "is required"),
        (('barcode = "@barcode"', 'result = "@result"'), "board.barcode", "by barcode"),
        (('board = "Board"', 'boards = "Board"'), "elements.board", "is required"),
    ],
)
def test_a_wrong_map_names_its_key(change: tuple[str, str], key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _map(base=BASE.replace(*change))
    assert caught.value.path == "m.toml" and caught.value.key == key and problem in caught.value.problem


def test_a_csv_map_checks_its_dialect() -> None:
    csv = BASE.replace('format = "xml"', 'format = "csv"\ndelimiter = ";;"').replace(
        '[elements]\nboard = "Board"\ndefect = "Defect"\n', ""
    )
    with pytest.raises(ConfigError) as caught:
        _map(base=csv)
    assert caught.value.key == "files.delimiter"
    with pytest.raises(ConfigError) as caught:
        _map(base=csv.replace('delimiter = ";;"', 'encoding = "klingon"'))
    assert caught.value.key == "files.encoding"
