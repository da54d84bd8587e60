"""Traceability: every board's genealogy, built from the CFX stream, in SQLite or PostgreSQL.

The store (``open_store``, ``SqliteStore``, ``PostgresStore``) runs units of work written once
for both databases; ``ingest`` turns envelopes into genealogy rows; ``queries`` answers what
went into a board, which boards a reel reached, and which boards were in a machine during a
window or a fault. ``linegate trace`` is the command line (docs/trace.md).
"""

from __future__ import annotations

from gateway.trace.ingest import IngestStats, TraceSettings, ingest
from gateway.trace.store import (
    PostgresStore,
    SqliteStore,
    Store,
    StoreError,
    StoreUnavailable,
    open_store,
)

__all__ = [
    "IngestStats",
    "PostgresStore",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "TraceSettings",
    "ingest",
    "open_store",
]
