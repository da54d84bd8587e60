"""Hermes shapes (table-driven reading and writing of childless elements): the compiled module
when built, else the pure twin (``LINEGATE_PURE_PYTHON=1``).

See :mod:`native.hermes_codec_pure` for what a shape does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from native._select import load
from native.hermes_codec_pure import ENUM, FLOAT, INT, MAX_FIELDS, STR, Field

_impl = load("_hermes_codec", "hermes_codec_pure")

if TYPE_CHECKING:
    from native.hermes_codec_pure import Shape, build_message, local_stamp
else:
    Shape = _impl.Shape
    build_message = _impl.build_message
    local_stamp = _impl.local_stamp
IMPLEMENTATION: str = "cython" if _impl.__name__.endswith("._hermes_codec") else "python"

__all__ = [
    "ENUM",
    "FLOAT",
    "IMPLEMENTATION",
    "INT",
    "MAX_FIELDS",
    "STR",
    "Field",
    "Shape",
    "build_message",
    "local_stamp",
]
