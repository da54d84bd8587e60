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
        head, data = (data[0], data[1:]) if data else (0, b"")
        chunk = 1 << (head & 15)  # the stream arrives in pieces of 1 byte up to 32 KiB
        if head & 16 and data:
            # Repeated past the 64 KiB limit (libFuzzer's inputs stay far smaller by themselves).
            data = data * ((MAX_MESSAGE_SIZE + 4096) // len(data) + 1)
            chunk = max(chunk, 4096)  # small pieces past 64 KiB: tests/protocols/hermes/test_framing.py
        framer = Framer()
        for start in range(0, len(data), chunk):
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
    return [
        b"\x0f" + stream,
        b"\x00" + stream,
        b"\x03" + stream,
        b"\x1f" + stream[: len(stream) // 2],  # repeated past 64 KiB: many messages
        b'\x1f<Hermes Timestamp="x"><Notification Description="' + b"y" * 200,  # ... none complete
        b"\x0f" + b"".join(hermes_hostile()),
    ]


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
