"""The sink interface and the drain loop every sink runs over its outbox cursor."""

from __future__ import annotations

import asyncio
import random
from typing import Protocol

import structlog

from gateway.outbox import Outbox, StoredEvent
from protocols.backoff import full_jitter
from protocols.errors import TransportError

log = structlog.get_logger("linegate.sink")


class Sink(Protocol):
    """Something events are delivered to.

    ``publish`` returns only when every event of the batch is confirmed by the far side, or
    raises ``TransportError`` (the batch is then offered again, so delivery is at-least-once and
    consumers de-duplicate on UniqueID, as CFX intends). A sink may set ``pipeline_depth`` > 1
    when it can take the next batches while earlier ones await their confirms (the AMQP sink);
    the default is one batch at a time, which keeps order even across failures.
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

    Up to ``sink.pipeline_depth`` batches are in flight, issued in put order. A batch is
    acknowledged once its publish and those of every batch issued before it returned; when one
    fails, the batches issued after it are not acknowledged either, so the retry publishes the
    failed events first and everything after them again, in order (docs/delivery.md). A failing
    sink retries with jittered, capped exponential backoff and never drops or skips an event;
    the other sinks are unaffected.
    """
    rng = rng or random.Random()
    depth = max(1, int(getattr(sink, "pipeline_depth", 1)))
    bound = log.bind(sink=sink.name)
    failures = 0
    in_flight: dict[asyncio.Task[None], list[int]] = {}
    flying: set[int] = set()
    try:
        while True:
            while len(in_flight) < depth:
                batch = outbox.next_batch(sink.name, batch_size, skip=flying)
                if not batch:
                    break
                seqs = [event.seq for event in batch]
                flying.update(seqs)
                in_flight[asyncio.create_task(sink.publish(batch), name=f"sink[{sink.name}].publish")] = seqs
            # With the pipeline full only a finished publish matters; otherwise new events too.
            # A finished batch that waits for an earlier one to be acknowledged is no wake-up.
            waiting: set[asyncio.Task[None]] = {task for task in in_flight if not task.done()}
            arrival: asyncio.Task[None] | None = None
            if len(in_flight) < depth:
                arrival = asyncio.create_task(outbox.wait_for_events(sink.name, beyond=len(flying)))
                waiting.add(arrival)
            try:
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if arrival is not None:
                    arrival.cancel()
            failed = await _settle_in_order(outbox, sink.name, in_flight, flying, bound)
            if failed is not None:
                failures += 1
                delay = full_jitter(failures, retry_base, retry_cap, rng)
                bound.warning("sink.publish_failed", error=str(failed), retry_in=round(delay, 3))
                await asyncio.sleep(delay)
            elif failures and done - {arrival}:
                bound.info("sink.recovered", after_failures=failures)
                failures = 0
    finally:
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)


async def _settle_in_order(
    outbox: Outbox,
    sink: str,
    in_flight: dict[asyncio.Task[None], list[int]],
    flying: set[int],
    bound: structlog.typing.FilteringBoundLogger,
) -> TransportError | None:
    """Acknowledge the finished batches at the head of ``in_flight`` (issue order); on the first
    failure, wait for the rest and acknowledge none of them. Returns that failure, if any."""
    while in_flight:
        task, seqs = next(iter(in_flight.items()))
        if not task.done():
            return None
        del in_flight[task]
        flying.difference_update(seqs)
        exc = task.exception()
        if exc is None:
            outbox.ack(sink, seqs)
            continue
        if not isinstance(exc, Exception):
            raise exc
        if not isinstance(exc, TransportError):
            # A sink's own bug: the events stay in the outbox and the other sinks go on.
            bound.error("sink.crashed", error=repr(exc), events=len(seqs), exc_info=exc)
            exc = TransportError(f"sink {sink} failed: {exc!r}")
        # Later batches may have been confirmed meanwhile; acknowledging them would publish the
        # retry behind them. They go again after it (at-least-once, same UniqueIDs).
        await asyncio.gather(*in_flight, return_exceptions=True)
        in_flight.clear()
        flying.clear()
        return exc
    return None
