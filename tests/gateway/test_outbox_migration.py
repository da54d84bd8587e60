"""An outbox written by an earlier linegate opens with this one and delivers every pending event.

The legacy DDL below is the outbox's schema as it was before versions existed (it is copied
here on purpose and must never change: it stands for files already on gateways' disks).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from gateway.file_journal import OutboxJournal
from gateway.outbox import Outbox, OutboxItem
from gateway.outbox_schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Migration,
    OutboxSchemaError,
    migrate,
    schema_version,
)

UNVERSIONED_DDL = """
CREATE TABLE IF NOT EXISTS events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    source       TEXT    NOT NULL,
    message_name TEXT    NOT NULL,
    unique_id    TEXT    NOT NULL,
    priority     INTEGER NOT NULL,
    created      REAL    NOT NULL,
    payload      BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS pending (
    sink     TEXT    NOT NULL,
    priority INTEGER NOT NULL,
    seq      INTEGER NOT NULL REFERENCES events(seq) ON DELETE CASCADE,
    PRIMARY KEY (sink, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pending_order ON pending (sink, priority, seq);
CREATE INDEX IF NOT EXISTS pending_seq ON pending (seq);
CREATE TABLE IF NOT EXISTS sinks (
    name TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""

UNVERSIONED_JOURNAL_DDL = """
CREATE TABLE IF NOT EXISTS result_files (
    machine   TEXT    NOT NULL,
    sha256    TEXT    NOT NULL,
    name      TEXT    NOT NULL,
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    processed REAL    NOT NULL,
    events    INTEGER NOT NULL,
    PRIMARY KEY (machine, sha256)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS result_files_stat ON result_files (machine, name, size, mtime_ns);
CREATE INDEX IF NOT EXISTS result_files_age ON result_files (machine, processed);
"""

SINKS = ("amqp", "mqtt")


def write_unversioned_outbox(path: Path, events: int, *, journal: bool) -> list[bytes]:
    """An outbox as the earlier gateway left it: WAL, some events pending for both sinks, some
    already delivered by one of them, a drop counter, optionally a result-file journal."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(UNVERSIONED_DDL + (UNVERSIONED_JOURNAL_DDL if journal else ""))
    db.execute("BEGIN")
    payloads = []
    for n in range(events):
        source = f"m{n % 3}"
        payload = f'{{"source": "{source}", "n": {n}}}'.encode()
        payloads.append(payload)
        cur = db.execute(
            "INSERT INTO events (source, message_name, unique_id, priority, created, payload)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (source, "CFX.Production.UnitsDeparted", f"u-{n}", n % 2, 1_700_000_000.0 + n, payload),
        )
        sinks = SINKS if n >= 10 else ("mqtt",)  # amqp had delivered the first ten
        db.executemany(
            "INSERT INTO pending (sink, priority, seq) VALUES (?, ?, ?)",
            [(sink, n % 2, cur.lastrowid) for sink in sinks],
        )
    db.executemany("INSERT INTO sinks (name) VALUES (?)", [(s,) for s in SINKS])
    db.execute("INSERT INTO counters (name, value) VALUES ('dropped', 7)")
    if journal:
        db.execute("INSERT INTO result_files VALUES ('aoi1', 'ab12', 'board-1.xml', 120, 5, 1700000000.0, 3)")
    db.execute("COMMIT")
    db.close()  # the WAL is checkpointed on close, as after a clean stop
    return payloads


def drain(outbox: Outbox, sink: str) -> list[bytes]:
    delivered: list[bytes] = []
    while batch := outbox.next_batch(sink, limit=64):
        delivered += [e.payload for e in batch]
        outbox.ack(sink, [e.seq for e in batch])
    return delivered


@pytest.mark.parametrize("journal", [False, True], ids=["plain", "with-result-file-journal"])
async def test_an_unversioned_outbox_is_migrated_and_delivers_every_pending_event(
    tmp_path: Path, journal: bool
) -> None:
    path = tmp_path / "outbox.sqlite"
    payloads = write_unversioned_outbox(path, 500, journal=journal)
    with capture_logs() as logs:
        async with Outbox(path, sinks=list(SINKS)) as outbox:
            assert schema_version(outbox.db) == SCHEMA_VERSION
            assert outbox.depth() == 500 and outbox.depth("amqp") == 490 and outbox.depth("mqtt") == 500
            assert outbox.dropped == 7
            # Put order, hence each source's order, as the earlier gateway stored them.
            assert drain(outbox, "amqp") == payloads[10:]
            assert drain(outbox, "mqtt") == payloads
            assert outbox.depth() == 0
            # The journal answers as before.
            assert OutboxJournal(outbox, "aoi1").seen("board-1.xml", 120, 5) is journal
    migrated = [e for e in logs if e["event"] == "outbox.migrated"]
    assert [e["version"] for e in migrated] == [m.version for m in MIGRATIONS]


async def test_sequence_numbers_continue_above_the_migrated_ones(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    write_unversioned_outbox(path, 20, journal=False)
    async with Outbox(path, sinks=list(SINKS)) as outbox:
        seq = await outbox.put(OutboxItem("m0", "CFX.X", "new", b"new"))
        assert seq == 21
        assert outbox.next_batch("amqp", limit=100)[-1].payload == b"new"


async def test_a_new_outbox_starts_at_the_current_version_and_reopens_without_migrating(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite"
    with capture_logs() as logs:
        async with Outbox(path, sinks=["amqp"]) as outbox:
            assert schema_version(outbox.db) == SCHEMA_VERSION
        async with Outbox(path, sinks=["amqp"]):
            pass
    assert not [e for e in logs if e["event"] == "outbox.migrated"]


async def test_an_outbox_from_a_newer_linegate_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    write_unversioned_outbox(path, 5, journal=False)
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    before = path.read_bytes()
    with capture_logs() as logs, pytest.raises(OutboxSchemaError) as caught:
        async with Outbox(path, sinks=list(SINKS)):
            pass
    message = str(caught.value)
    assert str(path) in message
    assert f"schema version {SCHEMA_VERSION + 1}" in message and "newer linegate" in message
    assert next(e for e in logs if e["event"] == "outbox.schema_too_new")["known"] == SCHEMA_VERSION
    assert path.read_bytes() == before


def test_a_failing_step_rolls_back_to_the_last_version_it_reached(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    write_unversioned_outbox(path, 5, journal=False)
    broken = (
        *MIGRATIONS,
        Migration(SCHEMA_VERSION + 1, "a new column", ("ALTER TABLE events ADD COLUMN note TEXT",)),
        Migration(SCHEMA_VERSION + 2, "a step that fails", ("CREATE TABLE x (a)", "SELECT * FROM nowhere")),
    )
    db = sqlite3.connect(path, isolation_level=None)
    with (
        capture_logs() as logs,
        pytest.raises(OutboxSchemaError, match=f"stays at version {SCHEMA_VERSION + 1}"),
    ):
        migrate(db, str(path), broken)
    assert schema_version(db) == SCHEMA_VERSION + 1
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "x" not in tables  # the failed step's first statement was rolled back with it
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 5
    assert [e["version"] for e in logs if e["event"] == "outbox.migration_failed"] == [SCHEMA_VERSION + 2]
    db.close()
