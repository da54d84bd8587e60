"""The outbox database's schema: a version number and the ordered steps that reach it.

The version lives in SQLite's ``PRAGMA user_version``. Opening an outbox applies every step
above the file's version, each in its own transaction with the new version number, so a crash
mid-upgrade leaves the file at a version it really has. A file written by a newer linegate
(a version above the last step here) is refused rather than guessed at: its pending events
stay where they are for the release that knows them.

Outboxes written before the version existed have ``user_version`` 0 and the tables of steps 1
and 2 already (step 2's table only if a result-file machine ran). Those two steps therefore
create only what is missing; later steps run on a known version and need not be idempotent.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import structlog

from protocols.errors import ConfigError

log = structlog.get_logger("linegate.outbox")


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the schema: the statements that take version ``version - 1`` to ``version``."""

    version: int
    what: str
    statements: tuple[str, ...]


class OutboxSchemaError(ConfigError):
    """The outbox file cannot be used by this linegate (written by a newer one, or not an outbox)."""


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "events, one pending row per sink, the sinks and the counters",
        (
            """CREATE TABLE IF NOT EXISTS events (
                seq          INTEGER PRIMARY KEY AUTOINCREMENT,
                source       TEXT    NOT NULL,
                message_name TEXT    NOT NULL,
                unique_id    TEXT    NOT NULL,
                priority     INTEGER NOT NULL,
                created      REAL    NOT NULL,
                payload      BLOB    NOT NULL
            )""",
            """CREATE TABLE IF NOT EXISTS pending (
                sink     TEXT    NOT NULL,
                priority INTEGER NOT NULL,
                seq      INTEGER NOT NULL REFERENCES events(seq) ON DELETE CASCADE,
                PRIMARY KEY (sink, seq)
            ) WITHOUT ROWID""",
            "CREATE INDEX IF NOT EXISTS pending_order ON pending (sink, priority, seq)",
            "CREATE INDEX IF NOT EXISTS pending_seq ON pending (seq)",
            "CREATE TABLE IF NOT EXISTS sinks (name TEXT PRIMARY KEY)",
            "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        ),
    ),
    Migration(
        2,
        "the journal of processed result files (gateway.file_journal)",
        (
            """CREATE TABLE IF NOT EXISTS result_files (
                machine   TEXT    NOT NULL,
                sha256    TEXT    NOT NULL,
                name      TEXT    NOT NULL,
                size      INTEGER NOT NULL,
                mtime_ns  INTEGER NOT NULL,
                processed REAL    NOT NULL,
                events    INTEGER NOT NULL,
                PRIMARY KEY (machine, sha256)
            ) WITHOUT ROWID""",
            "CREATE INDEX IF NOT EXISTS result_files_stat ON result_files (machine, name, size, mtime_ns)",
            "CREATE INDEX IF NOT EXISTS result_files_age ON result_files (machine, processed)",
        ),
    ),
)

#: The version an outbox has once this linegate opened it.
SCHEMA_VERSION = MIGRATIONS[-1].version


def schema_version(db: sqlite3.Connection) -> int:
    """The version recorded in the file (0: created before versions, or a new empty file)."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite3.Connection, path: str, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Bring the database to the last version of ``migrations``; returns the version it had.

    ``db`` must be in autocommit mode (``isolation_level=None``): each step is its own
    transaction.

    Raises:
        OutboxSchemaError: the file's version is newer than the last step known here.
    """
    known = migrations[-1].version
    found = schema_version(db)
    if found > known:
        log.error("outbox.schema_too_new", path=path, version=found, known=known)
        raise OutboxSchemaError(
            f"the outbox has schema version {found}, written by a newer linegate; this one knows "
            f"versions up to {known}. Run the newer linegate until the outbox is drained, or "
            "install it again; the file is left untouched",
            path=path,
        )
    # A brand-new file is created, not migrated: no log line per step for it.
    fresh = found == 0 and db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    for step in migrations:
        if step.version <= found:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in step.statements:
                db.execute(statement)
            # user_version is written in the same transaction: the step and its number commit together.
            db.execute(f"PRAGMA user_version = {int(step.version)}")
            db.execute("COMMIT")
        except BaseException as exc:
            db.execute("ROLLBACK")
            log.error("outbox.migration_failed", path=path, version=step.version, error=str(exc))
            raise OutboxSchemaError(
                f"upgrading the outbox to schema version {step.version} ({step.what}) failed: {exc}; "
                f"the file stays at version {schema_version(db)}",
                path=path,
            ) from exc
        if not fresh:
            log.info("outbox.migrated", path=path, version=step.version, what=step.what)
    return found
