"""``linegate cfx check`` and ``linegate cfx fmt``: output, exit codes, and every input form."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from gateway.cli import main
from protocols.cfx import Heartbeat, decode_envelope, decode_envelopes, encode_envelope, encode_envelopes
from tests.protocols.cfx.helpers import envelope, reflow_units_processed

GOOD = encode_envelope(envelope(reflow_units_processed()))
BAD = GOOD.replace(b'"TransactionId"', b'"TransactionID"').replace(
    b'"ConveyorSpeed":80.0', b'"ConveyorSpeed":80'
)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def test_check_clean_file_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A canonical envelope gets a one-line summary and exit 0."""
    path = tmp_path / "good.json"
    path.write_bytes(GOOD)
    assert run(["cfx", "check", str(path)], capsys) == (0, "1 envelope in 1 file: no problems\n", "")


def test_check_reports_every_problem_with_path_and_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each problem is one line FILE: PATH: [rule] message; exit 1."""
    path = tmp_path / "bad.json"
    path.write_bytes(BAD)
    status, out, err = run(["cfx", "check", str(path)], capsys)
    assert status == 1
    lines = out.splitlines()
    assert f"{path}: $.MessageBody.TransactionID: [key-casing] the SDK writes 'TransactionId'" in lines
    assert any(
        line.startswith(f"{path}: $.MessageBody.CommonProcessData.ConveyorSpeed: [double-format]")
        for line in lines
    )
    assert len(lines) == 2
    assert "2 problems found" in err


def test_check_several_files_and_unreadable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing file is reported on stderr and makes the exit status 2; others are still checked."""
    good = tmp_path / "good.json"
    good.write_bytes(GOOD)
    bad = tmp_path / "bad.json"
    bad.write_bytes(BAD)
    status, out, err = run(["cfx", "check", str(good), str(tmp_path / "missing.json"), str(bad)], capsys)
    assert status == 2
    assert "missing.json" in err
    assert out.count(str(bad)) == 2


def test_check_invalid_json_is_a_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Text that is not JSON is a problem (rule json), exit 1."""
    path = tmp_path / "x.json"
    path.write_bytes(b"{not json")
    status, out, _ = run(["cfx", "check", str(path)], capsys)
    assert status == 1
    assert "[json]" in out


def test_check_batches_json_lines_and_gzip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A batch array, JSON Lines (line numbers in the report) and gzip files are all read."""
    batch = tmp_path / "batch.json"
    batch.write_bytes(b"[" + GOOD + b"," + BAD + b"]")
    status, out, _ = run(["cfx", "check", str(batch)], capsys)
    assert status == 1
    assert "$[1].MessageBody.TransactionID" in out
    lines = tmp_path / "log.jsonl"
    lines.write_bytes(GOOD + b"\n" + BAD + b"\n")
    status, out, _ = run(["cfx", "check", str(lines)], capsys)
    assert status == 1
    assert all(line.startswith(f"{lines}:2: ") for line in out.splitlines())
    packed = tmp_path / "good.json.gz"
    packed.write_bytes(gzip.compress(GOOD))
    assert run(["cfx", "check", str(packed)], capsys)[0] == 0


def test_check_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """ "-" reads standard input."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(BAD)))
    status, out, _ = run(["cfx", "check", "-"], capsys)
    assert status == 1
    assert out.startswith("<stdin>: ")


def test_fmt_prints_canonical_form(tmp_path: Path) -> None:
    """fmt re-encodes lenient input in the SDK's canonical form (subprocess: real stdout bytes)."""
    path = tmp_path / "lenient.json"
    path.write_bytes(BAD.replace(b'"Version":"2.1"', b'"version":"2.1"'))
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "cfx", "fmt", str(path)],
        capture_output=True,
        check=False,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == GOOD + b"\n"


def test_fmt_batch_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A batch stays a batch; an undecodable envelope exits 1; a missing file exits 2."""
    env = envelope(Heartbeat(cfx_handle="a"))
    path = tmp_path / "batch.json"
    path.write_bytes(encode_envelopes([env, env]))
    status, out, _ = run(["cfx", "fmt", str(path)], capsys)
    assert status == 0
    assert out.startswith("[")
    assert len(decode_envelopes(out.strip())) == 2
    bad = tmp_path / "bad.json"
    bad.write_bytes(GOOD.replace(b'"OverallResult":"Succeeded"', b'"OverallResult":"Exploded"'))
    status, _, err = run(["cfx", "fmt", str(bad)], capsys)
    assert status == 1
    assert "$.MessageBody.OverallResult" in err
    assert run(["cfx", "fmt", str(tmp_path / "nope.json")], capsys)[0] == 2


def test_fmt_output_decodes(tmp_path: Path) -> None:
    """What fmt prints decodes back to the same envelope."""
    path = tmp_path / "good.json"
    path.write_bytes(GOOD)
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "cfx", "fmt", str(path)],
        capture_output=True,
        check=True,
        timeout=30,
    )
    assert decode_envelope(done.stdout) == decode_envelope(GOOD)


# One envelope with one problem of each kind the issue names, every one on its own member.
MANY = (
    b'{"MessageName":"CFX.ResourcePerformance.FaultOccurred","Version":"2.1",'
    b'"TimeStamp":"2026-05-04T07:01:12.123456789+02:00","UniqueID":"c0ffee00-1234-4abc-9def-0123456789ab",'
    b'"Source":"A.B.1","Target":null,"RequestID":null,'
    b'"MessageBody":{"$type":"CFX.ResourcePerformance.FaultOccurred, CFX",'
    b'"Fault":{"Cause":"MechanicalFailure","$type":"CFX.Structures.Fault, CFX","Severity":"Eror",'
    b'"FaultCod":"E1","FaultOccurrenceId":"c0ffee00-1234-4abc-9def-0123456789ab","Lane":"one",'
    b'"Stage":null,"SideLocation":"Unknown","AccessType":"Unknown","Description":null,'
    b'"DescriptionTranslations":{},"OccurredAt":"2026-05-04T07:01:12","DueDateTime":null,'
    b'"TransactionID":null}}}'
)


def test_check_reports_every_finding_of_an_envelope(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not only the first: each bad member gets its JSON path and rule, and the member is named."""
    path = tmp_path / "many.json"
    path.write_bytes(MANY)
    status, out, err = run(["cfx", "check", str(path)], capsys)
    assert status == 1
    fault = f"{path}: $.MessageBody.Fault"
    expected = [
        f"{path}: $.TimeStamp: [timestamp-format]",  # 9 fractional digits
        f"{fault}.$type: [type-not-first]",
        f"{fault}.Severity: [enum-unknown]",
        f"{fault}.FaultCod: [unknown-member] not a member of this CFX type (did you mean 'FaultCode'?)",
        f"{fault}.FaultCode: [missing-member]",
        f"{fault}.Lane: [json-type]",
        f"{fault}.OccurredAt: [timestamp-naive]",
    ]
    lines = out.splitlines()
    for start in expected:
        assert any(line.startswith(start) for line in lines), (start, lines)
    assert len(lines) == len(expected)
    assert f"{len(expected)} problems found (1 envelope in 1 file)" in err


def test_check_names_the_message_it_meant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A misspelled MessageName is unknown, with the nearest real one suggested."""
    path = tmp_path / "typo.json"
    path.write_bytes(
        GOOD.replace(b"CFX.Production.Processing.UnitsProcessed", b"CFX.Production.Processing.UnitProcessed")
    )
    status, out, _ = run(["cfx", "check", str(path)], capsys)
    assert status == 1
    assert "[message-unknown] 'CFX.Production.Processing.UnitProcessed' is not a CFX 2.1 message" in out
    assert "(did you mean 'CFX.Production.Processing.UnitsProcessed'?)" in out


def test_check_unknown_subclass_is_a_finding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A "$type" linegate does not know is reported; the relay keeps it (test_codec)."""
    path = tmp_path / "vendor.json"
    path.write_bytes(
        GOOD.replace(
            b'"CommonProcessData":{"$type":"CFX.Structures.SolderReflow.ReflowProcessData, CFX"',
            b'"CommonProcessData":{"$type":"Acme.OvenData, Acme"',
        )
    )
    status, out, _ = run(["cfx", "check", str(path)], capsys)
    assert status == 1
    assert f"{path}: $.MessageBody.CommonProcessData.$type: [type-unknown] 'Acme.OvenData, Acme'" in out


def test_check_a_directory_and_json_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A directory means every envelope file below it; --format json is one document for CI."""
    (tmp_path / "day1").mkdir()
    (tmp_path / "day1" / "good.json").write_bytes(GOOD)
    (tmp_path / "day1" / "notes.txt").write_text("not an envelope")
    (tmp_path / "bad.jsonl").write_bytes(GOOD + b"\n" + BAD + b"\n")
    status, out, err = run(["cfx", "check", "--format", "json", str(tmp_path)], capsys)
    assert status == 1
    assert err == ""
    report = orjson.loads(out)
    assert report["files"] == 2
    assert report["envelopes"] == 3
    assert report["unreadable"] == []
    assert {(p["where"], p["rule"]) for p in report["problems"]} == {
        (f"{tmp_path / 'bad.jsonl'}:2", "key-casing"),
        (f"{tmp_path / 'bad.jsonl'}:2", "double-format"),
    }
    empty = tmp_path / "empty"
    empty.mkdir()
    status, _, err = run(["cfx", "check", str(empty)], capsys)
    assert status == 2
    assert "no *.json" in err


def test_check_reads_json_lines_on_stdin_by_default(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No PATH reads standard input (JSON Lines, as a recorder pipes it)."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(GOOD + b"\n" + GOOD + b"\n")))
    status, out, _ = run(["cfx", "check"], capsys)
    assert (status, out) == (0, "2 envelopes in 1 file: no problems\n")


def test_fmt_indent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--indent prints the same envelope indented, every number and timestamp as it was."""
    path = tmp_path / "good.json"
    path.write_bytes(GOOD)
    status, out, _ = run(["cfx", "fmt", "--indent", "2", str(path)], capsys)
    assert status == 0
    assert out.startswith(
        '{\n  "MessageName": "CFX.Production.Processing.UnitsProcessed",\n  "Version": "2.1",'
    )
    assert '"ConveyorSpeed": 80.0,' in out
    assert decode_envelope(out.encode()) == decode_envelope(GOOD)
