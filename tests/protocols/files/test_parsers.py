"""The streaming result-file parsers: the same boards however the bytes are cut, and one clear
error (file, line, offset) for every kind of bad file."""

from __future__ import annotations

import contextlib
import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.files import MalformedResultFile, Outcome, Verdict, parse_chunks
from tests.protocols.files.samples import AOI_FILE, AOI_MAP, XRAY_FILE, XRAY_MAP


def _cuts(data: bytes) -> list[list[bytes]]:
    # whole, byte by byte, and in 5-byte chunks (h11's ``tr`` idea)
    return [
        [data],
        [data[i : i + 1] for i in range(len(data))],
        [data[i : i + 5] for i in range(0, len(data), 5)],
    ]


@pytest.mark.parametrize("cut", range(3))
def test_aoi_xml_gives_the_same_boards_however_it_is_fed(cut: int) -> None:
    boards = parse_chunks(AOI_MAP, _cuts(AOI_FILE)[cut], name="a.xml")
    assert [b.barcode for b in boards] == ["PCB0001", "PCB0002"]
    first = boards[0]
    assert first.outcome is Outcome.FAILED and first.recipe == "PROD-A"
    assert first.started is not None and first.started.utcoffset() is not None
    assert [(u.position, u.barcode, u.outcome) for u in first.units] == [
        (1, "PCB0001-1", Outcome.PASSED),
        (2, "PCB0001-2", Outcome.FAILED),
    ]
    defects = first.units[1].defects
    assert [(d.refdes, d.code, d.verdict) for d in defects] == [
        ("C12", "MISSING", Verdict.CONFIRMED),
        ("R3", "SHIFT", Verdict.FALSE_CALL),
    ]
    assert defects[0].description == "component missing & pad bare"
    (m,) = first.units[1].measurements
    assert (m.name, m.value, m.unit, m.low, m.high) == ("R3.offset_x", 0.12, "mm", -0.1, 0.1)
    # a board without panel elements is one unit at position 1 carrying the board's barcode
    assert [(u.position, u.barcode) for u in boards[1].units] == [(1, "PCB0002")]


@pytest.mark.parametrize("cut", range(3))
def test_xray_csv_groups_rows_by_board_however_it_is_fed(cut: int) -> None:
    boards = parse_chunks(XRAY_MAP, _cuts(XRAY_FILE)[cut], name="x.csv")
    assert [b.barcode for b in boards] == ["PCB0001", "PCB0002"]
    u1, u2 = boards[0].units
    assert [(d.refdes, d.code, d.verdict) for d in u1.defects] == [("U1", "VOID", Verdict.CONFIRMED)]
    assert u2.defects == [] and u2.outcome is Outcome.PASSED
    assert u2.measurements[0].name == "U1.void,pct"  # a quoted delimiter stays in its field
    assert boards[1].units[0].defects == [] and boards[1].outcome is Outcome.PASSED


def test_a_quoted_field_may_span_lines() -> None:
    data = XRAY_FILE.replace(b'"U1.void,pct"', b'"U1.void\nline two"')
    boards = parse_chunks(XRAY_MAP, [data[i : i + 3] for i in range(0, len(data), 3)])
    assert boards[0].units[1].measurements[0].name == "U1.void\nline two"


def _fails(result_map: object, data: bytes) -> MalformedResultFile:
    with pytest.raises(MalformedResultFile) as caught:
        parse_chunks(result_map, [data], name="bad")  # type: ignore[arg-type]
    assert caught.value.name == "bad"
    assert str(caught.value).startswith("bad")
    return caught.value


def test_a_doctype_is_refused_before_its_entities_expand() -> None:
    laughs = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<Inspection><Board barcode="&lol2;" result="PASS"/></Inspection>"""
    error = _fails(AOI_MAP, laughs)
    assert "DOCTYPE" in error.reason and error.line == 2


def test_an_unknown_declared_encoding_is_malformed() -> None:
    error = _fails(AOI_MAP, AOI_FILE.replace(b"UTF-8", b"UF-8", 1))
    assert "unknown encoding" in error.reason and error.line == 1


def test_an_external_entity_is_refused() -> None:
    error = _fails(AOI_MAP, b'<!DOCTYPE x SYSTEM "file:///etc/passwd"><Inspection/>')
    assert "DOCTYPE" in error.reason


def test_an_undefined_entity_is_an_error_with_its_position() -> None:
    error = _fails(AOI_MAP, b'<Inspection>\n<Board barcode="&secret;" result="PASS"/></Inspection>')
    assert "undefined entity" in error.reason and error.line == 2 and error.column is not None


def test_a_truncated_xml_file_is_malformed() -> None:
    error = _fails(AOI_MAP, AOI_FILE[: len(AOI_FILE) // 2])
    assert error.line is not None and error.offset is not None


def test_an_unknown_result_word_names_the_value() -> None:
    error = _fails(AOI_MAP, AOI_FILE.replace(b'result="FAIL"', b'result="MAYBE"', 1))
    assert "'MAYBE'" in error.reason and error.line == 3


def test_a_defect_without_code_is_malformed() -> None:
    error = _fails(AOI_MAP, AOI_FILE.replace(b'code="SHIFT" ', b""))
    assert "defect without code" in error.reason and error.line == 7


def test_a_file_without_boards_is_malformed() -> None:
    assert "no <Board>" in _fails(AOI_MAP, b"<Inspection/>").reason


def test_nesting_is_bounded() -> None:
    assert "nested deeper" in _fails(AOI_MAP, b"<a>" * 100 + b"</a>" * 100).reason


def test_too_many_defects_on_one_board_is_malformed() -> None:
    small = dataclasses.replace(AOI_MAP, max_defects=1)
    assert "max_defects" in _fails(small, AOI_FILE).reason
    small_csv = dataclasses.replace(XRAY_MAP, max_defects=1)
    data = XRAY_FILE + b"PCB0003,P,FAIL,1,FAIL,U1,VOID,REAL,,,,\nPCB0003,P,FAIL,1,FAIL,U2,VOID,REAL,,,,\n"
    assert _fails(small_csv, data).line == 6


def test_a_csv_row_with_the_wrong_field_count_names_its_line() -> None:
    error = _fails(XRAY_MAP, XRAY_FILE + b"PCB0003,PROD-A,PASS\n")
    assert error.line == 5 and "3 fields" in error.reason


def test_a_csv_truncated_inside_a_quote_is_malformed() -> None:
    error = _fails(XRAY_MAP, XRAY_FILE + b'PCB0003,PROD-A,PASS,1,PASS,,,,"cut')
    assert "truncated" in error.reason and error.line == 5


def test_a_csv_header_without_a_mapped_column_is_malformed() -> None:
    error = _fails(XRAY_MAP, XRAY_FILE.replace(b"Review,", b"Rev,"))
    assert "'Review'" in error.reason and error.line == 1


def test_csv_that_is_not_its_encoding_gives_the_byte_offset() -> None:
    error = _fails(XRAY_MAP, XRAY_FILE + b"PCB\xff\n")
    assert error.offset == len(XRAY_FILE) + 3


@pytest.mark.parametrize("position", [b"0", b"100001", b"99999999999999999999", b"two"])
def test_a_position_that_is_not_one_is_malformed(position: bytes) -> None:
    error = _fails(AOI_MAP, AOI_FILE.replace(b'position="2"', b'position="' + position + b'"'))
    assert "position" in error.reason and error.line == 5


def test_a_non_numeric_measurement_is_malformed() -> None:
    assert "not a number" in _fails(XRAY_MAP, XRAY_FILE.replace(b"31.5", b"lots")).reason


# The fuzz invariant: any bytes, cut anywhere, either parse into boards or raise
# MalformedResultFile; nothing else escapes (no expat, csv, Unicode or value error).


def _mutated(data: bytes) -> st.SearchStrategy[bytes]:
    edits = st.lists(
        st.tuples(st.integers(0, len(data)), st.binary(max_size=4), st.integers(0, 4)), max_size=6
    )

    def apply(changes: list[tuple[int, bytes, int]]) -> bytes:
        out = bytearray(data)
        for at, insert, drop in changes:
            out[at : at + drop] = insert
        return bytes(out)

    return st.one_of(st.binary(max_size=200), edits.map(apply))


def _feed(result_map: object, data: bytes, cut: int) -> None:
    chunks = [data[i : i + cut] for i in range(0, len(data), cut)] or [b""]
    with contextlib.suppress(MalformedResultFile):
        parse_chunks(result_map, chunks)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(_mutated(AOI_FILE), st.integers(1, 64))
def test_any_xml_parses_or_is_malformed(data: bytes, cut: int) -> None:
    _feed(AOI_MAP, data, cut)


@settings(max_examples=200, deadline=None)
@given(_mutated(XRAY_FILE), st.integers(1, 64))
def test_any_csv_parses_or_is_malformed(data: bytes, cut: int) -> None:
    _feed(XRAY_MAP, data, cut)
