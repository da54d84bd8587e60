"""The JSON-lines file sink: each envelope on its own line, appended and fsynced per batch."""

from __future__ import annotations

import os
from pathlib import Path

from gateway.outbox import StoredEvent
from protocols.errors import TransportError


class JsonLinesSink:
    """Appends each event's envelope JSON (one line each) to ``path``.

    The payloads are compact JSON, so a newline never occurs inside one; a batch is fsynced
    before it is acknowledged, so a crash may repeat the last batch but never loses one.
    """

    def __init__(self, path: str | Path, *, name: str = "file") -> None:
        self.name = name
        self.path = Path(path)

    async def publish(self, batch: list[StoredEvent]) -> None:
        """Append and fsync the batch.

        Raises:
            TransportError: the file cannot be written (disk full, permissions).
        """
        data = b"".join(event.payload.rstrip(b"\n") + b"\n" for event in batch)
        try:
            with self.path.open("ab") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise TransportError(f"cannot append to {self.path}: {exc.strerror}") from exc
