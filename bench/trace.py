"""Trace store: ingest rate, and board and reel query latency over a large synthetic set.

Two figures per database (SQLite file, PostgreSQL schema):

- ingest: envelopes/s through ``ingest`` in batches (the consumer's default 200), for a synthetic
  line of four machines, in time order (about eight boards in flight): per board UnitsArrived,
  WorkStarted, WorkCompleted, UnitsDeparted at each machine, MaterialsInstalled (4 feeders) at
  placement, UnitsProcessed with 8 reflow zones at the oven: 18 envelopes per board. Envelopes
  are decoded before the clock starts (decode has its own bench, cfx_codec.py).
- queries: ``--boards`` boards (default 1,000,000) written straight into the tables with one
  recursive SQL statement per table (4 passes, 2 identifiers, 4 materials per board, a reel change
  every 1,000 boards, a fault every 1,000 boards per machine), then p50/p99 of the genealogy of a
  random barcode (find + genealogy, two units of work, as the CLI does) and of a random reel's
  boards (1,000 each).

- interlocks: ``--decisions`` interlock decisions (``TraceService.decide_now``: the board's
  history from the store, three active holds, a route and a time-limit rule) for random boards of
  the query set, started open-loop at ``--rate`` per second (default 100 boards/s), each timed
  from its start to its answer (queueing behind the others included).

Targets (issue 17): ingest at least 5,000 envelopes/s; p99 at most 50 ms at 1 million boards;
interlock decision p99 at most 20 ms at 100 boards/s.

Last full runs (``python bench/trace.py``, defaults, 2026-12-06, set-based ingest: about 18
statements and 7 round trips per batch of 200; the 2-core machine shared with other work, load
average 3-6), two runs 10 minutes apart, SQLite / PostgreSQL 15:

- ingest: 17,126 and 8,497 / 7,833 and 11,643 envelopes/s (18,279 and 18,812 / 16,625 and
  19,421 per CPU second of this process); before the set-based ingest, in A/B runs minutes apart
  on this machine, 5,900-9,900 / 1,100-1,450 (13,500-19,400 / 3,300-3,600 per CPU second);
- populate 1,000,000 boards: 36 and 59 s / 119 and 175 s;
- board query p50 / p99: 0.75 / 7.26 and 0.77 / 2.15 ms; 4.00 / 9.47 and 3.93 / 19.65 ms;
- reel query p50 / p99: 9.16 / 35.78 and 5.53 / 9.10 ms; 30.90 / 99.29 and 42.44 / 205.40 ms
  (PostgreSQL misses the target);
- interlock p50 / p99: 0.58 / 3.09 and 0.45 / 4.91 ms; 2.59 / 110.03 and 2.59 / 46.44 ms
  (PostgreSQL misses the target).

Run: ``python bench/trace.py [--boards N] [--ingest-boards N] [--only sqlite|postgresql]
[--dsn DSN] [--queries N]``
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from gateway.logconfig import configure_logging
from gateway.trace import SqliteStore, Store, ingest
from gateway.trace import queries as q
from gateway.trace.store import PostgresStore, Sql, Work
from protocols.cfx import Envelope, decode_envelope

MACHINES = ["Bench.Placer.1", "Bench.Oven.1", "Bench.Solder.1", "Bench.Coater.1"]
T0 = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"


def _envelope(name: str, source: str, when: datetime, body: dict[str, Any]) -> Envelope:
    return decode_envelope(
        orjson.dumps(
            {
                "MessageName": name,
                "Version": "2.1",
                "TimeStamp": when.isoformat().replace("+00:00", "Z"),
                "UniqueID": str(uuid.uuid4()),
                "Source": source,
                "Target": None,
                "RequestID": None,
                "MessageBody": {"$type": f"{name}, CFX", **body},
            }
        )
    )


def _materials(txn: str, barcode: str, n: int) -> dict[str, Any]:
    def one(f: int) -> dict[str, Any]:
        return {
            "UnitIdentifier": barcode,
            "QuantityInstalled": 10.0,
            "Material": {"UniqueIdentifier": f"REEL-{f}-{n // 1000}", "InternalPartNumber": f"P-{f}"},
            "CarrierLocation": {"LocationIdentifier": f"1-0{f}"},
        }

    return {"TransactionId": txn, "InstalledMaterials": [one(f) for f in range(4)]}


def _reflow(txn: str) -> dict[str, Any]:
    zones = [
        {
            "Zone": {"StageSequence": z, "StageName": f"Zone{z}"},
            "Readings": [{"ReadingType": "Temperature", "ReadingValue": 150.0 + 12 * z}],
        }
        for z in range(1, 9)
    ]
    data = {
        "$type": "CFX.Structures.SolderReflow.ReflowProcessData, CFX",
        "ConveyorSpeed": 80.0,
        "ZoneData": zones,
    }
    return {"TransactionId": txn, "OverallResult": "Succeeded", "CommonProcessData": data}


def synthetic_line(boards: int) -> list[Envelope]:
    """18 envelopes per board through four machines (see the module docstring)."""
    out: list[Envelope] = []
    production = "CFX.Production."
    for n in range(boards):
        barcode, hermes = f"SN{n:08d}", str(uuid.uuid4())
        units = [{"UnitIdentifier": barcode, "PositionNumber": 1}]
        ident = {"PrimaryIdentifier": barcode, "HermesIdentifier": hermes, "UnitCount": 1, "Units": units}
        for m, machine in enumerate(MACHINES):
            t = T0 + timedelta(seconds=n * 30 + m * 60)
            txn = str(uuid.uuid4())

            def add(
                name: str, seconds: int, body: dict[str, Any], t: datetime = t, machine: str = machine
            ) -> None:
                out.append(_envelope(production + name, machine, t + timedelta(seconds=seconds), body))

            add("UnitsArrived", 0, {**ident, "Lane": 1})
            add("WorkStarted", 1, {**ident, "TransactionID": txn, "RecipeName": "R-1"})
            if m == 0:
                add("Assembly.MaterialsInstalled", 5, _materials(txn, barcode, n))
            if m == 1:
                add("Processing.UnitsProcessed", 9, _reflow(txn))
            add("WorkCompleted", 10, {**ident, "TransactionID": txn, "Result": "Completed"})
            add("UnitsDeparted", 11, ident)
    # As a line sends them: in time order, several boards in flight at once.
    out.sort(key=lambda e: e.time_stamp)
    return out


async def bench_ingest(store: Store, envelopes: list[Envelope], batch: int) -> tuple[float, float]:
    """Envelopes per second through ingest, ``batch`` per transaction: per wall-clock second, and
    per CPU second of this process (the figure a loaded machine disturbs less; PostgreSQL's own
    CPU is not in it)."""
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(envelopes), batch):
        await store.run(partial(ingest, envelopes[i : i + batch]))
    wall, used = time.perf_counter() - start, time.process_time() - cpu
    return len(envelopes) / wall, len(envelopes) / used


_POSTGRES = False  # set by run(): PostgreSQL's generate_series is far faster than recursion


def _series(n: int) -> str:
    # The row source i = 0 .. n-1: generate_series on PostgreSQL, a recursive CTE on SQLite.
    if _POSTGRES:
        return f"WITH s(i) AS (SELECT CAST(g AS BIGINT) FROM generate_series(0, {n - 1}) AS g)"
    return (
        f"WITH RECURSIVE s(i) AS (SELECT CAST(0 AS BIGINT) UNION ALL SELECT i + 1 FROM s WHERE i < {n - 1})"
    )


def populate(boards: int, base: int) -> Work[None]:
    """``boards`` synthetic boards with ids from ``base + 1`` (see the module docstring)."""
    t0 = 1_767_225_600_000_000  # 2026-01-01 in µs
    off = base - 10_000_000  # boards before this chunk: its times follow theirs
    yield Sql(
        f"{_series(boards)} INSERT INTO trace_board (id, barcode, hermes_id, first_us, last_us)"
        f" SELECT {base} + i + 1, 'BN' || CAST({base} + i AS TEXT), 'H-' || CAST({base} + i AS TEXT),"
        f" {t0} + ({off} + i) * 30000000, {t0} + ({off} + i) * 30000000 + 240000000 FROM s"
    )
    for kind, prefix in (("barcode", "BN"), ("hermes", "H-")):
        yield Sql(
            f"{_series(boards)} INSERT INTO trace_ident (value, kind, board)"
            f" SELECT '{prefix}' || CAST({base} + i AS TEXT), '{kind}', {base} + i + 1 FROM s"
        )
    for m, machine in enumerate(MACHINES):
        at = t0 + m * 60_000_000
        yield Sql(
            f"{_series(boards)} INSERT INTO trace_pass (board, machine, transaction_id, recipe, arrived_us,"
            f" started_us, completed_us, departed_us)"
            f" SELECT {base} + i + 1, '{machine}', 'T-{m}-' || CAST({base} + i AS TEXT), 'R-1',"
            f" {at} + ({off} + i) * 30000000, {at} + ({off} + i) * 30000000 + 1000000,"
            f" {at} + ({off} + i) * 30000000 + 10000000, {at} + ({off} + i) * 30000000 + 11000000 FROM s"
        )
        yield Sql(
            f"{_series(boards // 1000 + 1)} INSERT INTO trace_fault"
            f" (occurrence_id, machine, code, occurred_us, cleared_us)"
            f" SELECT '{machine}-' || CAST({base} + i AS TEXT), '{machine}', 'F-1',"
            f" {t0} + ({off} + i * 1000 + 500) * 30000000, {t0} + ({off} + i * 1000 + 502) * 30000000 FROM s"
        )
    for f in range(4):
        yield Sql(
            f"{_series(boards)} INSERT INTO trace_material"
            f" (unique_id, transaction_id, board, machine, time_us, reel, part_number, location, quantity)"
            f" SELECT 'U', 'T-0-' || CAST({base} + i AS TEXT), {base} + i + 1, '{MACHINES[0]}',"
            f" {t0} + ({off} + i) * 30000000, 'REEL-{f}-' || CAST(({base} + i) / 1000 AS TEXT),"
            f" 'P-{f}', '1-0{f}', 10 FROM s"
        )


def _boards() -> Work[int]:
    rows = yield Sql("SELECT COUNT(*) FROM trace_board")
    return int(rows[0][0])


async def grow(store: Store, boards: int, chunk: int) -> float:
    """Add ``boards`` synthetic boards (barcodes BN10000000 up); returns the seconds it took."""
    start = time.perf_counter()
    have = 0
    while have < boards:
        n = min(chunk, boards - have)
        await store.run(partial(populate, n, 10_000_000 + have))
        have += n
        print(f"    {have:,} boards", end="\r", flush=True)
    if isinstance(store, PostgresStore):
        await store.run(_analyze)
    print()
    return time.perf_counter() - start


def _analyze() -> Work[None]:
    yield Sql("ANALYZE")


async def latency(make: Callable[[], Awaitable[None]], count: int) -> tuple[float, float]:
    """p50 and p99 in ms of ``count`` runs of ``make()``."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        await make()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


async def run(args: argparse.Namespace, name: str, store: Store) -> None:
    global _POSTGRES
    _POSTGRES = isinstance(store, PostgresStore)
    rng = random.Random(1)
    async with store:
        line = synthetic_line(args.ingest_boards)
        rate, per_cpu = await bench_ingest(store, line, args.batch)
        print(
            f"{name:<11} ingest   {len(line):,} envelopes in batches of {args.batch}: {rate:,.0f} envelopes/s"
            f" ({per_cpu:,.0f} per CPU second of this process)"
        )
        seconds = await grow(store, args.boards - args.ingest_boards, args.chunk)
        total = await store.run(_boards)
        print(f"{name:<11} populate {total:,} boards in {seconds:.0f} s")

        async def board() -> None:
            barcode = f"BN{10_000_000 + rng.randrange(args.boards - args.ingest_boards)}"
            [found] = await store.run(lambda: q.find_boards(barcode))
            record = await store.run(lambda: q.genealogy(found))
            assert len(record["passes"]) == 4

        async def reel() -> None:
            reels = (args.boards - args.ingest_boards) // 1000
            name = f"REEL-{rng.randrange(4)}-{10_000 + rng.randrange(reels)}"
            assert len(await store.run(lambda: q.material_boards(name))) >= 1

        for label, query in (("board", board), ("reel", reel)):
            p50, p99 = await latency(query, args.queries)
            print(f"{name:<11} {label:<8} query over {total:,} boards: p50 {p50:.2f} ms  p99 {p99:.2f} ms")
        p50, p99, refused = await interlocks(store, args, rng)
        print(
            f"{name:<11} interlock {args.decisions:,} decisions at {args.rate:g} boards/s"
            f" over {total:,} boards: p50 {p50:.2f} ms  p99 {p99:.2f} ms ({refused} refused)"
        )


async def interlocks(store: Store, args: argparse.Namespace, rng: random.Random) -> tuple[float, float, int]:
    """p50/p99 ms of interlock decisions started at ``args.rate`` per second, and the refusals."""
    from gateway.trace.control import ControlConfig, Rule
    from gateway.trace.holds import place_hold
    from gateway.trace.service import TraceService

    handles = {f"m{i}": handle for i, handle in enumerate(MACHINES)}
    rules = (
        Rule("placed-before-solder", "route", "m2", "m0"),
        Rule("reflow-to-solder", "time_limit", "m2", "m1", within_s=10 * 365 * 86400.0),
    )
    control = TraceService(store, ControlConfig(rules=rules), handles)
    held = args.boards - args.ingest_boards
    for kind, value in (("board", "BN10000001"), ("board", "BN10000002"), ("reel", "REEL-0-10000")):
        await store.run(partial(place_hold, kind, value, "bench", None))
    times: list[float] = []
    refused = 0

    async def one() -> None:
        nonlocal refused
        barcode = f"BN{10_000_000 + rng.randrange(held)}"
        start = time.perf_counter()
        decision = await control.decide_now("m2", [barcode], via="bench")
        times.append((time.perf_counter() - start) * 1000)
        refused += not decision.allowed

    loop = asyncio.get_running_loop()
    begin = loop.time()
    tasks = []
    for i in range(args.decisions):
        delay = begin + i / args.rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)  # open loop: the schedule, not the answers, paces the boards
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1], refused


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boards", type=int, default=1_000_000, help="boards in the query set")
    parser.add_argument(
        "--ingest-boards", type=int, default=500, help="boards of the ingest run (x18 envelopes)"
    )
    parser.add_argument("--batch", type=int, default=200, help="envelopes per ingest transaction")
    parser.add_argument("--queries", type=int, default=500, help="queries per latency figure")
    parser.add_argument("--decisions", type=int, default=2000, help="interlock decisions to time")
    parser.add_argument("--rate", type=float, default=100.0, help="interlock decisions per second")
    parser.add_argument("--chunk", type=int, default=200_000, help="boards per populate transaction")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument(
        "--dsn", default=DEFAULT_DSN, help="PostgreSQL database (a schema is made and dropped)"
    )
    parser.add_argument("--db", help="SQLite file to use (kept; default: a temporary one)")
    args = parser.parse_args()
    configure_logging(level=logging.WARNING, stream=sys.stderr)
    if args.only != "postgresql":
        with tempfile.TemporaryDirectory() as tmp:
            await run(args, "sqlite", SqliteStore(args.db or Path(tmp) / "trace.db"))
    if args.only != "sqlite":
        import psycopg

        schema = f"bench_trace_{uuid.uuid4().hex[:8]}"
        admin = await psycopg.AsyncConnection.connect(args.dsn, autocommit=True)
        await admin.execute(f"CREATE SCHEMA {schema}")
        try:
            await run(args, "postgresql", PostgresStore(f"{args.dsn} options='-c search_path={schema}'"))
        finally:
            await admin.execute(f"DROP SCHEMA {schema} CASCADE")
            await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
