"""``linegate demo``: the default simulated line with the gateway against it, nothing to configure."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from gateway.commands import Subparsers
from gateway.logconfig import configure_logging
from protocols.errors import ConfigError


def register(subparsers: Subparsers) -> None:
    """Add ``linegate demo``."""
    parser = subparsers.add_parser(
        "demo",
        help="run the default simulated line with the gateway against it",
        description="The whole SMT line (scanner -> printer -> SPI -> placement -> AOI -> reflow oven -> "
        "X-ray -> selective solder -> coater -> ICT -> FCT), or the line file given, simulated on an "
        "accelerated clock, with the gateway turning every machine's protocol into CFX. Changes the line "
        "over midway, injects one oven alarm, and sums up each inspection and test station's outcomes.",
    )
    parser.add_argument(
        "--line",
        metavar="PATH",
        help="run this line file instead of the default line (e.g. simulators/lines/small.toml, the short "
        "placement -> reflow -> solder -> coater line)",
    )
    parser.add_argument("--boards", type=int, default=20, metavar="N", help="boards to run (default 20)")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=100.0,
        metavar="X",
        help="simulated seconds per second (default 100)",
    )
    parser.add_argument(
        "--amqp", metavar="URL", help="also publish to this RabbitMQ (amqp://user:pw@host:5672/)"
    )
    parser.add_argument("--mqtt", metavar="URL", help="also publish to this MQTT broker (mqtt://host:1883)")
    parser.add_argument("--summary-json", metavar="PATH", help="write the summary as JSON")
    parser.add_argument("--quiet", action="store_true", help="no line per event, only progress and summary")
    parser.add_argument(
        "--http-port", type=int, default=0, metavar="PORT", help="dashboard port (default: free)"
    )
    parser.add_argument(
        "--trace-db",
        metavar="PATH",
        help="keep the trace store in this SQLite file (replaced): the SPI's 3rd board fails and is"
        " refused at placement (a line without an SPI gets a printer and an SPI in front); query it"
        " with linegate trace --db PATH",
    )
    parser.add_argument(
        "--keep-open",
        action="store_true",
        help="after the summary, keep the dashboard up (showing the end state) until Ctrl-C",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; exit 0 when every board went through."""
    # Imported here: the simulators pull in asyncua and pymodbus, which other commands do not need.
    from gateway.demo import DemoOptions, run_demo

    if "LINEGATE_LOG_LEVEL" not in os.environ:
        # The console shows the events; log lines only when something is wrong, on stderr.
        configure_logging(level=logging.WARNING, stream=sys.stderr)

    if args.boards < 1:
        print("linegate demo: --boards must be at least 1")
        return 2
    if args.time_scale <= 0:
        print("linegate demo: --time-scale must be positive")
        return 2
    options = DemoOptions(
        boards=args.boards,
        time_scale=args.time_scale,
        amqp=args.amqp,
        mqtt=args.mqtt,
        quiet=args.quiet,
        summary_json=args.summary_json,
        http_port=args.http_port,
        stop_deadline=True,
        trace_db=args.trace_db,
        keep_open=args.keep_open,
        line=args.line,
    )
    try:
        summary = asyncio.run(run_demo(options))
    except ConfigError as exc:  # a --line file that cannot be read or is no valid line
        print(f"linegate demo: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.keep_open:
            return 0  # the summary was printed; Ctrl-C is how --keep-open ends
        print("linegate demo: interrupted", file=sys.stderr, flush=True)
        return 130
    return 0 if summary.boards >= options.boards else 1
