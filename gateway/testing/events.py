"""``cfx_events``: a sink that keeps every normalized CFX envelope the gateway delivers.

Tests wait on it instead of sleeping::

    envelope = await cfx_events.wait_for(
        "CFX.Production.WorkCompleted", where={"HermesIdentifier": board_id}, timeout=10
    )

Envelopes are the decoded JSON objects exactly as the gateway publishes them (CFX SDK casing:
``MessageName``, ``Source``, ``UniqueID``, ``TimeStamp``, ``MessageBody``), so a test reads
what an MES would read. When nothing matches in time, :class:`EventNotSeen` (an
``AssertionError``) lists what arrived instead.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from gateway.outbox import StoredEvent

#: A decoded CFX envelope (the JSON object the gateway publishes).
EnvelopeDict = dict[str, Any]
#: What ``where=`` accepts: body fields that must be equal, or a predicate on the envelope.
Where = Mapping[str, Any] | Callable[[EnvelopeDict], bool] | None

# How many of the most recent envelopes a failure message spells out one by one.
_RECENT = 12


class EventNotSeen(AssertionError):
    """No envelope matched within the timeout; the message lists what was seen instead."""


class CFXEventCollector:
    """A gateway sink that records every envelope, in delivery order, for tests to wait on.

    Args:
        name: the sink name in the outbox (unique among the gateway's sinks).
    """

    def __init__(self, name: str = "cfx_events") -> None:
        self.name = name
        #: Every envelope received, in the order the outbox delivered them.
        self.envelopes: list[EnvelopeDict] = []
        self._arrived = asyncio.Condition()

    async def publish(self, batch: list[StoredEvent]) -> None:
        """Record a batch (the Sink protocol of ``gateway.sinks.base``); never fails."""
        decoded = [orjson.loads(event.payload) for event in batch]
        async with self._arrived:
            self.envelopes.extend(decoded)
            self._arrived.notify_all()

    def __len__(self) -> int:
        return len(self.envelopes)

    def mark(self) -> int:
        """The current position; pass it as ``since=`` to look only at later envelopes."""
        return len(self.envelopes)

    def of(self, message_name: str, *, where: Where = None, source: str | None = None) -> list[EnvelopeDict]:
        """Every envelope received so far with ``message_name`` that matches ``where`` and ``source``."""
        return [e for e in self.envelopes if _matches(e, message_name, where, source)]

    def names(self) -> collections.Counter[str]:
        """How many envelopes of each MessageName arrived so far."""
        return collections.Counter(str(e.get("MessageName")) for e in self.envelopes)

    async def wait_for(
        self,
        message_name: str,
        *,
        where: Where = None,
        source: str | None = None,
        since: int = 0,
        timeout: float = 10.0,
    ) -> EnvelopeDict:
        """Wait for the first envelope (from position ``since`` on) that matches.

        Args:
            message_name: the full CFX MessageName, e.g. ``"CFX.Production.WorkCompleted"``.
            where: body fields that must all be equal (``{"HermesIdentifier": board_id}``), or
                a predicate called with the whole envelope.
            source: the CFX handle the envelope must come from (its ``Source``).
            since: ignore envelopes before this position (see :meth:`mark`).
            timeout: wall-clock seconds to wait.

        Returns:
            The matching envelope as a decoded JSON object.

        Raises:
            EventNotSeen: nothing matched within ``timeout``; the message says what was seen.
        """
        __tracebackhide__ = True  # pytest shows the message, not this frame
        position = since
        try:
            async with asyncio.timeout(timeout), self._arrived:
                while True:
                    for envelope in self.envelopes[position:]:
                        if _matches(envelope, message_name, where, source):
                            return envelope
                    position = len(self.envelopes)
                    await self._arrived.wait()
        except TimeoutError:
            raise EventNotSeen(self._describe_miss(message_name, where, source, since, timeout)) from None

    def _describe_miss(
        self, message_name: str, where: Where, source: str | None, since: int, timeout: float
    ) -> str:
        wanted = message_name
        if where is not None:
            wanted += f" where {_describe_where(where)}"
        if source is not None:
            wanted += f" from {source}"
        seen = self.envelopes[since:]
        lines = [f"no {wanted} within {timeout:g} s; saw {len(seen)} envelope(s) instead"]
        if since:
            lines[0] += f" (after position {since})"
        counts = collections.Counter(str(e.get("MessageName")) for e in seen)
        for name, count in counts.most_common():
            lines.append(f"  {count:>5} x {name}")
        short = message_name.rsplit(".", 1)[-1]
        similar = sorted(n for n in counts if n != message_name and n.rsplit(".", 1)[-1] == short)
        if similar:
            lines.append(f"did you mean {' or '.join(similar)}?")
        same_name = [e for e in seen if e.get("MessageName") == message_name]
        if same_name:
            lines.append(f"the {message_name} seen (the last {min(len(same_name), _RECENT)}):")
            lines += [f"  {_one_line(e)}" for e in same_name[-_RECENT:]]
        else:
            # Heartbeats say little about why an event is missing; leave them out of the tail.
            telling = [e for e in seen if e.get("MessageName") != "CFX.Heartbeat"]
            if telling:
                lines.append(f"the last {min(len(telling), _RECENT)} (heartbeats left out):")
                lines += [f"  {_one_line(e)}" for e in telling[-_RECENT:]]
        return "\n".join(lines)


def _matches(envelope: EnvelopeDict, message_name: str, where: Where, source: str | None) -> bool:
    if envelope.get("MessageName") != message_name:
        return False
    if source is not None and envelope.get("Source") != source:
        return False
    if where is None:
        return True
    if callable(where):
        return bool(where(envelope))
    body = envelope.get("MessageBody") or {}
    return all(key in body and body[key] == value for key, value in where.items())


def _describe_where(where: Mapping[str, Any] | Callable[[EnvelopeDict], bool]) -> str:
    if callable(where):
        return getattr(where, "__qualname__", repr(where))
    return ", ".join(f"{key}={value!r}" for key, value in where.items())


def _one_line(envelope: EnvelopeDict, width: int = 160) -> str:
    body = orjson.dumps(envelope.get("MessageBody"), option=orjson.OPT_SORT_KEYS).decode()
    text = f"{envelope.get('Source')} {envelope.get('MessageName')} {body}"
    return text if len(text) <= width else text[: width - 3] + "..."
