"""The serial framers (STX/ETX with each checksum, and CR/LF lines) under fuzz.

Invariant: any byte stream, in any chunking, gives payloads no longer than the limit (without
STX/ETX, or without CR/LF) or raises FramingError, after which ``feed(b"")`` goes on; the
buffer never holds more than the limit plus one chunk.
"""

from __future__ import annotations

from fuzz.harness import Crash, Harness, Target
from protocols.serial.framing import Checksum, FramingError, LineFramer, StxEtxFramer

_LIMIT = 256  # small, so fuzzed inputs reach the too-long paths
_CHECKSUMS = list(Checksum)


def make() -> Target:
    def one(data: bytes) -> None:
        head = data[0] if data else 0
        chunk = (head >> 3) or len(data) or 1
        framer: StxEtxFramer | LineFramer
        forbidden: tuple[bytes, ...]
        kind = head & 7
        if kind < len(_CHECKSUMS) * 2:
            framer = StxEtxFramer(
                _CHECKSUMS[kind >> 1], checksum_covers_etx=bool(kind & 1), max_frame_size=_LIMIT
            )
            forbidden = (b"\x02", b"\x03")
        else:
            framer = LineFramer(terminator=b"\r" if kind & 1 else b"\r\n", max_frame_size=_LIMIT)
            forbidden = (b"\r",) if kind & 1 else (b"\n",)
        first_error: FramingError | None = None
        for start in range(1, len(data), chunk):
            piece = data[start : start + chunk]
            while True:
                try:
                    frames = framer.feed(piece)
                except FramingError as exc:
                    first_error = first_error or exc
                    frames = exc.frames
                    piece = b""  # the bad bytes are dropped: collect what followed them
                    _check(frames, forbidden)
                    continue
                _check(frames, forbidden)
                break
            if len(framer._buffer) > _LIMIT + chunk + 4:
                raise Crash(f"framer holds {len(framer._buffer)} bytes")
        if first_error is not None:
            raise first_error

    return one


def _check(frames: list[bytes], forbidden: tuple[bytes, ...]) -> None:
    for frame in frames:
        if len(frame) > _LIMIT or any(byte in frame for byte in forbidden):
            raise Crash(f"bad frame {frame[:40]!r}")


def seeds() -> list[bytes]:
    out = []
    for kind in range(8):
        if kind < 6:
            framer = StxEtxFramer(_CHECKSUMS[kind >> 1], checksum_covers_etx=bool(kind & 1))
            stream = b"noise" + framer.encode(b"T1=231.4;T2=232.0") + framer.encode(b"STATE 1100")
        else:
            line = LineFramer(terminator=b"\r" if kind & 1 else b"\r\n")
            stream = line.encode(b"ZONE 3 231.4 C") + line.encode(b"OK") + b"\n\n"
        out += [bytes([kind]) + stream, bytes([kind | 8]) + stream]
    return out


HARNESSES = [
    Harness(
        "serial-framers",
        "protocols/serial/framing.py (StxEtxFramer x3 checksums, LineFramer)",
        make,
        (FramingError,),
        seeds,
    )
]
