"""The whole northbound path: observations → normalizer → SQLite outbox → confirmed AMQP publish,
against a bare aio-pika confirmed publish of the same envelopes (same run, same broker, same
confirm window). A third row times CFXPublisher alone on the same envelopes (encoded in the
loop, no normalizer, no outbox), so the cost of durability shows apart from the publisher's.

Needs RabbitMQ on 127.0.0.1:5672. Each side publishes to its own fresh durable topic exchange
bound to a durable queue (so every message is persisted before its confirm); both are deleted at
the end. The sides alternate for ROUNDS rounds and the best round of each counts.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aio_pika
import structlog

from adapters import observations as obs
from adapters.base import Adapter, Emit, RecipeInfo
from gateway.normalize import MachineNormalizer
from gateway.outbox import Outbox
from gateway.runtime import MachineRuntime
from gateway.sinks.amqp import AmqpSink
from gateway.sinks.base import drain
from protocols.cfx import Envelope, encode_envelope
from protocols.cfx.transport import CFXPublisher
from protocols.cfx.transport.wire import CONTENT_TYPE, routing_key

BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"
WINDOW = 256
BOARDS = 1_000  # five events per board: arrived, started, processed, completed, departed
ROUNDS = 3
HANDLE = "Bench.Reflow.1"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class _Idle(Adapter):
    """The bench feeds observations itself; this adapter never connects."""

    async def _session(self, emit: Emit) -> None:
        raise NotImplementedError

    async def activate_recipe(self, name: str, revision: str | None = None) -> obs.RecipeActivated:
        raise NotImplementedError

    async def active_recipe(self) -> RecipeInfo | None:
        return None

    async def available_recipes(self) -> list[RecipeInfo]:
        return []


def observations() -> list[obs.Observation]:
    """A realistic oven stream: per board the unit flow, the work and 8-zone reflow data."""
    out: list[obs.Observation] = []
    zones = tuple(
        obs.ZoneReading(z, 150.0 + 10 * z, 150.0 + 10 * z, 149.5 + 10 * z, 150.4 + 10 * z)
        for z in range(1, 9)
    )
    for n in range(BOARDS):
        board = str(uuid.UUID(int=n + 1))
        at = T0 + timedelta(seconds=n)
        out += [
            obs.BoardArrived(machine_id="oven", at=at, board_id=board, barcode=f"SN{n:06d}", lane=1),
            obs.WorkStarted(machine_id="oven", at=at, board_id=board, barcode=f"SN{n:06d}", lane=1),
            obs.ReflowProcessData(
                machine_id="oven", at=at, board_id=board, zones=zones, conveyor_speed=80.0, o2_ppm=900.0
            ),
            obs.WorkFinished(machine_id="oven", at=at, board_id=board, barcode=f"SN{n:06d}", lane=1),
            obs.BoardDeparted(machine_id="oven", at=at, board_id=board, barcode=f"SN{n:06d}", lane=1),
        ]
    return out


async def _declare(name: str) -> None:
    connection = await aio_pika.connect(BROKER_URL)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(name, durable=True)
        await queue.bind(exchange, "#")


async def _delete(name: str) -> None:
    connection = await aio_pika.connect(BROKER_URL)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(name)
        await channel.exchange_delete(name)


async def pipeline(exchange: str, stream: list[obs.Observation], folder: Path) -> float:
    """events/s from the first observation to the last broker confirm."""
    path = folder / f"{uuid.uuid4().hex}.sqlite"
    async with (
        Outbox(path, sinks=["amqp"]) as outbox,
        CFXPublisher(BROKER_URL, exchange=exchange, window=WINDOW) as pub,
    ):
        await pub.wait_connected(10)
        runtime = MachineRuntime("oven", HANDLE, _Idle("oven"), outbox, "refuse")
        draining = asyncio.create_task(drain(outbox, AmqpSink(pub), batch_size=WINDOW))
        start = time.perf_counter()
        for observation in stream:
            await runtime.record(observation)
        await outbox.wait_empty()
        elapsed = time.perf_counter() - start
        draining.cancel()
        await asyncio.gather(draining, return_exceptions=True)
    return runtime.events / elapsed


async def bare(exchange: str, envelopes: list[Envelope]) -> float:
    """events/s of a plain aio-pika confirm loop over the same envelopes (encoded in the loop)."""
    connection = await aio_pika.connect(BROKER_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        ex = await channel.get_exchange(exchange)
        window = asyncio.Semaphore(WINDOW)
        tasks = []

        async def one(envelope: Envelope) -> None:
            try:
                assert envelope.source is not None
                message = aio_pika.Message(
                    encode_envelope(envelope),
                    content_type=CONTENT_TYPE,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=str(envelope.unique_id),
                )
                await ex.publish(message, routing_key(envelope.source, envelope.message_name))
            finally:
                window.release()

        start = time.perf_counter()
        for envelope in envelopes:
            await window.acquire()
            tasks.append(asyncio.create_task(one(envelope)))
        await asyncio.gather(*tasks)
        return len(envelopes) / (time.perf_counter() - start)


async def publisher_only(exchange: str, envelopes: list[Envelope]) -> float:
    """events/s of CFXPublisher.publish_many over the same envelopes (encoded in the loop)."""
    async with CFXPublisher(BROKER_URL, exchange=exchange, window=WINDOW) as pub:
        await pub.wait_connected(10)
        start = time.perf_counter()
        await pub.publish_many(envelopes)
        return len(envelopes) / (time.perf_counter() - start)


async def main() -> None:
    logging.disable(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    stream = observations()
    normalizer = MachineNormalizer(HANDLE)
    envelopes = [e for o in stream for e in normalizer.feed(o)]
    size = sum(len(encode_envelope(e)) for e in envelopes) / len(envelopes)
    names = [f"bench-{side}-{uuid.uuid4().hex[:6]}" for side in ("pipe", "bare", "pub")]
    for name in names:
        await _declare(name)
    ours, theirs, publisher = [], [], []
    try:
        with tempfile.TemporaryDirectory() as folder:
            for _ in range(ROUNDS):
                ours.append(await pipeline(names[0], stream, Path(folder)))
                theirs.append(await bare(names[1], envelopes))
                publisher.append(await publisher_only(names[2], envelopes))
    finally:
        for name in names:
            await _delete(name)
    print(f"{len(envelopes)} events per round ({size:.0f} bytes average), window {WINDOW}, {ROUNDS} rounds")
    print(f"{'path':<55}{'best ev/s':>11}{'median ev/s':>13}{'best/best':>11}{'med/med':>9}")
    for label, rates in (
        ("observations -> normalizer -> outbox -> AMQP confirm", ours),
        ("bare aio-pika confirmed publish of the same envelopes", theirs),
        ("CFXPublisher alone, same envelopes (no outbox)", publisher),
    ):
        best, median = max(rates), statistics.median(rates)
        ratio_best, ratio_median = best / max(theirs), median / statistics.median(theirs)
        print(f"{label:<55}{best:>11,.0f}{median:>13,.0f}{ratio_best:>10.2f}x{ratio_median:>8.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
