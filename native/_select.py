"""Chooses between a compiled module and its pure-Python twin, once, at import time."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

#: Compiled modules that failed to import (or were skipped), by name; ``available()`` reads it.
missing: set[str] = set()
loaded: set[str] = set()


def pure_python_forced() -> bool:
    """True when ``LINEGATE_PURE_PYTHON`` asks for the twins."""
    return os.environ.get("LINEGATE_PURE_PYTHON", "") not in ("", "0")


def load(compiled: str, twin: str) -> ModuleType:
    """Return ``native.<compiled>`` if it is built and allowed, else ``native.<twin>``."""
    if not pure_python_forced():
        try:
            module = importlib.import_module(f"native.{compiled}")
        except ImportError:
            missing.add(compiled)
        else:
            loaded.add(compiled)
            return module
    else:
        missing.add(compiled)
    return importlib.import_module(f"native.{twin}")
