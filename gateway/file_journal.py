"""The journal of processed result files, in the outbox's database.

Each row is one file a result-file machine processed: its name, size, mtime and SHA-256. The
row is written by the same SQLite transaction that stores the file's events
(``Outbox.put_group``), so after any crash, kill -9 included, a file either has both its events
and its row, or neither, and is read again. Looking a file up by content finds a copy under a
new name, or the same file dropped twice, as a duplicate (``adapters.files``).
"""

from __future__ import annotations

import sqlite3
import time

from adapters.files import JournalEntry
from adapters.observations import ResultFile
from gateway.outbox import Outbox, Statement


class OutboxJournal:
    """One machine's processed files, kept beside the outbox's events.

    Args:
        outbox: the gateway's outbox (opened before the journal is first used).
        machine_id: the machine id; each machine has its own journal.
    """

    def __init__(self, outbox: Outbox, machine_id: str) -> None:
        self.outbox = outbox
        self.machine_id = machine_id

    def _db(self) -> sqlite3.Connection:
        # The table is part of the outbox's schema (gateway.outbox_schema, version 2).
        return self.outbox.db

    def seen(self, name: str, size: int, mtime_ns: int) -> bool:
        """Whether this exact file was processed."""
        row = (
            self._db()
            .execute(
                "SELECT 1 FROM result_files WHERE machine = ? AND name = ? AND size = ? AND mtime_ns = ?",
                (self.machine_id, name, size, mtime_ns),
            )
            .fetchone()
        )
        return row is not None

    def find(self, sha256: str) -> JournalEntry | None:
        """The processed file with this content, if any."""
        row = (
            self._db()
            .execute(
                "SELECT name, size, mtime_ns, sha256, processed FROM result_files"
                " WHERE machine = ? AND sha256 = ?",
                (self.machine_id, sha256),
            )
            .fetchone()
        )
        return JournalEntry(*row) if row is not None else None

    def remember(self, file: ResultFile) -> None:
        """Nothing to do: the row was committed with the file's events (``statement``)."""

    def prune(self, before: float) -> int:
        """Forget this machine's files processed before ``before`` (POSIX seconds)."""
        cur = self._db().execute(
            "DELETE FROM result_files WHERE machine = ? AND processed < ?", (self.machine_id, before)
        )
        return cur.rowcount

    def statement(self, file: ResultFile, events: int) -> Statement:
        """The insert that records ``file``, for the transaction that stores its ``events``."""
        return (
            "INSERT INTO result_files (machine, sha256, name, size, mtime_ns, processed, events)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (self.machine_id, file.sha256, file.name, file.size, file.mtime_ns, time.time(), events),
        )
