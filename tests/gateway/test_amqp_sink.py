"""The AMQP sink drains the outbox to the real RabbitMQ: a connection cut mid-batch loses nothing
and keeps each source's order; a message the broker nacks stays in the outbox until it is taken."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import orjson
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

from gateway.outbox import Outbox, OutboxItem, Priority, StoredEvent
from gateway.sinks.amqp import AmqpSink
from gateway.sinks.base import drain
from protocols.cfx.transport import Backoff, CFXPublisher
from protocols.errors import TransportError
from tests.support.tcpproxy import TcpProxy

pytestmark = pytest.mark.broker

BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"
SOURCES = ("Acme.Oven.1", "Acme.Placer.2", "Acme.Coater.3")


def item(source: str, n: int, priority: Priority = Priority.BULK) -> OutboxItem:
    uid = f"{source}-{n}"
    body = orjson.dumps({"MessageName": "CFX.Heartbeat", "UniqueID": uid, "Source": source, "N": n})
    return OutboxItem(source, "CFX.Heartbeat", uid, body, priority)


@dataclass
class Topology:
    """A per-test exchange and queue on the broker, deleted afterwards."""

    channel: AbstractChannel
    exchange: str
    queue: AbstractQueue


@pytest.fixture
async def topology(request: pytest.FixtureRequest) -> AsyncIterator[Topology]:
    name = f"linegate-test.amqp-sink.{uuid.uuid4().hex[:8]}.{request.node.name[:40]}"
    connection = await aio_pika.connect(BROKER_URL)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(name, durable=True)
        await queue.bind(exchange, "#")
        yield Topology(channel, name, queue)
        await channel.queue_delete(name)
        await channel.queue_delete(f"{name}.full")  # a test's extra queue, if it made one
        await channel.exchange_delete(name)
    finally:
        await connection.close()


class CountingBackoff(Backoff):
    """The publisher's backoff, which also wakes a waiter after each failed connect attempt."""

    def __init__(self) -> None:
        super().__init__(base=0.05, cap=0.2)
        self.failed = asyncio.Event()

    def next_delay(self) -> float:
        self.failed.set()
        return super().next_delay()


class Received:
    """UniqueIDs consumed from the queue in arrival order, with a wait on a condition."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.changed = asyncio.Condition()

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        await message.ack()
        self.ids.append(orjson.loads(message.body)["UniqueID"])
        async with self.changed:
            self.changed.notify_all()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 20) -> None:
        async with asyncio.timeout(timeout), self.changed:
            await self.changed.wait_for(predicate)


class Watched:
    """Wraps the AMQP sink and counts failed publishes, waking waiters after each attempt."""

    def __init__(self, inner: AmqpSink) -> None:
        self.inner = inner
        self.name = inner.name
        self.pipeline_depth = inner.pipeline_depth
        self.failures: list[TransportError] = []
        self.changed = asyncio.Condition()

    async def publish(self, batch: list[StoredEvent]) -> None:
        try:
            await self.inner.publish(batch)
        except TransportError as exc:
            self.failures.append(exc)
            raise
        finally:
            async with self.changed:
                self.changed.notify_all()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 20) -> None:
        async with asyncio.timeout(timeout), self.changed:
            await self.changed.wait_for(predicate)


async def test_a_cut_mid_batch_loses_nothing_and_keeps_per_source_order(
    topology: Topology, tmp_path: Path
) -> None:
    """Several pipelined batches are on the wire when the connection drops, and the broker stays
    unreachable for a failed reconnect attempt (backoff); once it is back every event arrives,
    the first copy of each in its source's order, and the outbox is empty."""
    received = Received()
    await topology.queue.consume(received.on_message)
    events = [item(SOURCES[n % 3], n) for n in range(4000)]
    async with (
        Outbox(tmp_path / "o.sqlite", sinks=["amqp"]) as outbox,
        TcpProxy("127.0.0.1", 5672) as proxy,
    ):
        url = f"amqp://guest:guest@127.0.0.1:{proxy.port}/"
        backoff = CountingBackoff()
        async with CFXPublisher(url, exchange=topology.exchange, window=128, backoff=backoff) as pub:
            draining = asyncio.create_task(drain(outbox, AmqpSink(pub), batch_size=100, retry_base=0.05))
            try:
                await outbox.put_many(events)
                await received.wait_until(lambda: len(received.ids) >= 500)
                assert outbox.depth("amqp") > 1000  # still mid-drain
                proxy.cut()
                await asyncio.wait_for(backoff.failed.wait(), 10)  # a reconnect was refused
                proxy.restore()
                await asyncio.wait_for(outbox.wait_empty(), 30)
            finally:
                draining.cancel()
                await asyncio.gather(draining, return_exceptions=True)
            assert pub.reconnects >= 1
    await received.wait_until(lambda: set(received.ids) >= {e.unique_id for e in events})
    first_copies = list(dict.fromkeys(received.ids))
    for source in SOURCES:
        assert [i for i in first_copies if i.startswith(source)] == [
            e.unique_id for e in events if e.source == source
        ]


async def test_a_nacked_event_stays_in_the_outbox_until_the_broker_takes_it(
    topology: Topology, tmp_path: Path
) -> None:
    """A second queue that rejects every publish (max length 0, overflow reject-publish) makes
    the broker nack: the sink's publish fails, nothing is acknowledged, and once that queue is
    gone the events are delivered."""
    full = await topology.channel.declare_queue(
        f"{topology.exchange}.full", arguments={"x-max-length": 0, "x-overflow": "reject-publish"}
    )
    await full.bind(topology.exchange, "#")
    events = [item("Acme.Oven.1", n) for n in range(3)]
    async with (
        Outbox(tmp_path / "o.sqlite", sinks=["amqp"]) as outbox,
        CFXPublisher(BROKER_URL, exchange=topology.exchange) as pub,
    ):
        sink = Watched(AmqpSink(pub))
        draining = asyncio.create_task(drain(outbox, sink, retry_base=0.05, retry_cap=0.2))
        try:
            await outbox.put_many(events)
            await sink.wait_until(lambda: len(sink.failures) >= 2)  # nacked, retried, nacked again
            assert "refused message Acme.Oven.1-0" in str(sink.failures[0])
            assert [e.unique_id for e in outbox.next_batch("amqp")] == [e.unique_id for e in events]
            await full.delete(if_unused=False, if_empty=False)
            await asyncio.wait_for(outbox.wait_empty(), 20)
        finally:
            draining.cancel()
            await asyncio.gather(draining, return_exceptions=True)
    taken: set[str] = set()
    while (message := await topology.queue.get(fail=False, timeout=5)) is not None:
        await message.ack()
        taken.add(orjson.loads(message.body)["UniqueID"])
    assert taken == {e.unique_id for e in events}
