"""Hermes stream framing: cut a TCP byte stream into single ``<Hermes>...</Hermes>`` documents.

Hermes has no length prefix and no delimiter byte; a receiver finds message boundaries the way
lib_cpp does (reference §1, "Framing"):

1. Skip to ``<Hermes``. Everything before it (an XML declaration, whitespace, CR/LF, garbage)
   is dropped.
2. The message ends at the first ``</Hermes`` after that and the next ``>``.
3. That slice is one message; the rest stays buffered for the next one (unlike the acceptance
   tool, which drops it, reference §4.2).

This is safe because a literal ``<`` cannot appear unescaped inside attribute values. If more
than :data:`MAX_MESSAGE_SIZE` bytes from a ``<Hermes`` hold no complete message, the peer is
broken or hostile: :class:`HermesFramingError` (lib_cpp raises a peer error and disconnects
with Notification 1).

Searches resume where the previous one stopped, so feeding a 64 KiB message one byte at a time
costs linear, not quadratic, time.
"""

from __future__ import annotations

from protocols.hermes.codec import MAX_MESSAGE_SIZE, HermesDecodeError

_START = b"<Hermes"
_END = b"</Hermes"


class HermesFramingError(HermesDecodeError):
    """More than 65,536 bytes arrived from a ``<Hermes`` without a complete message (reference §1).

    ``hint`` is the Notification to send before closing (code 1, severity Fatal).
    """


class Framer:
    """Finds complete Hermes messages in a stream of received bytes (sans-IO).

    Args:
        max_size: the largest message accepted, in bytes (reference §1: 65,536).

    Feed every received chunk to :meth:`feed`, then call :meth:`next_frame` until it returns
    ``None``. After a :class:`HermesFramingError` the framer stays broken: every later call to
    :meth:`next_frame` raises the same error.
    """

    def __init__(self, max_size: int = MAX_MESSAGE_SIZE) -> None:
        self._buffer = bytearray()
        self._max_size = max_size
        self._started = False  # the buffer begins with "<Hermes"
        self._end = -1  # index of "</Hermes" in the buffer, once found
        self._scan = 0  # where the next search for "</Hermes" or ">" resumes
        self._error: HermesFramingError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held that are not yet part of a returned frame."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append received bytes (any split: a byte, half a message, several messages)."""
        self._buffer += data

    def next_frame(self) -> bytes | None:
        """The next complete message, ``<Hermes`` up to and including the ``>`` after ``</Hermes``.

        Returns:
            The message bytes, or ``None`` if no complete message is buffered yet.

        Raises:
            HermesFramingError: more than ``max_size`` bytes from ``<Hermes`` without a
                complete message, or a complete message longer than ``max_size``.
        """
        if self._error is not None:
            raise self._error
        buffer = self._buffer
        if not buffer:
            return None  # the common case after the last message of a read
        if self._scan == 0 and buffer.startswith(_START):
            # The common case: the buffer starts with a message and no search is under way (a
            # read of whole messages). The same searches as below, without their bookkeeping.
            end = buffer.find(_END, len(_START))
            close = buffer.find(b">", end + len(_END)) if end >= 0 else -1
            if close >= 0:
                return self._cut(close + 1)
        if not self._started and not self._skip_to_start():
            return None
        if self._end < 0:
            end = buffer.find(_END, max(self._scan, len(_START)))
            if end < 0:
                # "</Hermes" may straddle this chunk and the next one: rescan its possible start.
                self._scan = max(len(_START), len(buffer) - len(_END) + 1)
                self._check_size(len(buffer))
                return None
            self._end = end
            self._scan = end + len(_END)
        close = buffer.find(b">", self._scan)
        if close < 0:
            self._scan = len(buffer)
            self._check_size(len(buffer))
            return None
        self._started = False
        self._end = -1
        self._scan = 0
        return self._cut(close + 1)

    def _cut(self, size: int) -> bytes:
        """Take the complete message of ``size`` bytes off the front of the buffer."""
        self._check_size(size, complete=True)
        buffer = self._buffer
        if size == len(buffer):  # a read of exactly one message: one copy, no shift
            frame = bytes(buffer)
            buffer.clear()
        else:
            frame = bytes(buffer[:size])
            del buffer[:size]
        return frame

    def _skip_to_start(self) -> bool:
        """Drop everything before ``<Hermes``; True once the buffer starts with it."""
        buffer = self._buffer
        start = buffer.find(_START)
        if start >= 0:
            del buffer[:start]
            self._started = True
            self._scan = len(_START)
            return True
        # Keep a tail that could be the beginning of "<Hermes" split across chunks.
        keep = buffer.rfind(b"<", max(0, len(buffer) - len(_START) + 1))
        if keep >= 0 and _START.startswith(buffer[keep:]):
            del buffer[:keep]
        else:
            buffer.clear()
        return False

    def _check_size(self, size: int, *, complete: bool = False) -> None:
        if size > self._max_size:
            what = "a message of" if complete else "no complete message in"
            self._error = HermesFramingError(
                f"{what} {size} bytes from '<Hermes', more than the {self._max_size} allowed"
            )
            self._buffer.clear()
            raise self._error


__all__ = ["Framer", "HermesFramingError"]
