"""Checksums for serial framing and Modbus: the compiled module when built, else the pure twin.

``LINEGATE_PURE_PYTHON=1`` forces the twin.
"""

from __future__ import annotations

from native._select import load

_impl = load("_checksums", "checksums_pure")

crc16_modbus = _impl.crc16_modbus
lrc = _impl.lrc
xor8 = _impl.xor8
sum8 = _impl.sum8
IMPLEMENTATION: str = "cython" if _impl.__name__.endswith("._checksums") else "python"

__all__ = ["IMPLEMENTATION", "crc16_modbus", "lrc", "sum8", "xor8"]
