"""The batch path of CFXPublisher against the real RabbitMQ: a connection cut in the middle of a
batch (through a TCP proxy), a broker nack, and a mandatory message no queue takes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from pamqp.common import FieldTable

from protocols.cfx.transport import (
    Backoff,
    CFXPublisher,
    EncodedMessage,
    PublisherClosed,
    PublishError,
    PublishReturned,
)
from tests.protocols.cfx_transport.conftest import BROKER_URL, Broker, BrokerNames
from tests.support.tcpproxy import TcpProxy

pytestmark = pytest.mark.broker

SOURCES = ("Acme.Oven.1", "Acme.Placer.2")


def messages(count: int) -> list[EncodedMessage]:
    """``count`` messages alternating between two sources, numbered per source in the body."""
    out = []
    for n in range(count):
        source = SOURCES[n % 2]
        body = b'{"N":%d,"Source":"%s"}' % (n, source.encode())
        out.append(EncodedMessage(body, f"{source}.CFX.Heartbeat", f"{source}-{n}"))
    return out


async def bound_queue(broker: Broker, arguments: FieldTable | None = None) -> AbstractQueue:
    exchange = await broker.channel.declare_exchange(
        broker.names.exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await broker.channel.declare_queue(broker.names.queue(), durable=True, arguments=arguments)
    await queue.bind(exchange, "#")
    return queue


class Received:
    """Message ids consumed from a queue, in arrival order, with a wait on a condition."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.changed = asyncio.Condition()

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        await message.ack()
        self.ids.append(str(message.message_id))
        async with self.changed:
            self.changed.notify_all()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 20) -> None:
        async with asyncio.timeout(timeout), self.changed:
            await self.changed.wait_for(predicate)


async def test_a_connection_cut_mid_batch_loses_nothing_and_keeps_per_source_order(broker: Broker) -> None:
    """The batch outlives the cut: what was unconfirmed is sent again, oldest first, so the first
    copy of every message arrives in the order it was submitted, per source."""
    queue = await bound_queue(broker)
    received = Received()
    await queue.consume(received.on_message)
    sent = messages(3000)
    async with TcpProxy("127.0.0.1", 5672) as proxy:
        url = f"amqp://guest:guest@127.0.0.1:{proxy.port}/"
        async with CFXPublisher(
            url, exchange=broker.names.exchange, window=64, backoff=Backoff(0.05, 0.2)
        ) as pub:
            await pub.wait_connected(10)
            batch = asyncio.create_task(pub.publish_raw_many(sent))
            await received.wait_until(lambda: len(received.ids) >= 300)
            assert not batch.done()
            proxy.cut()  # both sides of the connection are dropped, frames in flight with them
            proxy.restore()
            await asyncio.wait_for(batch, 30)
            assert pub.reconnects >= 1
            assert proxy.accepted >= 2
    await received.wait_until(lambda: set(received.ids) >= {m.message_id for m in sent})
    first_copies = list(dict.fromkeys(received.ids))
    for source in SOURCES:
        expected = [m.message_id for m in sent if m.message_id.startswith(source)]
        assert [i for i in first_copies if i.startswith(source)] == expected


async def test_a_nacked_message_fails_its_batch_with_publish_error(broker: Broker) -> None:
    """A queue full with overflow=reject-publish makes the broker nack: the batch raises, the
    message that was taken is still confirmed to the queue."""
    queue = await bound_queue(broker, {"x-max-length": 1, "x-overflow": "reject-publish"})
    first, second = messages(2)
    async with CFXPublisher(BROKER_URL, exchange=broker.names.exchange) as publisher:
        with pytest.raises(PublishError, match=f"refused message {second.message_id}") as raised:
            await publisher.publish_raw_many([first, second])
        assert not isinstance(raised.value, PublishReturned)
        # Once there is room again the same message is taken.
        await queue.purge()
        await publisher.publish_raw_many([second])
    message = await queue.get(timeout=5)
    assert message.message_id == second.message_id


async def test_an_unroutable_mandatory_message_is_returned_not_dropped(
    broker: Broker, names: BrokerNames
) -> None:
    """With mandatory on, a message no queue is bound for fails with PublishReturned; once a
    queue is bound the same message is delivered."""
    message = messages(4)[3]
    async with CFXPublisher(BROKER_URL, exchange=names.exchange, mandatory=True) as publisher:
        with pytest.raises(PublishReturned, match=message.message_id):
            await publisher.publish_raw_many([message])
        queue = await bound_queue(broker)
        await publisher.publish_raw_many([message])
        # Returns and confirms interleave on one channel: a run of both settles each one right.
        await queue.unbind(names.exchange, "#")
        unroutable = messages(3)
        await queue.bind(names.exchange, f"{SOURCES[0]}.#")
        with pytest.raises(PublishReturned, match=unroutable[1].message_id):
            await publisher.publish_raw_many(unroutable)
    got = [await queue.get(timeout=5) for _ in range(3)]
    assert [m.message_id for m in got] == [
        message.message_id,
        unroutable[0].message_id,
        unroutable[2].message_id,
    ]


async def test_close_lets_messages_on_the_wire_be_confirmed(broker: Broker) -> None:
    """Closing right after a submit run waits for the confirms of what was written: every
    message is confirmed, none fails with PublisherClosed."""
    queue = await bound_queue(broker)
    sent = messages(500)
    async with CFXPublisher(BROKER_URL, exchange=broker.names.exchange, window=64) as publisher:
        await publisher.wait_connected(10)
        futures = [
            await publisher.submit_raw(m.body, routing_key=m.routing_key, message_id=m.message_id)
            for m in sent
        ]
        assert not all(future.done() for future in futures)  # the close below has some to wait for
    await asyncio.gather(*futures)
    assert (await queue.declare()).message_count == len(sent)


async def test_a_cancelled_batch_is_not_sent_and_close_does_not_wait_for_it(names: BrokerNames) -> None:
    """While the broker is unreachable a cancelled publish leaves nothing behind: close returns
    without a grace period and a later publish is refused as closed."""
    publisher = CFXPublisher("amqp://guest:guest@127.0.0.1:1/", exchange=names.exchange, connect_timeout=30)
    async with publisher:
        pending = asyncio.create_task(publisher.publish_raw_many(messages(10)))
        with pytest.raises(TimeoutError):
            await publisher.wait_connected(0.2)
        assert not pending.done()
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        async with asyncio.timeout(5):  # far below connect_timeout: no grace while unconnected
            await publisher.aclose()
    with pytest.raises(PublisherClosed):
        await publisher.publish_raw_many(messages(1))


async def test_large_messages_are_split_into_body_frames_the_broker_accepts(broker: Broker) -> None:
    """Bodies larger than the negotiated frame size, more than one write's worth in a run:
    the broker reassembles each one exactly."""
    queue = await bound_queue(broker)
    sent = [
        EncodedMessage(bytes([n]) * (400_000 + n), f"{SOURCES[0]}.CFX.Heartbeat", f"big-{n}")
        for n in range(6)
    ]
    async with CFXPublisher(BROKER_URL, exchange=broker.names.exchange) as publisher:
        await publisher.publish_raw_many(sent)
    got = [await queue.get(timeout=5) for _ in sent]
    assert [(m.message_id, m.body) for m in got] == [(m.message_id, m.body) for m in sent]
