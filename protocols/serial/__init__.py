"""Serial machine protocols, sans-IO: framers shared by the coater simulator and the serial adapter."""

from protocols.serial.framing import (
    DEFAULT_MAX_FRAME_SIZE,
    ETX,
    STX,
    Checksum,
    ChecksumMismatch,
    FrameTooLong,
    FramingError,
    GarbageBytes,
    LineFramer,
    StxEtxFramer,
)

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "ETX",
    "STX",
    "Checksum",
    "ChecksumMismatch",
    "FrameTooLong",
    "FramingError",
    "GarbageBytes",
    "LineFramer",
    "StxEtxFramer",
]
