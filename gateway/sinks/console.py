"""The console sink: one readable line per event, for ``linegate demo`` and for debugging."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TextIO

import orjson

from gateway.event_text import event_facts
from gateway.outbox import StoredEvent
from protocols.errors import TransportError


class ConsoleSink:
    """Writes ``HH:MM:SS.mmm  <source>  <MessageName>  <facts>`` lines to a text stream (the
    facts: the fault code, the recipe, the board's barcode; ``gateway.event_text``)."""

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
        """One line: the time the event was stored, its source handle, its short message name,
        and what it says."""
        at = datetime.fromtimestamp(event.created, UTC).strftime("%H:%M:%S.%f")[:-3]
        short = event.message_name.removeprefix("CFX.")
        try:
            body = orjson.loads(event.payload).get("MessageBody") or {}
        except (orjson.JSONDecodeError, AttributeError):
            body = {}  # the outbox only holds envelopes it encoded; a line is still printed
        facts = "  ".join(event_facts(event.message_name, body)) if isinstance(body, dict) else ""
        return f"{at}  {event.source:<28} {short}  {facts}".rstrip() + "\n"
