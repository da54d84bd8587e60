"""``linegate info``: versions and which hot-path implementation is active."""

from __future__ import annotations

import argparse
import platform

import native
from gateway import __version__
from gateway.commands import Subparsers


def register(subparsers: Subparsers) -> None:
    """Add ``linegate info``."""
    parser = subparsers.add_parser("info", help="show versions and the active native implementation")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print one line per fact."""
    print(f"linegate {__version__}")
    print(f"python {platform.python_version()} ({platform.python_implementation()})")
    print(f"native {native.implementation()}")
    return 0
