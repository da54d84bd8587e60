"""CFX DateTime and TimeSpan texts in the SDK's forms: the compiled module when built, else the twin.

``LINEGATE_PURE_PYTHON=1`` forces the twin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from native._select import load

_impl = load("_cfx_time", "cfx_time_pure")

if TYPE_CHECKING:
    from native.cfx_time_pure import DecodeHook, parse_timespan, parse_timestamp
else:
    parse_timestamp = _impl.parse_timestamp
    parse_timespan = _impl.parse_timespan
    DecodeHook = _impl.DecodeHook
IMPLEMENTATION: str = "cython" if _impl.__name__.endswith("._cfx_time") else "python"

__all__ = ["IMPLEMENTATION", "DecodeHook", "parse_timespan", "parse_timestamp"]
