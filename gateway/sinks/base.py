"""The sink interface and the drain loop every sink runs over its outbox cursor."""

from __future__ import annotations

import asyncio
import random
from typing import Protocol

import structlog

from gateway.outbox import Outbox, StoredEvent
from protocols.errors import TransportError

log = structlog.get_logger("linegate.sink")


class Sink(Protocol):
    """Something events are delivered to.

    ``publish`` returns only when every event of the batch is confirmed by the far side, or
    raises ``TransportError`` (the batch is then offered again, so delivery is at-least-once and
    consumers de-duplicate on UniqueID, as CFX intends).
    """

    name: str

    async def publish(self, batch: list[StoredEvent]) -> None: ...


async def drain(
    outbox: Outbox,
    sink: Sink,
    *,
    batch_size: int = 256,
    retry_base: float = 0.2,
    retry_cap: float = 10.0,
    rng: random.Random | None = None,
) -> None:
    """Deliver ``sink``'s share of the outbox until cancelled.

    A failing sink retries with jittered, capped exponential backoff and never drops or skips an
    event; the other sinks are unaffected.
    """
    rng = rng or random.Random()
    failures = 0
    bound = log.bind(sink=sink.name)
    while True:
        await outbox.wait_for_events(sink.name)
        batch = outbox.next_batch(sink.name, batch_size)
        try:
            await sink.publish(batch)
        except TransportError as exc:
            failures += 1
            delay = max(
                retry_base / 4, rng.uniform(0, min(retry_cap, retry_base * 2 ** min(failures - 1, 32)))
            )
            bound.warning("sink.publish_failed", error=str(exc), events=len(batch), retry_in=round(delay, 3))
            await asyncio.sleep(delay)
            continue
        if failures:
            bound.info("sink.recovered", after_failures=failures)
            failures = 0
        outbox.ack(sink.name, [event.seq for event in batch])
