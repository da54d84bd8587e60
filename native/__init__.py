"""Hot paths in Cython, each with a pure-Python twin that gives identical results.

Each public module here (``native.checksums``, ...) picks its implementation once at import:
the compiled extension when it is built, the twin otherwise or when ``LINEGATE_PURE_PYTHON=1``.
Nothing here imports the rest of linegate.
"""

from __future__ import annotations

import importlib

from native import _select

#: Public modules that have a compiled implementation.
MODULES = ("cfx_time", "checksums", "hermes_codec", "hermes_xml")


def _load_all() -> None:
    for name in MODULES:
        importlib.import_module(f"native.{name}")


def available() -> bool:
    """True when every compiled extension is built and in use (not forced off)."""
    _load_all()
    return not _select.missing


def implementation() -> str:
    """``"cython"`` when all compiled extensions are in use, else ``"python"``."""
    return "cython" if available() else "python"


__all__ = ["MODULES", "available", "implementation"]
