"""Hermes stream framer (``protocols.hermes.framing.Framer``) under fuzz.

Invariant: any byte stream, in any chunking, yields frames that start with ``<Hermes``, end
with ``>`` and hold at most 65,536 bytes, or raises HermesFramingError; the framer never
buffers more than the limit plus one chunk.
"""

from __future__ import annotations

from fuzz.harness import Crash, Harness, Target
from fuzz.seeds import hermes_hostile, hermes_messages
from protocols.hermes.codec import MAX_MESSAGE_SIZE
from protocols.hermes.framing import Framer, HermesFramingError


def make() -> Target:
    def one(data: bytes) -> None:
        # The first byte picks the chunk size the stream arrives in: 1 byte up to 32 KiB.
        chunk = 1 << ((data[0] if data else 0) & 15)
        framer = Framer()
        for start in range(1, len(data), chunk):
            piece = data[start : start + chunk]
            framer.feed(piece)
            if framer.buffered > MAX_MESSAGE_SIZE + len(piece) + 8:
                raise Crash(f"framer holds {framer.buffered} bytes")
            while (frame := framer.next_frame()) is not None:
                if not frame.startswith(b"<Hermes") or not frame.endswith(b">"):
                    raise Crash(f"bad frame {frame[:40]!r}")
                if len(frame) > MAX_MESSAGE_SIZE:
                    raise Crash(f"frame of {len(frame)} bytes")

    return one


def seeds() -> list[bytes]:
    stream = b"".join(hermes_messages())
    return [b"\x0f" + stream, b"\x00" + stream, b"\x03" + stream, b"\x0f" + b"".join(hermes_hostile())]


HARNESSES = [
    Harness(
        "hermes-framer",
        "protocols/hermes/framing.py",
        make,
        (HermesFramingError,),
        seeds,
        max_len=MAX_MESSAGE_SIZE + 4096,  # room to cross the limit
    )
]
