"""Sans-IO framers for serial machine protocols: STX/ETX with a checksum, and CR/LF lines.

Bytes go in with ``feed(data)``, complete frames come out as a list; ``encode(payload)`` gives
the bytes to write. Nothing here does I/O or knows about time. A malformed frame raises a typed
:class:`FramingError` (a ``RemoteProtocolError``: the peer sent it), but the framer has
already dropped the bad bytes when it raises, so the caller may log the error and call
``feed(b"")`` to collect frames that followed the bad one in the same chunk: sync is never
lost.

STX/ETX frame layout (the convention of many instrument and dispenser protocols)::

    STX  payload...  ETX  C1 C2
    0x02             0x03 two upper-case hex ASCII digits of checksum(payload [+ ETX])

The payload may not contain STX or ETX. The checksum is one of ``xor8``, ``sum8`` or ``lrc``
from ``native.checksums``, computed over the payload (and the ETX byte, if
``checksum_covers_etx``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from native import checksums
from protocols.errors import RemoteProtocolError

STX = 0x02
ETX = 0x03

# Serial instrument protocols rarely exceed a few hundred bytes per frame; 4 KiB leaves room for
# long measurement lists while bounding the buffer a noisy line (or a peer that never sends
# ETX / LF) can make us hold.
DEFAULT_MAX_FRAME_SIZE = 4096


class FramingError(RemoteProtocolError):
    """A malformed frame arrived; the bad bytes were dropped and the framer is in sync again.

    ``frames`` holds the good frames that the same ``feed`` call completed before this error.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.frames: list[bytes] = []


class ChecksumMismatch(FramingError):
    """The frame's checksum digits do not match its payload.

    Args:
        payload: the payload as received.
        expected: the checksum computed over it.
        received: the two ASCII digits the peer sent.
    """

    def __init__(self, payload: bytes, expected: int, received: bytes) -> None:
        super().__init__(f"checksum mismatch: computed {expected:02X}, frame says {received!r}")
        self.payload = payload
        self.expected = expected
        self.received = received


class FrameTooLong(FramingError):
    """A frame grew past the framer's ``max_frame_size`` before it ended."""


class GarbageBytes(FramingError):
    """Bytes arrived outside a frame (before STX), or a frame was cut short by a new STX.

    Args:
        garbage: the bytes that were discarded.
    """

    def __init__(self, message: str, garbage: bytes) -> None:
        super().__init__(message)
        self.garbage = garbage


class Checksum(enum.Enum):
    """The checksum algorithms an STX/ETX frame can carry, as two hex ASCII digits."""

    XOR8 = "xor8"
    SUM8 = "sum8"
    LRC = "lrc"

    def compute(self, data: bytes) -> int:
        """Return the 8-bit checksum of ``data``."""
        return _ALGORITHMS[self](data)


_ALGORITHMS: dict[Checksum, Callable[[bytes], int]] = {
    Checksum.XOR8: checksums.xor8,
    Checksum.SUM8: checksums.sum8,
    Checksum.LRC: checksums.lrc,
}


class StxEtxFramer:
    """Splits a byte stream into STX/ETX frames and checks their checksums.

    Args:
        checksum: the algorithm the two digits after ETX carry.
        checksum_covers_etx: whether ETX is part of the checksummed bytes.
        max_frame_size: the longest payload accepted; longer frames raise :class:`FrameTooLong`.
    """

    def __init__(
        self,
        checksum: Checksum = Checksum.XOR8,
        *,
        checksum_covers_etx: bool = False,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    ) -> None:
        if max_frame_size < 1:
            raise ValueError("max_frame_size must be at least 1")
        self.checksum = checksum
        self.checksum_covers_etx = checksum_covers_etx
        self.max_frame_size = max_frame_size
        self._buffer = bytearray()
        self._skipping = False  # dropping the rest of an over-long frame, up to the next STX

    def encode(self, payload: bytes) -> bytes:
        """Return the frame bytes for ``payload``.

        Raises:
            ValueError: the payload contains STX/ETX or is too long.
        """
        if STX in payload or ETX in payload:
            raise ValueError("payload may not contain STX or ETX")
        if len(payload) > self.max_frame_size:
            raise ValueError(f"payload of {len(payload)} bytes exceeds max_frame_size {self.max_frame_size}")
        return bytes([STX]) + payload + bytes([ETX]) + self._digits(payload)

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the payloads of every frame completed so far.

        Raises:
            FramingError: a malformed frame or stray bytes. The bad bytes are already dropped;
                ``error.frames`` holds the good payloads that came before it in this call,
                and ``feed(b"")`` returns the ones after it.
        """
        self._buffer += data
        frames: list[bytes] = []
        while (item := self._next()) is not None:
            if isinstance(item, FramingError):
                item.frames = frames
                raise item
            frames.append(item)
        return frames

    def _digits(self, payload: bytes) -> bytes:
        covered = payload + bytes([ETX]) if self.checksum_covers_etx else payload
        return b"%02X" % self.checksum.compute(covered)

    def _next(self) -> bytes | FramingError | None:
        buf = self._buffer
        if self._skipping:
            return self._skip_long()
        if not buf:
            return None
        if buf[0] != STX:
            start = buf.find(STX)
            garbage = bytes(buf if start < 0 else buf[:start])
            del buf[: len(garbage)]
            return GarbageBytes(f"{len(garbage)} bytes outside a frame", garbage)
        end = buf.find(ETX, 1)
        restart = buf.find(STX, 1)
        if restart > 0 and (end < 0 or restart < end):
            # A new STX before ETX: the earlier frame was cut short (line noise, a reset peer).
            garbage = bytes(buf[:restart])
            del buf[:restart]
            return GarbageBytes("frame cut short by a new STX", garbage)
        if end < 0:
            if len(buf) - 1 > self.max_frame_size:
                self._skipping = True
                del buf[:]
                return FrameTooLong(f"frame longer than {self.max_frame_size} bytes")
            return None
        if end - 1 > self.max_frame_size:
            del buf[: end + 1]
            self._skipping = True
            return FrameTooLong(f"frame longer than {self.max_frame_size} bytes")
        digits_stx = buf.find(STX, end + 1, end + 3)
        if digits_stx > 0:
            # A new frame starts where the checksum digits should be: this one lost them.
            garbage = bytes(buf[:digits_stx])
            del buf[:digits_stx]
            return GarbageBytes("frame without checksum digits", garbage)
        if len(buf) < end + 3:
            return None
        payload = bytes(buf[1:end])
        received = bytes(buf[end + 1 : end + 3])
        del buf[: end + 3]
        expected = int(self._digits(payload), 16)
        if received.upper() != b"%02X" % expected:
            return ChecksumMismatch(payload, expected, received)
        return payload

    def _skip_long(self) -> bytes | FramingError | None:
        # Drop everything up to the next STX: the tail of the over-long frame is worthless.
        buf = self._buffer
        start = buf.find(STX)
        if start < 0:
            del buf[:]
            return None
        del buf[:start]
        self._skipping = False
        return self._next()


class LineFramer:
    """Splits a byte stream into lines ending in CR LF (or a bare LF, which many devices send).

    Args:
        terminator: what :meth:`encode` appends (``b"\\r\\n"`` by default).
        max_frame_size: the longest line accepted; longer lines raise :class:`FrameTooLong`.
    """

    def __init__(self, *, terminator: bytes = b"\r\n", max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        if terminator not in (b"\r\n", b"\n", b"\r"):
            raise ValueError("terminator must be CR LF, LF or CR")
        self.terminator = terminator
        self.max_frame_size = max_frame_size
        self._separator = b"\r" if terminator == b"\r" else b"\n"
        self._buffer = bytearray()
        self._skipping = False

    def encode(self, line: bytes) -> bytes:
        """Return ``line`` with the terminator.

        Raises:
            ValueError: the line contains CR or LF, or is too long.
        """
        if b"\r" in line or b"\n" in line:
            raise ValueError("a line may not contain CR or LF")
        if len(line) > self.max_frame_size:
            raise ValueError(f"line of {len(line)} bytes exceeds max_frame_size {self.max_frame_size}")
        return line + self.terminator

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return every complete line (without CR/LF; empty lines skipped).

        Raises:
            FrameTooLong: a line exceeded ``max_frame_size``; its bytes up to the next line end
                are dropped. ``error.frames`` holds the lines before it in this call, and
                ``feed(b"")`` returns the ones after it.
        """
        self._buffer += data
        lines: list[bytes] = []
        while (item := self._next()) is not None:
            if isinstance(item, FramingError):
                item.frames = lines
                raise item
            if item:
                lines.append(item)
        return lines

    def _next(self) -> bytes | FramingError | None:
        buf = self._buffer
        end = buf.find(self._separator)
        if self._skipping:
            if end < 0:
                del buf[:]
                return None
            del buf[: end + 1]
            self._skipping = False
            return b""
        if end < 0:
            if len(buf) > self.max_frame_size + 1:  # +1: a CR may be waiting for its LF
                del buf[:]
                self._skipping = True
                return FrameTooLong(f"line longer than {self.max_frame_size} bytes")
            return None
        line = bytes(buf[:end]).rstrip(b"\r")
        del buf[: end + 1]
        if len(line) > self.max_frame_size:
            return FrameTooLong(f"line longer than {self.max_frame_size} bytes")
        return line


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
