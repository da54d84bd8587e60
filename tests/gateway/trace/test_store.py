"""The trace store: migrations, transactions and errors, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.trace import SqliteStore, Store, StoreError, StoreUnavailable, open_store
from gateway.trace.schema import LATEST
from gateway.trace.store import Ids, PostgresStore, Sql, Work


def _insert_board(barcode: str) -> Work[int]:
    rows = yield Sql(
        "INSERT INTO trace_board (barcode, first_us, last_us) VALUES (?, 1, 1) RETURNING id", (barcode,)
    )
    return int(rows[0][0])


def _count(table: str) -> Callable[[], Work[int]]:
    def work() -> Work[int]:
        rows = yield Sql(f"SELECT COUNT(*) FROM {table}")
        return int(rows[0][0])

    return work


async def test_opening_migrates_a_version_1_database_and_keeps_its_rows(
    make_store: Callable[[], Store],
) -> None:
    """A database left at schema 1 is migrated to the latest on open; its rows survive."""
    old = make_store()
    await old.open(target=1)
    try:
        assert await old.version() == 1
        await old.run(lambda: _insert_board("SN-1"))
        with pytest.raises(StoreError):  # version 2's tables do not exist yet
            await old.run(_count("trace_material"))
    finally:
        await old.close()
    async with make_store() as new:
        assert await new.version() == LATEST
        assert await new.run(_count("trace_board")) == 1
        assert await new.run(_count("trace_material")) == 0
    async with make_store() as again:  # reopening migrates nothing
        assert await again.run(_count("trace_schema")) == LATEST


async def test_a_newer_schema_is_refused(make_store: Callable[[], Store]) -> None:
    """A database written by a newer linegate is not opened (its schema is unknown here)."""
    async with make_store() as store:

        def bump() -> Work[None]:
            yield Sql("INSERT INTO trace_schema (version, applied_us) VALUES (?, 0)", (LATEST + 1,))

        await store.run(bump)
    with pytest.raises(StoreError, match="schema version"):
        async with make_store():
            pass


async def test_a_failed_unit_of_work_commits_nothing(store: Store) -> None:
    """A statement failing midway rolls back the statements before it."""

    def half() -> Work[None]:
        yield from _insert_board("SN-2")
        yield Sql("INSERT INTO no_such_table VALUES (1)")

    with pytest.raises(StoreError):
        await store.run(half)
    assert await store.run(_count("trace_board")) == 0


async def test_percent_and_placeholders_survive_both_dialects(store: Store) -> None:
    """A literal % in a statement and ? placeholders mean the same on both databases."""

    def work() -> Work[list[str]]:
        yield from _insert_board("50%-SN")
        rows = yield Sql("SELECT barcode FROM trace_board WHERE barcode LIKE '50%' AND id > ?", (0,))
        return [r[0] for r in rows]

    assert await store.run(work) == ["50%-SN"]


def test_open_store_wants_exactly_one_database() -> None:
    """--db and --dsn are exclusive, and one is required."""
    with pytest.raises(StoreError):
        open_store()
    with pytest.raises(StoreError):
        open_store(db="x.db", dsn="host=x")
    assert isinstance(open_store(db="x.db"), SqliteStore)
    assert isinstance(open_store(dsn="host=x"), PostgresStore)


async def test_an_unreachable_postgresql_is_unavailable() -> None:
    """Nothing listening: StoreUnavailable (retry later), not a crash."""
    store = PostgresStore("host=127.0.0.1 port=1 user=postgres dbname=test", connect_timeout=1)
    with pytest.raises(StoreUnavailable):
        await store.open()


async def test_an_unopenable_sqlite_file_is_unavailable(tmp_path: Path) -> None:
    """A path in a missing directory cannot be opened: StoreUnavailable, with the path."""
    with pytest.raises(StoreUnavailable, match="missing"):
        await SqliteStore(tmp_path / "missing" / "trace.db").open()


async def test_reserved_ids_are_new_distinct_and_kept_by_later_inserts(store: Store) -> None:
    """Two reservations in one transaction do not overlap; inserts without an id come after."""

    def work() -> Work[list[int]]:
        before = yield from _insert_board("SN-1")
        first = yield Ids("trace_board", 3)
        second = yield Ids("trace_board", 2)
        ids = [int(r[0]) for r in (*first, *second)]
        for i in ids:
            yield Sql("INSERT INTO trace_board (id, first_us, last_us) VALUES (?, 1, 1)", (i,))
        after = yield from _insert_board("SN-2")
        return [before, *ids, after]

    ids = await store.run(work)
    assert ids == sorted(ids) and len(set(ids)) == 7
    assert await store.run(_count("trace_board")) == 7


def test_a_reservation_names_a_table_and_a_count() -> None:
    """Anything but an identifier and a count of zero or more is refused before it reaches SQL."""
    with pytest.raises(ValueError, match="bad id reservation"):
        Ids("trace_board; DROP TABLE trace_board", 1)
    with pytest.raises(ValueError, match="bad id reservation"):
        Ids("trace_board", -1)
