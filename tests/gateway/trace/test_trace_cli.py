"""``linegate trace``: load a recording, then ask it questions as table, JSON and CSV."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from gateway.cli import main
from tests.gateway.trace.conftest import PG_DSN

RECORDING = Path(__file__).parent / "data" / "demo_line.jsonl"
REEL = "REEL-RES-10K-0402-1-01-0001"
FAULT = "3f469646-fd0f-43dc-b753-543d821714a2"


@pytest.fixture
def db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """An SQLite trace file loaded with the recorded demo line."""
    path = tmp_path / "trace.db"
    assert main(["trace", "ingest", "--db", str(path), str(RECORDING)]) == 0
    assert "0 duplicates" in capsys.readouterr().out
    return path


def test_board_as_table_json_and_csv(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The genealogy of PCB000002 in all three forms."""
    assert main(["trace", "board", "PCB000002", "--db", str(db)]) == 0
    text = capsys.readouterr().out
    assert "barcode PCB000002" in text and "linegate.reflow.1" in text and "OV-O2-HIGH" in text
    assert main(["trace", "board", "PCB000002", "--db", str(db), "--json"]) == 0
    answer = orjson.loads(capsys.readouterr().out)
    assert answer["matches"] == 1 and len(answer["boards"][0]["passes"]) == 4
    assert main(["trace", "board", "PCB000002", "--db", str(db), "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["machine"] for r in rows][:2] == ["linegate.placement.1", "linegate.reflow.1"]
    assert {r["barcode"] for r in rows} == {"PCB000002"}


def test_an_id_naming_several_boards_shows_them_all(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same recording with other Hermes BoardIds (a second run): the barcode names two boards."""
    second = tmp_path / "second.jsonl"
    lines = RECORDING.read_bytes().decode().splitlines()
    hermes = {orjson.loads(line)["MessageBody"].get("HermesIdentifier") for line in lines} - {None}
    text = "\n".join(lines)
    for old in hermes:
        text = text.replace(old, str(uuid.uuid4()))
    for line in lines:  # new UniqueIDs too, or the second run would be all duplicates
        unique = orjson.loads(line)["UniqueID"]
        text = text.replace(unique, str(uuid.uuid4()))
    second.write_text(text)
    assert main(["trace", "ingest", "--db", str(db), str(second)]) == 0
    capsys.readouterr()
    assert main(["trace", "board", "PCB000001", "--db", str(db)]) == 0
    out, err = capsys.readouterr()
    assert "'PCB000001' names 2 boards (oldest first)" in out
    assert "trace.query.ambiguous" in err  # the warning goes to stderr, the answer to stdout
    assert main(["trace", "board", "PCB000001", "--db", str(db), "--json"]) == 0
    answer = orjson.loads(capsys.readouterr().out)
    assert answer["matches"] == 2 and answer["boards"][0]["board"] < answer["boards"][1]["board"]


def test_material_window_and_fault(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The reel's six boards; the oven during the alarm, by fault and by the same window."""
    assert main(["trace", "material", REEL, "--db", str(db), "--json"]) == 0
    assert len(orjson.loads(capsys.readouterr().out)["boards"]) == 6
    assert main(["trace", "fault", FAULT, "--db", str(db), "--json"]) == 0
    answer = orjson.loads(capsys.readouterr().out)
    by_fault = [b["barcode"] for b in answer["boards"]]
    assert by_fault and answer["fault"]["code"] == "OV-O2-HIGH"
    window = ["--from", answer["fault"]["occurred"], "--to", answer["fault"]["cleared"]]
    assert main(["trace", "window", "--machine", "linegate.reflow.1", *window, "--db", str(db), "--csv"]) == 0
    assert [r["barcode"] for r in csv.DictReader(io.StringIO(capsys.readouterr().out))] == by_fault


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["board", "NOPE"], 1, "no board known by 'NOPE'"),
        (["material", "REEL-NONE"], 1, "no board got parts"),
        (["fault", "0c0ffee0-0000-0000-0000-000000000000"], 1, "no fault occurrence"),
        (["window", "--machine", "linegate.reflow.1", "--from", "yesterday", "--to", "now"], 2, "ISO 8601"),
        (
            ["window", "--machine", "oven", "--from", "2026-01-01", "--to", "2026-01-02"],
            1,
            "known: linegate.",
        ),
    ],
)
def test_bad_questions_get_a_clear_answer(
    db: Path, capsys: pytest.CaptureFixture[str], argv: list[str], status: int, message: str
) -> None:
    """Nothing matched, or a malformed question: a message on stderr and a non-zero status."""
    assert main(["trace", *argv, "--db", str(db)]) == status
    assert message in capsys.readouterr().err


def test_a_missing_database_file_is_not_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Querying a file that does not exist says so, and leaves no empty database behind."""
    path = tmp_path / "typo.db"
    assert main(["trace", "board", "X", "--db", str(path)]) == 1
    assert "no trace database" in capsys.readouterr().err and not path.exists()


def test_db_and_dsn_are_exclusive(tmp_path: Path) -> None:
    """--db and --dsn together are refused by the parser."""
    with pytest.raises(SystemExit) as exited:
        main(["trace", "board", "X", "--db", "a.db", "--dsn", "host=x"])
    assert exited.value.code == 2


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    """A DSN selecting a fresh PostgreSQL schema, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    schema = f"trace_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    with admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            yield f"{PG_DSN} options='-c search_path={schema}'"
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def test_the_same_questions_on_postgresql(pg_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--dsn: ingest twice (all duplicates the second time), then the reel query."""
    assert main(["trace", "ingest", "--dsn", pg_dsn, str(RECORDING)]) == 0
    assert main(["trace", "ingest", "--dsn", pg_dsn, str(RECORDING)]) == 0
    assert "0 envelopes stored" in capsys.readouterr().out.splitlines()[-1]
    assert main(["trace", "material", REEL, "--dsn", pg_dsn, "--csv"]) == 0
    assert len(list(csv.DictReader(io.StringIO(capsys.readouterr().out)))) == 6


def test_ingest_names_the_line_that_is_not_cfx(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bad line in the file: nothing is stored, and the message names the file and line."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text(RECORDING.read_text().splitlines()[0] + "\n{not json\n")
    assert main(["trace", "ingest", "--db", str(tmp_path / "t.db"), str(bad)]) == 1
    assert f"{bad}:2:" in capsys.readouterr().err


def test_a_fault_seen_only_clearing_is_named_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """FaultCleared without its FaultOccurred: the fault is known, its window is not."""
    lines = [line for line in RECORDING.read_text().splitlines() if "FaultOccurred" not in line]
    partial = tmp_path / "partial.jsonl"
    partial.write_text("\n".join(lines))
    db = tmp_path / "t.db"
    assert main(["trace", "ingest", "--db", str(db), str(partial)]) == 0
    assert main(["trace", "fault", FAULT, "--db", str(db)]) == 1
    assert "FaultOccurred was never seen" in capsys.readouterr().err


def test_window_times_without_offset_are_utc(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--from/--to without an offset mean UTC: the same answer as with Z."""
    window = ["--machine", "linegate.reflow.1", "--db", str(db), "--json"]
    assert (
        main(["trace", "window", "--from", "2026-12-06T07:36:00", "--to", "2026-12-06T07:37:00", *window])
        == 0
    )
    naive = orjson.loads(capsys.readouterr().out)["boards"]
    assert (
        main(
            [
                "trace",
                "window",
                "--from",
                "2026-12-06T08:36:00+01:00",
                "--to",
                "2026-12-06T07:37:00Z",
                *window,
            ]
        )
        == 0
    )
    assert naive and orjson.loads(capsys.readouterr().out)["boards"] == naive


def test_serve_refuses_a_batch_below_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """trace serve --batch 0 is a usage error, before any connection is made."""
    argv = ["trace", "serve", "--db", str(tmp_path / "t.db"), "--amqp", "amqp://127.0.0.1:1/", "--batch", "0"]
    assert main(argv) == 2
    assert "--batch must be at least 1" in capsys.readouterr().err
