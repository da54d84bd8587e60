"""The durable outbox: every envelope is committed to SQLite before anything acknowledges it.

Each event is stored once with one pending row per sink; a sink reads its next batch, publishes
it, and acknowledges it by sequence number; an event leaves the store when no sink still needs
it. A broker outage therefore only grows the backlog, and a crash (even SIGKILL) loses nothing
that ``put`` returned for.

Order: a sink gets the events in the order they were put, so each source's events in its own
order, after an outage as during normal running (docs/delivery.md says what a consumer can rely
on). The priority class does not reorder the drain: letting faults overtake the bulk backlog
reversed each source's order wherever a state change followed a board event. It only decides
what the overflow policy drops first.

Writes are group-committed: ``put`` queues its event and awaits the commit that includes it, so
many producers share one transaction (one fsync with ``durability="power"``).
"""

from __future__ import annotations

import asyncio
import enum
import sqlite3
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import structlog

from gateway.outbox_schema import migrate
from protocols.errors import LinegateError

log = structlog.get_logger("linegate.outbox")


class Priority(enum.IntEnum):
    """How much an event matters when the outbox overflows: BULK is dropped first."""

    HIGH = 0
    BULK = 1


class OverflowPolicy(enum.Enum):
    """What happens when the outbox holds ``max_events`` and another one arrives."""

    # Drop the oldest bulk event (then the oldest of any class), keep accepting: the line never
    # stops for lack of a broker, and the loss is counted and logged.
    DROP_OLDEST_BULK = "drop_oldest_bulk"
    # Refuse the new event with OutboxFull: the producer decides (backpressure).
    REFUSE_NEW = "refuse_new"


class OutboxFull(LinegateError):
    """The outbox is at its limit and its policy refuses new events."""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One encoded envelope and what the outbox needs to route and order it."""

    source: str
    message_name: str
    unique_id: str
    payload: bytes
    priority: Priority = Priority.BULK


#: One SQL statement and its parameters, executed inside the outbox's own transaction.
Statement = tuple[str, tuple[object, ...]]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as a sink reads it back."""

    seq: int
    source: str
    message_name: str
    unique_id: str
    payload: bytes
    priority: Priority
    created: float


_DURABILITY = {
    # WAL with synchronous=NORMAL: a commit survives the process dying (SIGKILL, crash); the last
    # transactions may be lost if the machine loses power.
    "process": "NORMAL",
    # synchronous=FULL: every commit is fsynced; survives power loss, costs one fsync per group commit.
    "power": "FULL",
}


class Outbox:
    """A SQLite (WAL) store-and-forward queue with one cursor per sink.

    Args:
        path: the database file (``":memory:"`` for tests that need no durability).
        sinks: the names of the sinks that must each acknowledge every event.
        max_events: bound on stored events; ``overflow`` says what happens beyond it.
        overflow: the policy at the bound.
        durability: ``"process"`` (survives a crash) or ``"power"`` (survives power loss).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        sinks: Sequence[str],
        max_events: int = 1_000_000,
        overflow: OverflowPolicy = OverflowPolicy.DROP_OLDEST_BULK,
        durability: str = "process",
    ) -> None:
        if not sinks:
            raise ValueError("an outbox needs at least one sink")
        if len(set(sinks)) != len(sinks):
            raise ValueError(f"sink names must be unique: {list(sinks)}")
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        if durability not in _DURABILITY:
            raise ValueError(f"durability must be one of {', '.join(_DURABILITY)}")
        self.path = str(path)
        self.sinks = tuple(sinks)
        self.max_events = max_events
        self.overflow = overflow
        self._durability = durability
        self._db: sqlite3.Connection | None = None
        self._queue: list[tuple[OutboxItem, asyncio.Future[int]]] = []
        # Statements that must commit with the queued events, all or nothing (a result file's
        # journal entry: gateway.file_journal), each with the future its group waits on.
        self._statements: list[tuple[Statement, asyncio.Future[list[int]]]] = []
        self._flush_scheduled = False
        self._arrived: dict[str, asyncio.Event] = {}
        self._empty = asyncio.Event()
        self._delivered = asyncio.Event()
        self._count = 0
        self._pending: dict[str, int] = {}  # per sink, kept in step with the table (hot path)
        self.dropped = 0

    # --- lifetime ------------------------------------------------------------------------

    def open(self) -> None:
        """Open (or create) the database; pending events of a previous run are kept."""
        if self._db is not None:
            raise RuntimeError("outbox is already open")
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={_DURABILITY[self._durability]}")
        db.execute("PRAGMA foreign_keys=ON")
        try:
            migrate(db, self.path)
        except BaseException:
            db.close()
            raise
        self._db = db
        row = db.execute("SELECT value FROM counters WHERE name='dropped'").fetchone()
        self.dropped = row[0] if row else 0
        self._reconcile_sinks()
        self._arrived = {sink: asyncio.Event() for sink in self.sinks}
        log.info("outbox.opened", path=self.path, backlog=self._count, sinks=list(self.sinks))

    def _reconcile_sinks(self) -> None:
        # The configured sinks may differ from the previous run's: a new sink gets the whole
        # backlog (it has delivered none of it); a removed sink's cursor is dropped, and events
        # that nobody needs any more leave the store.
        db = self.db
        known = {row[0] for row in db.execute("SELECT name FROM sinks")}
        db.execute("BEGIN IMMEDIATE")
        try:
            for sink in set(self.sinks) - known:
                db.execute(
                    "INSERT INTO pending (sink, priority, seq) SELECT ?, priority, seq FROM events", (sink,)
                )
                db.execute("INSERT INTO sinks (name) VALUES (?)", (sink,))
            for sink in known - set(self.sinks):
                db.execute("DELETE FROM pending WHERE sink = ?", (sink,))
                db.execute("DELETE FROM sinks WHERE name = ?", (sink,))
            db.execute(
                "DELETE FROM events WHERE NOT EXISTS (SELECT 1 FROM pending p WHERE p.seq = events.seq)"
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._recount()
        if set(self.sinks) != known and known:
            log.info(
                "outbox.sinks_changed",
                added=sorted(set(self.sinks) - known),
                removed=sorted(known - set(self.sinks)),
            )

    def _recount(self) -> None:
        db = self.db
        self._count = db.execute("SELECT count(*) FROM events").fetchone()[0]
        counts = dict(db.execute("SELECT sink, count(*) FROM pending GROUP BY sink").fetchall())
        self._pending = {sink: counts.get(sink, 0) for sink in self.sinks}

    def close(self) -> None:
        """Close the database; events still queued for commit fail (their put raises)."""
        for fut in [f for _, f in self._queue] + [g for _, g in self._statements]:
            if not fut.done():
                fut.set_exception(RuntimeError("outbox closed before the event was committed"))
        self._queue.clear()
        self._statements.clear()
        if self._db is not None:
            self._db.close()
            self._db = None

    async def __aenter__(self) -> Self:
        self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._queue or self._statements:
            self._commit_queued()
        self.close()

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("outbox is not open")
        return self._db

    # --- writing -------------------------------------------------------------------------

    async def put(self, item: OutboxItem) -> int:
        """Store one event; returns its sequence number once it is committed.

        Raises:
            OutboxFull: the outbox is full and the policy is ``REFUSE_NEW``.
        """
        return await self.submit(item)

    def submit(self, item: OutboxItem) -> asyncio.Future[int]:
        """Queue one event for the next group commit; the future gives its sequence number once
        committed (or the error). Producers that acknowledge nothing to anyone need not wait."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        self._queue.append((item, fut))
        self._schedule(loop)
        return fut

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            # Commit at the next loop turn, so every put() made in this turn shares the transaction.
            loop.call_soon(self._commit_queued)

    async def put_group(self, items: Sequence[OutboxItem], statements: Sequence[Statement]) -> list[int]:
        """Store ``items`` and execute ``statements`` in one transaction: all of them, or none.

        The statements record what the events came from (a result file's journal entry), so
        that a crash either keeps both or neither. If any item is refused (``REFUSE_NEW`` at the
        bound), the whole transaction is rolled back, and so are the other events committed with
        it in that turn; each producer learns why from its future.

        Raises:
            OutboxFull: the outbox refused one of the items.
        """
        loop = asyncio.get_running_loop()
        group: asyncio.Future[list[int]] = loop.create_future()
        futures = [self.submit(item) for item in items]
        for statement in statements:
            self._statements.append((statement, group))
        if statements:
            self._schedule(loop)
        else:
            group.set_result([])
        done = await asyncio.gather(asyncio.gather(*futures), group)  # gather retrieves every error
        return list(done[0])

    async def flush(self) -> None:
        """Commit what is queued now and wait for it (errors stay with each event's future)."""
        pending = [fut for _, fut in self._queue]
        self._commit_queued()
        await asyncio.gather(*pending, return_exceptions=True)

    async def put_many(self, items: Iterable[OutboxItem]) -> list[int]:
        """Store several events in one transaction; returns their sequence numbers."""
        return list(await asyncio.gather(*(self.put(item) for item in items)))

    def _commit_queued(self) -> None:
        self._flush_scheduled = False
        batch, self._queue = self._queue, []
        statements, self._statements = self._statements, []
        if not batch and not statements:
            return
        try:
            results = self._insert([item for item, _ in batch], [s for s, _ in statements])
        except Exception as exc:  # the whole transaction failed: every waiting put learns why
            log.error("outbox.commit_failed", error=str(exc), events=len(batch))
            for fut in [f for _, f in batch] + [g for _, g in statements]:
                if not fut.done():
                    fut.set_exception(exc)
            return
        for _, group in statements:
            if not group.done():
                group.set_result([])
        for (_, fut), result in zip(batch, results, strict=True):
            if fut.done():
                continue
            if isinstance(result, BaseException):
                fut.set_exception(result)
            else:
                fut.set_result(result)
        for event in self._arrived.values():
            event.set()
        if self._count:
            self._empty.clear()

    def _insert(
        self, items: list[OutboxItem], statements: Sequence[Statement] = ()
    ) -> list[int | BaseException]:
        db = self.db
        results: list[int | BaseException] = []
        now = time.time()
        db.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in statements:
                db.execute(sql, params)
            if self._count + len(items) <= self.max_events:
                results = self._insert_all(items, now) if items else []
                db.execute("COMMIT")
                return results
            for item in items:
                if self._count >= self.max_events and not self._make_room():
                    results.append(
                        OutboxFull(f"outbox holds {self._count} events (max_events={self.max_events})")
                    )
                    continue
                cur = db.execute(
                    "INSERT INTO events (source, message_name, unique_id, priority, created, payload)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (item.source, item.message_name, item.unique_id, int(item.priority), now, item.payload),
                )
                seq = cur.lastrowid
                assert seq is not None
                db.executemany(
                    "INSERT INTO pending (sink, priority, seq) VALUES (?, ?, ?)",
                    [(sink, int(item.priority), seq) for sink in self.sinks],
                )
                self._count += 1
                for sink in self.sinks:
                    self._pending[sink] += 1
                results.append(seq)
            refused = next((r for r in results if isinstance(r, OutboxFull)), None)
            if statements and refused is not None:
                raise refused  # a group is all or nothing: roll back (and every put learns it)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self._recount()
            raise
        return results

    def _insert_all(self, items: list[OutboxItem], now: float) -> list[int | BaseException]:
        # Nothing has to make room: two executemany calls instead of two statements per event.
        # Inside BEGIN IMMEDIATE this connection is the only writer, so the next sequence numbers
        # follow the AUTOINCREMENT counter (never reusing a number, as the column's own
        # assignment would not) and the largest stored one.
        db = self.db
        (last,) = db.execute(
            "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),"
            " coalesce((SELECT max(seq) FROM events), 0))"
        ).fetchone()
        first = last + 1
        seqs = range(first, first + len(items))
        db.executemany(
            "INSERT INTO events (seq, source, message_name, unique_id, priority, created, payload)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (seq, i.source, i.message_name, i.unique_id, int(i.priority), now, i.payload)
                for seq, i in zip(seqs, items, strict=True)
            ],
        )
        db.executemany(
            "INSERT INTO pending (sink, priority, seq) VALUES (?, ?, ?)",
            [(sink, int(i.priority), seq) for seq, i in zip(seqs, items, strict=True) for sink in self.sinks],
        )
        self._count += len(items)
        for sink in self.sinks:
            self._pending[sink] += len(items)
        return list(seqs)

    def _make_room(self) -> bool:
        if self.overflow is OverflowPolicy.REFUSE_NEW:
            return False
        db = self.db
        row = db.execute(
            "SELECT seq, source, message_name FROM events ORDER BY priority DESC, seq LIMIT 1"
        ).fetchone()
        if row is None:
            return False
        for (sink,) in db.execute("SELECT sink FROM pending WHERE seq = ?", (row[0],)).fetchall():
            self._pending[sink] -= 1
        db.execute("DELETE FROM events WHERE seq = ?", (row[0],))
        self._count -= 1
        self.dropped += 1
        db.execute(
            "INSERT INTO counters (name, value) VALUES ('dropped', ?)"
            " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            (self.dropped,),
        )
        log.warning(
            "outbox.dropped",
            seq=row[0],
            source=row[1],
            message_name=row[2],
            dropped_total=self.dropped,
            max_events=self.max_events,
            policy=self.overflow.value,
        )
        return True

    # --- draining ------------------------------------------------------------------------

    def next_batch(self, sink: str, limit: int = 256, *, skip: Collection[int] = ()) -> list[StoredEvent]:
        """The next events ``sink`` must publish, in put order (each source's order kept).

        The same events are returned again until acknowledged, so a sink that failed to publish
        simply asks again. ``skip`` leaves out events already in flight (a pipelined sink).
        """
        self._check_sink(sink)
        db = self.db
        # The order comes from the pending index alone; only the chosen events' rows (with their
        # payloads) are read, so the events in flight that ``skip`` leaves out cost no copy.
        # The primary key (sink, seq) is the index for this order.
        order = db.execute(
            "SELECT seq FROM pending WHERE sink = ? ORDER BY seq LIMIT ?", (sink, limit + len(skip))
        ).fetchall()
        seqs = [seq for (seq,) in order if seq not in skip][:limit]
        if not seqs:
            return []
        rows = {
            r[0]: r
            for r in db.execute(
                "SELECT seq, source, message_name, unique_id, payload, priority, created FROM events"
                f" WHERE seq IN ({','.join('?' * len(seqs))})",
                seqs,
            )
        }
        priorities = {int(p): p for p in Priority}
        return [
            StoredEvent(r[0], r[1], r[2], r[3], r[4], priorities[r[5]], r[6])
            for r in map(rows.__getitem__, seqs)
        ]

    def ack(self, sink: str, seqs: Iterable[int]) -> None:
        """Record that ``sink`` has delivered these events (confirmed by its broker)."""
        self._check_sink(sink)
        seq_list = list(seqs)
        if not seq_list:
            return
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            deleted = db.executemany(
                "DELETE FROM pending WHERE sink = ? AND seq = ?", [(sink, s) for s in seq_list]
            )
            self._pending[sink] -= deleted.rowcount
            # An event every sink has delivered leaves the store.
            placeholders = ",".join("?" * len(seq_list))
            cur = db.execute(
                f"DELETE FROM events WHERE seq IN ({placeholders})"
                " AND NOT EXISTS (SELECT 1 FROM pending p WHERE p.seq = events.seq)",
                seq_list,
            )
            self._count -= cur.rowcount
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self._recount()
            raise
        self._delivered.set()
        if self._count == 0:
            self._empty.set()

    async def wait_for_events(self, sink: str, *, beyond: int = 0) -> None:
        """Return when ``sink`` has more than ``beyond`` events to send (at once if it already has).

        A pipelined sink passes the number it has in flight, to wait for new ones only.
        """
        self._check_sink(sink)
        event = self._arrived[sink]
        while self.depth(sink) <= beyond:
            event.clear()
            await event.wait()

    async def wait_delivered(self, sink: str) -> None:
        """Return once ``sink`` has delivered everything stored so far (at once if it has)."""
        self._check_sink(sink)
        while self._pending[sink] or self._queue:  # queued events are not delivered yet either
            self._delivered.clear()
            await self._delivered.wait()

    async def wait_empty(self) -> None:
        """Return once every sink has delivered everything (at once if the outbox is empty)."""
        while self._count or self._queue:  # queued events are not delivered yet either
            self._empty.clear()
            await self._empty.wait()

    # --- observing -----------------------------------------------------------------------

    def depth(self, sink: str | None = None) -> int:
        """Events stored (or, for one sink, events that sink has still to deliver)."""
        if sink is None:
            return self._count
        self._check_sink(sink)
        return self._pending[sink]

    def oldest_age(self, now: float | None = None) -> float:
        """Seconds since the oldest stored event was put (0 when empty)."""
        row = self.db.execute("SELECT min(created) FROM events").fetchone()
        if row[0] is None:
            return 0.0
        return max(0.0, (time.time() if now is None else now) - float(row[0]))

    def _check_sink(self, sink: str) -> None:
        if sink not in self._arrived:
            raise KeyError(f"unknown sink {sink!r}; this outbox serves {', '.join(self.sinks)}")
