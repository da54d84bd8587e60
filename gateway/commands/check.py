"""``linegate check CONFIG``: validate a line configuration without starting anything."""

from __future__ import annotations

import argparse
import sys

from gateway.assemble import check_line
from gateway.commands import Subparsers
from gateway.config import load_config
from protocols.errors import ConfigError


def register(subparsers: Subparsers) -> None:
    """Add ``linegate check``."""
    parser = subparsers.add_parser("check", help="validate a line configuration file")
    parser.add_argument("config", metavar="CONFIG", help="the line's TOML file")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the error (file, key path, problem) and return 1, or a summary and return 0."""
    try:
        config = load_config(args.config)
        check_line(config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{config.path}: line {config.name!r} is valid")
    for machine in config.machines:
        print(f"  {machine.id:<16} {machine.protocol:<8} {machine.handle}")
    if config.amqp is not None and config.amqp.urls:
        print(f"  amqp: {len(config.amqp.urls)} broker nodes, failover {config.amqp.failover}")
    if config.products:
        print(f"  products: {', '.join(sorted(config.products))}")
    return 0
