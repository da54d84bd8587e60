"""``linegate trace serve``'s consumer on the real broker: ack after commit, outages lose nothing."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aio_pika
import aiormq
import pytest

from gateway.trace import SqliteStore, Store
from gateway.trace import queries as q
from gateway.trace.consumer import TraceConsumer
from gateway.trace.store import PostgresStore, Sql, Work
from protocols.cfx import Envelope, encode_envelope
from protocols.cfx.transport import Backoff
from tests.gateway.trace.conftest import PG_DSN, recorded_line
from tests.support.tcpproxy import TcpProxy

pytestmark = pytest.mark.broker

BROKER = "amqp://guest:guest@127.0.0.1:5672/"


class Names:
    """An exchange and a queue of this test's own, deleted afterwards."""

    def __init__(self, test: str) -> None:
        tag = f"{uuid.uuid4().hex[:8]}.{test[:40]}"
        self.exchange = f"linegate-test.trace.{tag}"
        self.queue = f"linegate-test.trace-q.{tag}"


@pytest.fixture
async def names(request: pytest.FixtureRequest) -> AsyncIterator[Names]:
    """Unique broker names; the queue and exchange are deleted after the test."""
    made = Names(request.node.name)
    yield made
    connection = await aio_pika.connect(BROKER)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(made.queue)
        await channel.exchange_delete(made.exchange)


async def _publish(exchange_name: str, envelopes: list[Envelope]) -> None:
    connection = await aio_pika.connect(BROKER)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
        for envelope in envelopes:
            key = f"{envelope.source}.{envelope.message_name}"
            await exchange.publish(aio_pika.Message(encode_envelope(envelope)), routing_key=key)


def _count() -> Work[int]:
    rows = yield Sql("SELECT COUNT(*) FROM trace_envelope")
    return int(rows[0][0])


async def _until(consumer: TraceConsumer, done: Callable[[], bool], timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not done():
            await consumer.committed.wait()


@contextlib.asynccontextmanager
async def running(consumer: TraceConsumer) -> AsyncIterator[TraceConsumer]:
    """The consumer running until the block ends, consuming once the block starts."""
    task = asyncio.create_task(consumer.run())
    try:
        await asyncio.wait_for(consumer.ready.wait(), 10)
        yield consumer
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _consumer(store: Store, names: Names, url: str | list[str] = BROKER, **options: object) -> TraceConsumer:
    return TraceConsumer(
        store,
        url,
        queue=names.queue,
        exchange=names.exchange,
        batch=25,
        backoff=Backoff(base=0.05, cap=0.2),
        **options,  # type: ignore[arg-type]
    )


async def test_the_stream_reaches_the_store_through_a_quorum_queue(tmp_path: Path, names: Names) -> None:
    """Published envelopes (one of them twice) are stored once each and answer a genealogy query."""
    envelopes = recorded_line()
    async with SqliteStore(tmp_path / "trace.db") as store:
        consumer = _consumer(store, names, quorum=True)
        async with running(consumer):
            await _publish(names.exchange, [*envelopes, envelopes[0]])
            await _until(
                consumer, lambda: consumer.stats.stored + consumer.stats.duplicates >= len(envelopes) + 1
            )
        assert (consumer.stats.stored, consumer.stats.duplicates) == (len(envelopes), 1)
        assert len(await store.run(lambda: q.find_boards("PCB000005"))) == 1
    # The queue it declared is a quorum queue: a classic declaration of the same name is refused.
    connection = await aio_pika.connect(BROKER)
    async with connection:
        channel = await connection.channel()
        with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed):
            await channel.declare_queue(names.queue, durable=True)


async def test_a_malformed_delivery_is_logged_acked_and_skipped(tmp_path: Path, names: Names) -> None:
    """A body that is not CFX does not block the queue: the envelopes after it are stored."""
    envelopes = recorded_line()[:5]
    async with SqliteStore(tmp_path / "trace.db") as store:
        consumer = _consumer(store, names)
        async with running(consumer):
            connection = await aio_pika.connect(BROKER)
            async with connection:
                channel = await connection.channel()
                exchange = await channel.get_exchange(names.exchange)
                await exchange.publish(aio_pika.Message(b"{not json"), routing_key="x.y")
            await _publish(names.exchange, envelopes)
            await _until(consumer, lambda: consumer.stats.stored >= len(envelopes))
        assert consumer.stats.malformed == 1
        assert await store.run(_count) == len(envelopes)


async def test_postgresql_down_stops_acking_and_nothing_is_lost(names: Names) -> None:
    """PostgreSQL cut off: the consumer retries and acks nothing; a consumer killed meanwhile
    leaves every delivery in the queue; once the database is back, every envelope is stored once."""
    psycopg = pytest.importorskip("psycopg")
    schema = f"trace_{uuid.uuid4().hex[:12]}"
    admin = await psycopg.AsyncConnection.connect(PG_DSN, autocommit=True)
    await admin.execute(f"CREATE SCHEMA {schema}")
    envelopes = recorded_line()
    first, second = envelopes[:40], envelopes[40:]
    try:
        async with TcpProxy("127.0.0.1", 5432) as proxy:
            # In a libpq string the last value of a key wins: the proxy's port.
            dsn = f"{PG_DSN} port={proxy.port} options='-c search_path={schema}'"
            async with PostgresStore(dsn, connect_timeout=2) as store:
                consumer = _consumer(store, names)
                async with running(consumer):
                    await _publish(names.exchange, first)
                    await _until(consumer, lambda: consumer.stats.stored >= len(first))
                    proxy.cut()
                    await _publish(names.exchange, second)
                    await asyncio.wait_for(consumer.store_down.wait(), 20)
                    stored_while_down = consumer.stats.stored
                    # leaving the block: the gateway dies while the database is down
                assert stored_while_down == len(first)
                proxy.restore()
                async with running(_consumer(store, names)) as restarted:
                    await _until(restarted, lambda: restarted.stats.stored >= len(second))
                assert await store.run(_count) == len(envelopes)
                assert len(await store.run(lambda: q.material_boards("REEL-RES-10K-0402-1-01-0001"))) == 6
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


async def test_a_second_consumer_is_a_standby_that_takes_over(tmp_path: Path, names: Names) -> None:
    """Two `trace serve` on one queue: one writes, the other waits, and takes over when it goes."""
    envelopes = recorded_line()
    first, second = envelopes[:30], envelopes[30:60]
    async with SqliteStore(tmp_path / "trace.db") as store:
        active, standby = _consumer(store, names), _consumer(store, names)
        tasks = [asyncio.create_task(active.run())]
        try:
            await asyncio.wait_for(active.ready.wait(), 10)
            tasks.append(asyncio.create_task(standby.run()))
            await asyncio.wait_for(standby.ready.wait(), 10)
            await _publish(names.exchange, first)
            await _until(active, lambda: active.stats.stored >= len(first))
            assert standby.stats.deliveries == 0
            tasks[0].cancel()
            await asyncio.gather(tasks[0], return_exceptions=True)
            await _publish(names.exchange, second)
            await _until(standby, lambda: standby.stats.stored >= len(second))
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        assert await store.run(_count) == len(first) + len(second)


async def test_a_lost_node_is_left_for_the_next_one_and_nothing_is_lost(tmp_path: Path, names: Names) -> None:
    """Two broker addresses (two proxies of one broker standing in for two cluster nodes): when
    the first goes away mid-stream the consumer goes on through the second, every envelope stored."""
    envelopes = recorded_line()
    first, second = envelopes[:30], envelopes[30:60]
    async with (
        SqliteStore(tmp_path / "trace.db") as store,
        TcpProxy("127.0.0.1", 5672) as node_a,
        TcpProxy("127.0.0.1", 5672) as node_b,
    ):
        urls = [f"amqp://guest:guest@127.0.0.1:{proxy.port}/" for proxy in (node_a, node_b)]
        consumer = _consumer(store, names, url=urls)
        async with running(consumer):
            assert consumer.node == urls[0]
            await _publish(names.exchange, first)
            await _until(consumer, lambda: consumer.stats.stored >= len(first))
            node_a.cut()  # the node dies: its connections drop and it refuses new ones
            await _publish(names.exchange, second)
            await _until(consumer, lambda: consumer.stats.stored >= len(first) + len(second))
        assert consumer.node == urls[1]
        assert await store.run(_count) == len(first) + len(second)


async def test_a_deleted_queue_is_declared_again_and_consumed(tmp_path: Path, names: Names) -> None:
    """The broker cancels the consumer when its queue goes (deleted, or a classic queue's node
    lost): the consumer starts a new session, declaring the queue again, and goes on."""
    envelopes = recorded_line()
    first, second = envelopes[:20], envelopes[20:40]
    async with SqliteStore(tmp_path / "trace.db") as store:
        consumer = _consumer(store, names)
        async with running(consumer):
            await _publish(names.exchange, first)
            await _until(consumer, lambda: consumer.stats.stored >= len(first))
            again = asyncio.create_task(consumer.started.wait())
            connection = await aio_pika.connect(BROKER)
            async with connection:
                await (await connection.channel()).queue_delete(names.queue)
            await asyncio.wait_for(again, 20)
            await _publish(names.exchange, second)
            await _until(consumer, lambda: consumer.stats.stored >= len(first) + len(second))
        assert await store.run(_count) == len(first) + len(second)
