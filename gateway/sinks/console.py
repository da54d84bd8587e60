"""The console sink: one readable line per event, for ``linegate demo`` and for debugging."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TextIO

from gateway.outbox import StoredEvent
from protocols.errors import TransportError


class ConsoleSink:
    """Writes ``HH:MM:SS.mmm  <source>  <MessageName>`` lines to a text stream."""

    def __init__(self, stream: TextIO | None = None, *, name: str = "console") -> None:
        self.name = name
        self.stream = stream if stream is not None else sys.stdout

    async def publish(self, batch: list[StoredEvent]) -> None:
        """Print the batch.

        Raises:
            TransportError: the output is gone (a closed pipe); the events stay in the outbox.
        """
        lines = [self.format(event) for event in batch]
        try:
            self.stream.write("".join(lines))
            self.stream.flush()
        except (OSError, ValueError) as exc:  # ValueError: write to a closed file
            raise TransportError(f"console output is closed: {exc}") from exc

    @staticmethod
    def format(event: StoredEvent) -> str:
        """One line: the time the event was stored, its source handle, its short message name."""
        at = datetime.fromtimestamp(event.created, UTC).strftime("%H:%M:%S.%f")[:-3]
        short = event.message_name.removeprefix("CFX.")
        return f"{at}  {event.source:<28} {short}\n"
