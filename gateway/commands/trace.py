"""``linegate trace``: query a trace store, load envelopes into it, or feed it from the broker.

``board ID``, ``material LOT_OR_REEL``, ``window --machine M --from T1 --to T2`` and
``fault OCCURRENCE_ID`` answer from an SQLite file (``--db PATH``) or PostgreSQL (``--dsn``), as a
table, ``--json`` or ``--csv``. ``ingest FILE`` loads JSON-lines envelopes (as ``linegate events
tail --json`` writes them); ``serve`` consumes the CFX stream from RabbitMQ (docs/trace.md).

Exit status: 0 answered, 1 nothing matched or the database failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from gateway.commands import Subparsers
from gateway.logconfig import configure_logging

FORMATS = ("table", "json", "csv")


def register(subparsers: Subparsers) -> None:
    """Add ``linegate trace`` and its subcommands."""
    parser = subparsers.add_parser("trace", help="board genealogy: query the trace store, or feed it")
    commands = parser.add_subparsers(title="trace commands", metavar="COMMAND")

    board = commands.add_parser("board", help="a board's genealogy by barcode, Hermes BoardId or unit id")
    board.add_argument("identifier", metavar="ID")
    material = commands.add_parser("material", help="the boards that got parts from a reel or lot")
    material.add_argument("identifier", metavar="LOT_OR_REEL")
    window = commands.add_parser("window", help="the boards in a machine during a time window")
    window.add_argument("--machine", required=True, metavar="HANDLE", help="the machine's CFX handle")
    window.add_argument("--from", dest="start", required=True, metavar="T1", help="ISO 8601 (naive: UTC)")
    window.add_argument("--to", dest="end", required=True, metavar="T2", help="ISO 8601 (naive: UTC)")
    fault = commands.add_parser("fault", help="the boards in the machine while a fault occurrence was active")
    fault.add_argument("identifier", metavar="OCCURRENCE_ID")
    for sub, handler in ((board, _board), (material, _material), (window, _window), (fault, _fault)):
        _store_options(sub)
        out = sub.add_mutually_exclusive_group()
        out.add_argument("--json", dest="format", action="store_const", const="json", help="print JSON")
        out.add_argument("--csv", dest="format", action="store_const", const="csv", help="print CSV")
        sub.set_defaults(handler=_query(handler), format="table", command=sub.prog)

    load = commands.add_parser("ingest", help="load JSON-lines CFX envelopes from a file ('-': stdin)")
    load.add_argument("file", metavar="FILE")
    _store_options(load)
    _settings_options(load)
    load.set_defaults(handler=_run_ingest, command=load.prog)

    serve = commands.add_parser("serve", help="consume the CFX stream from RabbitMQ into the store")
    _store_options(serve)
    _settings_options(serve)
    serve.add_argument(
        "--amqp",
        required=True,
        action="append",
        metavar="URL",
        help="amqp://user:password@host:port/vhost; repeat it for each node of a cluster (tried in turn)",
    )
    serve.add_argument("--exchange", default="cfx", help="the CFX topic exchange (default cfx)")
    serve.add_argument("--queue", default="linegate-trace", help="the durable queue (default linegate-trace)")
    serve.add_argument("--quorum", action="store_true", help="declare a quorum queue (broker clusters)")
    serve.add_argument(
        "--bind",
        action="append",
        default=[],
        metavar="PATTERN",
        help="routing-key pattern (repeatable; default #)",
    )
    serve.add_argument("--batch", type=int, default=200, metavar="N", help="deliveries per transaction")
    serve.set_defaults(handler=_run_serve, command=serve.prog)
    from gateway.commands import trace_holds  # hold, release, holds

    trace_holds.add_hold_commands(commands, _store_options)
    parser.set_defaults(handler=lambda args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _store_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", metavar="PATH", help="the SQLite trace database")
    where.add_argument("--dsn", metavar="DSN", help="PostgreSQL: postgresql://user@host/db or a libpq string")


def _settings_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--liquidus", type=float, default=217.0, metavar="C", help="solder liquidus °C (217)")
    parser.add_argument(
        "--heated-length", type=float, default=3600.0, metavar="MM", help="oven heated length in mm (3600)"
    )


class Fail(Exception):
    """A message for stderr and an exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def parse_time(text: str) -> int:
    """An ISO 8601 time (naive means UTC) as µs since the epoch.

    Raises:
        ValueError: not ISO 8601.
    """
    from gateway.trace.ingest import micros

    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return micros(when if when.tzinfo else when.replace(tzinfo=UTC))


Query = Callable[[Any, argparse.Namespace], Awaitable[tuple[Any, str, list[dict[str, Any]]]]]


def _query(answer: Query) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        configure_logging(level=logging.WARNING, stream=sys.stderr)
        return run_with_store(args, lambda store: _print(args, answer(store, args)), must_exist=True)

    return handler


async def _print(args: argparse.Namespace, pending: Awaitable[tuple[Any, str, list[dict[str, Any]]]]) -> None:
    from gateway.trace.report import as_csv, as_json

    whole, text, rows = await pending
    out = {"json": lambda: as_json(whole), "csv": lambda: as_csv(rows).rstrip("\n"), "table": lambda: text}
    print(out[args.format]())


def run_with_store(
    args: argparse.Namespace, body: Callable[[Any], Awaitable[None]], *, must_exist: bool = False
) -> int:
    from gateway.trace import StoreError, open_store

    name = args.command
    if args.db is not None and must_exist and not Path(args.db).exists():
        print(f"{name}: no trace database at {args.db}", file=sys.stderr)
        return 1

    async def run() -> None:
        async with open_store(db=args.db, dsn=args.dsn) as store:
            await body(store)

    try:
        asyncio.run(run())
    except Fail as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return exc.status
    except StoreError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


async def _board(store: Any, args: argparse.Namespace) -> tuple[Any, str, list[dict[str, Any]]]:
    from gateway.trace import queries as q
    from gateway.trace.report import board_rows, board_text

    boards = await store.run(lambda: q.find_boards(args.identifier))
    if not boards:
        raise Fail(f"no board known by {args.identifier!r}")
    records = [await store.run(lambda b=b: q.genealogy(b)) for b in boards]
    text = "\n\n".join(board_text(r) for r in records)
    if len(records) > 1:
        # A defined answer for an ambiguous ID: every board it names, oldest first.
        structlog.get_logger("linegate.trace").warning(
            "trace.query.ambiguous", identifier=args.identifier, boards=[r["board"] for r in records]
        )
        text = f"{args.identifier!r} names {len(records)} boards (oldest first)\n\n{text}"
    rows = [row for r in records for row in board_rows(r)]
    return {"query": args.identifier, "matches": len(records), "boards": records}, text, rows


async def _material(store: Any, args: argparse.Namespace) -> tuple[Any, str, list[dict[str, Any]]]:
    from gateway.trace import queries as q
    from gateway.trace.report import table

    rows = await store.run(lambda: q.material_boards(args.identifier))
    if not rows:
        raise Fail(f"no board got parts from reel or lot {args.identifier!r}")
    columns = ["barcode", "hermes_id", "machine", "location", "reel", "lot", "designators", "source", "time"]
    text = f"{len({r['board'] for r in rows})} boards got parts from {args.identifier}\n" + table(
        rows, columns
    )
    return {"query": args.identifier, "boards": rows}, text, rows


async def _window(store: Any, args: argparse.Namespace) -> tuple[Any, str, list[dict[str, Any]]]:
    from gateway.trace import queries as q
    from gateway.trace.report import table

    try:
        start, end = parse_time(args.start), parse_time(args.end)
    except ValueError as exc:
        raise Fail(f"--from/--to must be ISO 8601 times: {exc}", 2) from exc
    if end < start:
        raise Fail("--to is before --from", 2)
    rows = await store.run(lambda: q.window_boards(args.machine, start, end))
    if not rows and args.machine not in (known := await store.run(q.machines)):
        raise Fail(f"no machine {args.machine!r} in the store; known: {', '.join(known) or 'none'}")
    text = f"{len(rows)} boards in {args.machine} between {args.start} and {args.end}\n" + table(rows)
    return {"machine": args.machine, "from": args.start, "to": args.end, "boards": rows}, text, rows


async def _fault(store: Any, args: argparse.Namespace) -> tuple[Any, str, list[dict[str, Any]]]:
    from gateway.trace import queries as q
    from gateway.trace.report import table

    fault, rows = await store.run(lambda: q.fault_boards(args.identifier))
    if not fault:
        raise Fail(f"no fault occurrence {args.identifier!r}")
    if fault["occurred"] is None:
        raise Fail(f"fault occurrence {args.identifier!r} was cleared but its FaultOccurred was never seen")
    text = (
        f"{fault['code']} on {fault['machine']}, {fault['occurred']} .. {fault['cleared'] or 'still active'}:"
        f" {len(rows)} boards\n" + table(rows)
    )
    return {"fault": fault, "boards": rows}, text, rows


def _settings(args: argparse.Namespace) -> Any:
    from gateway.trace import TraceSettings

    return TraceSettings(liquidus_c=args.liquidus, heated_length_mm=args.heated_length)


def _run_ingest(args: argparse.Namespace) -> int:
    from gateway.trace import ingest
    from protocols.cfx import CFXDecodeError, decode_envelope

    configure_logging(level=logging.WARNING, stream=sys.stderr)
    try:
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        print(f"linegate trace ingest: cannot read {args.file}: {exc}", file=sys.stderr)
        return 1
    envelopes = []
    for number, line in enumerate(data.splitlines(), start=1):
        if line.strip():
            try:
                envelopes.append(decode_envelope(line))
            except CFXDecodeError as exc:
                print(f"linegate trace ingest: {args.file}:{number}: {exc}", file=sys.stderr)
                return 1
    settings = _settings(args)

    async def body(store: Any) -> None:
        stats = await store.run(lambda: ingest(envelopes, settings))
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(stats.outcomes.items()))
        print(f"{stats.stored} envelopes stored, {stats.duplicates} duplicates ({outcomes or 'none'})")

    return run_with_store(args, body)


def _run_serve(args: argparse.Namespace) -> int:
    from gateway.trace.consumer import TraceConsumer

    configure_logging()
    if args.batch < 1:
        print("linegate trace serve: --batch must be at least 1", file=sys.stderr)
        return 2

    async def body(store: Any) -> None:
        consumer = TraceConsumer(
            store,
            args.amqp,
            queue=args.queue,
            exchange=args.exchange,
            bindings=args.bind or ["#"],
            quorum=args.quorum,
            batch=args.batch,
            settings=_settings(args),
        )
        await consumer.run()

    return run_with_store(args, body)


__all__ = ["Fail", "parse_time", "register", "run_with_store"]
