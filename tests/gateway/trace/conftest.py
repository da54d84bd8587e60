"""Fixtures for the trace store tests: one store per test, on SQLite and on PostgreSQL.

PostgreSQL runs at 127.0.0.1:5432 with trust auth (``LINEGATE_TEST_PG`` overrides the DSN of the
database to use); each test gets its own schema, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.trace import SqliteStore, Store
from gateway.trace.store import PostgresStore
from protocols.cfx import Envelope, decode_envelope

PG_DSN = os.environ.get("LINEGATE_TEST_PG", "host=127.0.0.1 port=5432 user=postgres dbname=test")
T0 = datetime(2026, 3, 2, 8, 0, 0, tzinfo=UTC)


async def _pg_admin() -> Any:
    psycopg = pytest.importorskip("psycopg")
    try:
        return await psycopg.AsyncConnection.connect(PG_DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_DSN}: {exc}")


class PgSchema:
    """A schema of its own in the test database, and the DSN that selects it."""

    def __init__(self, admin: Any, name: str) -> None:
        self.admin = admin
        self.name = name
        self.dsn = f"{PG_DSN} options='-c search_path={name}'"


@pytest.fixture
async def pg_schema() -> AsyncIterator[PgSchema]:
    """A fresh PostgreSQL schema, dropped after the test."""
    admin = await _pg_admin()
    name = f"trace_{uuid.uuid4().hex[:12]}"
    await admin.execute(f"CREATE SCHEMA {name}")
    try:
        yield PgSchema(admin, name)
    finally:
        await admin.execute(f"DROP SCHEMA {name} CASCADE")
        await admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Callable[[], Store]]:
    """A factory of (unopened) stores on one database; each test runs on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        yield lambda: SqliteStore(tmp_path / "trace.db")
        return
    admin = await _pg_admin()
    name = f"trace_{uuid.uuid4().hex[:12]}"
    await admin.execute(f"CREATE SCHEMA {name}")
    try:
        yield lambda: PostgresStore(PgSchema(admin, name).dsn)
    finally:
        await admin.execute(f"DROP SCHEMA {name} CASCADE")
        await admin.close()


@pytest.fixture
async def store(make_store: Callable[[], Store]) -> AsyncIterator[Store]:
    """An open store, migrated to the latest schema."""
    async with make_store() as opened:
        yield opened


def at(seconds: float) -> datetime:
    """A test time: ``seconds`` after T0."""
    return T0 + timedelta(seconds=seconds)


def envelope(
    name: str, source: str, seconds: float, body: dict[str, Any], unique_id: str | None = None
) -> Envelope:
    """An envelope as a machine publishes it (wire JSON, decoded by the CFX codec)."""
    wire = {
        "MessageName": name,
        "Version": "2.1",
        "TimeStamp": at(seconds).isoformat().replace("+00:00", "Z"),
        "UniqueID": unique_id or str(uuid.uuid4()),
        "Source": source,
        "Target": None,
        "RequestID": None,
        "MessageBody": {"$type": f"{name}, CFX", **body},
    }
    return decode_envelope(orjson.dumps(wire))


def board_body(barcode: str, hermes: str | None = None, **extra: Any) -> dict[str, Any]:
    """The board-naming members of UnitsArrived, WorkStarted, WorkCompleted, UnitsDeparted."""
    return {
        "PrimaryIdentifier": barcode,
        "HermesIdentifier": hermes,
        "UnitCount": 1,
        "Units": [{"UnitIdentifier": barcode, "PositionNumber": 1, "Status": "Pass"}],
        **extra,
    }


def visit(
    machine: str,
    barcode: str,
    hermes: str | None,
    start: float,
    *,
    txn: str | None = None,
    recipe: str = "R-1",
) -> list[Envelope]:
    """Arrived, WorkStarted, WorkCompleted, Departed of one board at one machine, one second apart."""
    txn = txn or str(uuid.uuid4())
    return [
        envelope("CFX.Production.UnitsArrived", machine, start, board_body(barcode, hermes, Lane=1)),
        envelope(
            "CFX.Production.WorkStarted",
            machine,
            start + 1,
            board_body(barcode, hermes, TransactionID=txn, Lane=1, RecipeName=recipe),
        ),
        envelope(
            "CFX.Production.WorkCompleted",
            machine,
            start + 2,
            board_body(barcode, hermes, TransactionID=txn, Result="Completed"),
        ),
        envelope("CFX.Production.UnitsDeparted", machine, start + 3, board_body(barcode, hermes, Lane=1)),
    ]


def recorded_line() -> list[Envelope]:
    """Envelopes recorded from ``linegate demo`` (6 boards through four machines, one oven alarm)."""
    path = Path(__file__).parent / "data" / "demo_line.jsonl"
    return [decode_envelope(line) for line in path.read_bytes().splitlines() if line.strip()]
