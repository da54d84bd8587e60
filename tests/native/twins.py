"""Helpers that run one test suite over a compiled module and its pure-Python twin."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def compiled_module(name: str) -> ModuleType:
    """Import ``native.<name>``; a missing build fails the test unless the extension is optional here.

    ``LINEGATE_ALLOW_UNBUILT=1`` turns the failure into a skip, for runs on a machine with no
    C compiler; ``make test`` never sets it, so a build that silently failed is caught.
    """
    try:
        return importlib.import_module(f"native.{name}")
    except ImportError as exc:
        if os.environ.get("LINEGATE_ALLOW_UNBUILT") == "1":
            pytest.skip(f"native.{name} is not built: {exc}")
        raise AssertionError(f"native.{name} is not built: {exc}") from exc
