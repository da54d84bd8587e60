"""Serial machine protocols, sans-IO: framers, the ``TAG:K=V`` payload and tag correlation.

Shared by the coater simulator and the serial adapter.
"""

from protocols.serial.correlation import Correlator, Pending
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
from protocols.serial.payload import SEPARATORS, clean_text, decode_payload, encode_payload

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "ETX",
    "SEPARATORS",
    "STX",
    "Checksum",
    "ChecksumMismatch",
    "Correlator",
    "FrameTooLong",
    "FramingError",
    "GarbageBytes",
    "LineFramer",
    "Pending",
    "StxEtxFramer",
    "clean_text",
    "decode_payload",
    "encode_payload",
]
