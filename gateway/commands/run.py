"""``linegate run CONFIG``: the production entry point."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from contextlib import AsyncExitStack

import structlog

from gateway.assemble import default_events_file, load_checked
from gateway.commands import Subparsers
from gateway.commands.check import print_config_error
from gateway.deadline import arm_stop_deadline
from gateway.heap import pin_mmap_threshold
from gateway.http import SseSink
from gateway.launch import open_gateway
from gateway.metrics import Metrics
from gateway.trace.wiring import trace_banner
from protocols.errors import ConfigError

log = structlog.get_logger("linegate.run")


def register(subparsers: Subparsers) -> None:
    """Add ``linegate run``."""
    parser = subparsers.add_parser("run", help="run the gateway for a configured line")
    parser.add_argument("config", metavar="CONFIG", help="the line's TOML file")
    parser.add_argument("--console", action="store_true", help="also print one line per event")
    parser.add_argument(
        "--events-file",
        metavar="PATH",
        help="also append every event to a JSON-lines file (with no broker configured: instead of "
        "linegate-events.jsonl beside the outbox)",
    )
    parser.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="the event loop: asyncio's own (default) or uvloop (pip install 'linegate[fast]')",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run until SIGINT/SIGTERM; exit 1 on a configuration error."""
    # Before the first large block is freed, so glibc never raises its threshold (gateway.heap).
    pin_mmap_threshold()
    try:
        if args.loop == "uvloop":
            try:
                import uvloop
            except ImportError:
                print("error: --loop uvloop needs uvloop: pip install 'linegate[fast]'", file=sys.stderr)
                return 1
            return uvloop.run(_main(args))
        return asyncio.run(_main(args))
    except ConfigError as exc:
        print_config_error(exc)
        return 1


async def _main(args: argparse.Namespace) -> int:
    # The same validation as linegate check (every problem listed), before anything is opened.
    config = load_checked(args.config)
    events_file = args.events_file or default_events_file(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stopping() -> None:
        if not stop.is_set():
            stop.set()
            arm_stop_deadline("linegate run")

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping)
    metrics, sse = Metrics(), SseSink()
    async with AsyncExitStack() as stack:
        opened = await open_gateway(
            config, stack, console=args.console, events_file=events_file, metrics=metrics, sse=sse
        )
        gateway, listener, http = opened.gateway, opened.listener, opened.http
        handles = ", ".join(m.handle for m in config.machines)
        loop_name = type(asyncio.get_running_loop()).__module__.split(".")[0]
        print(
            f"linegate: line {config.name!r}, {len(config.machines)} machine(s), event loop {loop_name}",
            flush=True,
        )
        print(f"linegate: CFX requests at {listener.uri} for {handles}", flush=True)
        if config.amqp is None and config.mqtt is None:
            print(
                f"linegate: no broker configured ([amqp], [mqtt]): events are kept in the outbox "
                f"{config.outbox.path} and appended to {events_file} (JSON lines)",
                flush=True,
            )
        print(f"linegate: dashboard at {http.url}", flush=True)
        if gateway.trace is not None:  # [trace]: the in-process store and interlocks
            print(trace_banner(config), flush=True)
        await gateway.run(stop)
    return 0
