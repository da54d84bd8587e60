"""The ``linegate`` command line: argument parsing and dispatch to ``gateway.commands``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from gateway import __version__
from gateway.commands import register_all
from gateway.logconfig import configure_logging


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="linegate",
        description="asyncio gateway for SMT assembly lines: machines in, IPC-CFX events out.",
    )
    parser.add_argument("--version", action="version", version=f"linegate {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    register_all(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        configure_logging()
    except ValueError as exc:
        print(f"linegate: {exc}", file=sys.stderr)
        return 2
    try:
        status: int = handler(args)
        # Flush here, inside the try: a reader that left shows now, not at interpreter exit.
        sys.stdout.flush()
    except BrokenPipeError:
        return _reader_left()
    return status


def _reader_left() -> int:
    """The reader of stdout closed it (``linegate check ... | head``): stop quietly.

    Python would report the failed flush of stdout again at exit; pointing stdout at
    /dev/null lets it exit without a traceback. The status is 1, as for any write failure.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
