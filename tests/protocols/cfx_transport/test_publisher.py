"""The aio-pika publisher and subscriber against the real RabbitMQ on 127.0.0.1:5672."""

from __future__ import annotations

import asyncio
import gzip
import json

import aio_pika
import pytest

from protocols.cfx.codec import decode_envelope, encode_envelope, encode_envelopes
from protocols.cfx.envelope import Envelope
from protocols.cfx.messages import EndpointConnected, Heartbeat
from protocols.cfx.transport import CFXPublisher, CFXSubscriber, MalformedMessage, PublisherClosed
from protocols.cfx.transport.wire import DEFAULT_HEARTBEAT
from protocols.errors import TransportError
from tests.protocols.cfx_transport.conftest import BROKER_URL, Broker, BrokerNames

pytestmark = pytest.mark.broker

HANDLE = "AcmeThermal.RF-X10.SN20451"


def heartbeat(handle: str = HANDLE) -> Envelope:
    return Envelope.create(Heartbeat(cfx_handle=handle), source=handle)


async def bound_queue(broker: Broker, pattern: str = "#") -> aio_pika.abc.AbstractQueue:
    names = broker.names
    exchange = await broker.channel.declare_exchange(
        names.exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await broker.channel.declare_queue(names.queue(), durable=True)
    await queue.bind(exchange, pattern)
    return queue


async def take(queue: aio_pika.abc.AbstractQueue, count: int) -> list[aio_pika.abc.AbstractIncomingMessage]:
    got: list[aio_pika.abc.AbstractIncomingMessage] = []
    async with asyncio.timeout(10), queue.iterator() as messages:
        async for message in messages:
            await message.ack()
            got.append(message)
            if len(got) == count:
                break
    return got


async def test_published_message_has_the_cfx_layout(broker: Broker, names: BrokerNames) -> None:
    """Routing key, persistence, content type, message-id and the exact JSON (reference §2.2)."""
    queue = await bound_queue(broker)
    envelope = heartbeat()
    async with CFXPublisher(BROKER_URL, exchange=names.exchange) as publisher:
        await publisher.publish(envelope)
    [message] = await take(queue, 1)
    assert message.routing_key == f"{HANDLE}.CFX.Heartbeat"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.content_type == 'application/json; charset="utf-8"'
    assert message.content_encoding in (None, "")
    assert message.message_id == str(envelope.unique_id)
    assert message.body == encode_envelope(envelope)


async def test_publisher_and_subscriber_negotiate_a_short_heartbeat(
    broker: Broker, names: BrokerNames
) -> None:
    """With no ``heartbeat`` in the URL the broker's 60 s would leave a client on a frozen node
    for three minutes; both ask for DEFAULT_HEARTBEAT, and the broker agrees to it."""
    async with CFXPublisher(BROKER_URL, exchange=names.exchange) as publisher:
        await publisher.publish(heartbeat())
        assert publisher._link is not None
        assert publisher._link.raw.connection.connection_tune.heartbeat == DEFAULT_HEARTBEAT
    async with CFXSubscriber(BROKER_URL, exchange=names.exchange, queue=names.queue()) as subscriber:
        assert subscriber._connection is not None
        underlay = subscriber._connection.transport
        assert underlay is not None
        assert underlay.connection.connection_tune.heartbeat == DEFAULT_HEARTBEAT


async def test_gzip_publisher_sets_content_encoding(broker: Broker, names: BrokerNames) -> None:
    queue = await bound_queue(broker)
    envelope = heartbeat()
    async with CFXPublisher(BROKER_URL, exchange=names.exchange, gzip=True) as publisher:
        await publisher.publish(envelope)
    [message] = await take(queue, 1)
    assert message.content_encoding == "gzip"
    assert gzip.decompress(message.body) == encode_envelope(envelope)


async def test_routing_key_patterns_select_messages(broker: Broker, names: BrokerNames) -> None:
    """A subscriber bound to '*.*.*.CFX.EndpointConnected' gets only that message type."""
    async with (
        CFXPublisher(BROKER_URL, exchange=names.exchange) as publisher,
        CFXSubscriber(
            BROKER_URL, exchange=names.exchange, queue=names.queue(), bindings=["#.CFX.EndpointConnected"]
        ) as subscriber,
    ):
        connected = Envelope.create(EndpointConnected(cfx_handle=HANDLE), source=HANDLE)
        await publisher.publish_many([heartbeat(), connected, heartbeat()])
        async with asyncio.timeout(10):
            got = await anext(subscriber)
        assert got.unique_id == connected.unique_id


async def test_confirms_are_pipelined_through_the_window(broker: Broker, names: BrokerNames) -> None:
    """submit() returns before the confirm while the window has room; all 500 get confirmed."""
    queue = await bound_queue(broker)
    envelopes = [heartbeat() for _ in range(500)]
    async with CFXPublisher(BROKER_URL, exchange=names.exchange, window=64) as publisher:
        await publisher.wait_connected(10)
        futures = [await publisher.submit(envelope) for envelope in envelopes]
        assert not all(future.done() for future in futures[-64:])  # still in flight: not one RTT each
        await asyncio.gather(*futures)
    got = await take(queue, 500)
    assert {m.message_id for m in got} == {str(e.unique_id) for e in envelopes}


async def test_publish_after_close_raises(names: BrokerNames) -> None:
    publisher = CFXPublisher(BROKER_URL, exchange=names.exchange)
    async with publisher:
        pass
    with pytest.raises(PublisherClosed):
        await publisher.publish(heartbeat())


async def test_publisher_waits_without_spinning_while_broker_is_unreachable(names: BrokerNames) -> None:
    """Nothing listens on the port: the publisher backs off instead of looping, and closes cleanly."""
    async with CFXPublisher("amqp://guest:guest@127.0.0.1:1/", exchange=names.exchange) as publisher:
        pending = asyncio.ensure_future(publisher.publish(heartbeat()))
        with pytest.raises(TimeoutError):
            await publisher.wait_connected(0.5)
        assert not pending.done()
        # Backoff floor 0.05 s, growing from 0.1 s: at most a handful of attempts in 0.5 s.
        assert 1 <= publisher.connect_attempts <= 10
    with pytest.raises(PublisherClosed):
        await pending


async def test_subscriber_decodes_raw_gzip_and_batches(broker: Broker, names: BrokerNames) -> None:
    first, second, third = heartbeat(), heartbeat(), heartbeat()
    async with CFXSubscriber(BROKER_URL, exchange=names.exchange, queue=names.queue()) as subscriber:
        exchange = await broker.channel.get_exchange(names.exchange)
        await exchange.publish(aio_pika.Message(encode_envelope(first)), routing_key="a")
        await exchange.publish(
            aio_pika.Message(gzip.compress(encode_envelope(second)), content_encoding="GZip"), routing_key="b"
        )
        await exchange.publish(aio_pika.Message(encode_envelopes([third, first])), routing_key="c")
        async with asyncio.timeout(10):
            got = [await anext(subscriber) for _ in range(4)]
    assert [e.unique_id for e in got] == [first.unique_id, second.unique_id, third.unique_id, first.unique_id]


async def test_subscriber_reports_and_acks_malformed_messages(broker: Broker, names: BrokerNames) -> None:
    """Bad JSON, bad gzip, wrong field types: logged, counted, reported, acked; good ones flow."""
    reports: list[MalformedMessage] = []
    good = heartbeat()
    queue_name = names.queue()
    bad_bodies = [
        (b"{not json", None),
        (b"\x1f\x8b\x08\x00not really gzip", "gzip"),
        (encode_envelope(good), "gzip"),  # flagged gzip but raw
        (json.dumps({"MessageName": "CFX.Heartbeat", "TimeStamp": "noon", "UniqueID": "x"}).encode(), None),
    ]
    async with CFXSubscriber(
        BROKER_URL, exchange=names.exchange, queue=queue_name, on_malformed=reports.append
    ) as subscriber:
        exchange = await broker.channel.get_exchange(names.exchange)
        for body, encoding in bad_bodies:
            await exchange.publish(aio_pika.Message(body, content_encoding=encoding), routing_key="bad")
        await exchange.publish(aio_pika.Message(encode_envelope(good)), routing_key="good")
        async with asyncio.timeout(10):
            got = await anext(subscriber)
        assert got.unique_id == good.unique_id
        assert subscriber.malformed_count == len(bad_bodies)
        assert [r.body for r in reports] == [body for body, _ in bad_bodies]
    # Nothing is left for redelivery: every malformed message was acknowledged.
    queue = await broker.channel.declare_queue(queue_name, durable=True, passive=True)
    assert queue.declaration_result.message_count == 0


async def test_round_trip_publisher_to_subscriber(names: BrokerNames) -> None:
    sent = [heartbeat() for _ in range(50)]
    async with (
        CFXSubscriber(BROKER_URL, exchange=names.exchange, queue=names.queue()) as subscriber,
        CFXPublisher(BROKER_URL, exchange=names.exchange, gzip=True) as publisher,
    ):
        await publisher.publish_many(sent)
        async with asyncio.timeout(10):
            got = [await anext(subscriber) for _ in sent]
    assert [decode_envelope(encode_envelope(e)) for e in got] == got
    assert [e.unique_id for e in got] == [e.unique_id for e in sent]


async def test_subscriber_fails_fast_when_the_broker_is_unreachable(names: BrokerNames) -> None:
    """Entering needs the queue declared and bound, so a first connect failure is raised."""
    with pytest.raises(TransportError, match="cannot subscribe"):
        async with CFXSubscriber("amqp://guest:guest@127.0.0.1:1/", exchange=names.exchange, queue="q"):
            pass
