"""Subcommands of the ``linegate`` command line, one module each.

Every module in this package that defines ``register(subparsers)`` adds its subcommand; the
parser it adds sets ``handler`` (a callable taking the parsed ``argparse.Namespace`` and returning
an exit status). Modules are found by name, so adding a command touches no shared file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

Subparsers = Any  # argparse's _SubParsersAction is private
Handler = Callable[[argparse.Namespace], int]


def register_all(subparsers: Subparsers) -> None:
    """Import every command module of this package and let it add its parser."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
