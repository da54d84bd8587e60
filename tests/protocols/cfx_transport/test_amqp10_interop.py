"""AMQP 1.0 interop: CFX SDK-style peers (python-qpid-proton) meet our transports via RabbitMQ,
and AMQP 1.0 publishing straight to our listener with no broker in between."""

from __future__ import annotations

import asyncio
import gzip
import uuid
from typing import Any

import aio_pika
import pytest
from proton import Message, Terminus
from proton.reactor import LinkOption
from proton.utils import BlockingConnection

from protocols.cfx.codec import decode_envelope, encode_envelope
from protocols.cfx.envelope import Envelope
from protocols.cfx.messages import Heartbeat
from protocols.cfx.transport import (
    ADDRESS_V1,
    AMQP10Publisher,
    CFXListener,
    CFXPublisher,
    CFXSubscriber,
)
from protocols.cfx.transport.amqp10 import body_bytes, content_encoding_of
from protocols.errors import TransportError
from tests.protocols.cfx_transport.conftest import BROKER_URL, Broker, BrokerNames

HANDLE = "KNS.iFlex.DC017580"
AMQP10_URL = "amqp://guest:guest@127.0.0.1:5672"


def heartbeat() -> Envelope:
    return Envelope.create(Heartbeat(cfx_handle=HANDLE), source=HANDLE)


def _blocking(url: str) -> BlockingConnection:
    return BlockingConnection(url, timeout=10, allowed_mechs="PLAIN", allow_insecure_mechs=True)


class _DurableSource(LinkOption):
    """reference §2.1: the SDK's receiver sets Source.Durable = 1 (configuration).

    RabbitMQ 3.x declares /queue/<q> with durable = (source durability != none), so a
    non-durable source on a durable queue is refused with PRECONDITION_FAILED (reference §6.1).
    """

    def apply(self, link: Any) -> None:
        link.source.durability = Terminus.CONFIGURATION


def receive_from_queue(address: str, count: int) -> list[Message]:
    """An SDK-style subscribe channel: a receiver link whose name and source are the address."""
    connection = _blocking(AMQP10_URL)
    try:
        receiver = connection.create_receiver(address, name=address, credit=300, options=_DurableSource())
        got = []
        for _ in range(count):
            got.append(receiver.receive(timeout=10))
            receiver.accept()
        return got
    finally:
        connection.close()


def send_to_address(address: str, messages: list[Message]) -> None:
    """An SDK-style publish channel: a sender link whose name and target are the address."""
    connection = _blocking(AMQP10_URL)
    try:
        sender = connection.create_sender(address, name=address)
        for message in messages:
            sender.send(message, timeout=10)
    finally:
        connection.close()


@pytest.mark.broker
async def test_amqp10_receiver_gets_our_events_as_one_data_section(
    broker: Broker, names: BrokerNames
) -> None:
    """What a CFX SDK subscriber reads from /queue/<q>: a binary Data section with the exact JSON."""
    exchange = await broker.channel.declare_exchange(
        names.exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await broker.channel.declare_queue(names.queue(), durable=True)
    await queue.bind(exchange, "#")
    sent = [heartbeat(), heartbeat()]
    async with CFXPublisher(BROKER_URL, exchange=names.exchange) as publisher:
        await publisher.publish_many(sent)
    got = await asyncio.to_thread(receive_from_queue, ADDRESS_V1.queue_address(queue.name), 2)
    for message, envelope in zip(got, sent, strict=True):
        assert message.inferred, "body must be a Data section, not an AmqpValue"
        assert isinstance(message.body, bytes | memoryview)
        assert _body(message) == encode_envelope(envelope)
        assert message.content_type == 'application/json; charset="utf-8"'
        assert message.id == str(envelope.unique_id)


def _cfx_message(envelope: Envelope, compress: bool) -> Message:
    data = encode_envelope(envelope)
    message = Message(body=gzip.compress(data) if compress else data, inferred=True)
    fields: Any = message
    fields.durable = True
    fields.id = str(envelope.unique_id)
    fields.subject = f"{HANDLE}.CFX.Heartbeat"
    fields.content_type = 'application/json; charset="utf-8"'
    if compress:
        fields.content_encoding = "gzip"
    fields.properties = {"cfx-topic": "CFX", "cfx-message": "CFX.Heartbeat", "cfx-handle": HANDLE}
    return message


@pytest.mark.broker
@pytest.mark.parametrize("compress", [True, False], ids=["gzip", "raw"])
async def test_amqp10_sender_to_exchange_reaches_our_subscriber(names: BrokerNames, compress: bool) -> None:
    """A proton sender publishing to /exchange/<x>/<routing key>, gzipped or raw."""
    envelope = heartbeat()
    async with CFXSubscriber(BROKER_URL, exchange=names.exchange, queue=names.queue()) as subscriber:
        address = ADDRESS_V1.exchange_address(names.exchange, f"{HANDLE}.CFX.Heartbeat")
        await asyncio.to_thread(send_to_address, address, [_cfx_message(envelope, compress)])
        async with asyncio.timeout(10):
            got = await anext(subscriber)
    assert got == decode_envelope(encode_envelope(envelope))
    assert subscriber.malformed_count == 0


@pytest.mark.broker
async def test_our_amqp10_publisher_routes_by_subject_through_the_exchange(names: BrokerNames) -> None:
    """AMQP10Publisher to /exchange/<x> (no key): RabbitMQ routes by the subject "<handle>.<name>"."""
    sent = [heartbeat() for _ in range(5)]
    async with (
        CFXSubscriber(
            BROKER_URL, exchange=names.exchange, queue=names.queue(), bindings=[f"{HANDLE}.CFX.Heartbeat"]
        ) as subscriber,
        AMQP10Publisher(AMQP10_URL, f"/exchange/{names.exchange}", handle=HANDLE, gzip=True) as publisher,
    ):
        await asyncio.gather(*(publisher.publish(envelope) for envelope in sent))
        async with asyncio.timeout(10):
            got = [await anext(subscriber) for _ in sent]
    assert sorted(e.unique_id for e in got) == sorted(e.unique_id for e in sent)


async def test_amqp10_publisher_straight_to_our_listener() -> None:
    """No broker: equipment publishes to a listener address (the SDK's AddListener)."""
    sent = [heartbeat() for _ in range(3)]
    got: list[Envelope] = []
    async with (
        CFXListener(event_addresses=["/linegate/events"]) as listener,
        AMQP10Publisher(listener.uri, "/linegate/events", handle=HANDLE, gzip=True) as publisher,
    ):
        for envelope in sent:
            # Accepted only once the consumer settles it (after its commit, in the gateway).
            publishing = asyncio.ensure_future(publisher.publish(envelope))
            async with asyncio.timeout(10):
                batch = await listener.receive()
            assert not publishing.done()
            got += batch.envelopes
            listener.settle(batch)
            await asyncio.wait_for(publishing, 10)
    assert [e.unique_id for e in got] == [e.unique_id for e in sent]


async def test_listener_event_layout_and_garbage() -> None:
    """The listener sees the §2.2 layout; a garbage event is counted and skipped."""
    received: list[Message] = []
    envelope = heartbeat()
    async with CFXListener(event_addresses=["events"]) as listener:

        def send() -> None:
            connection = BlockingConnection(listener.uri, timeout=10)
            try:
                sender = connection.create_sender("events", name="events")
                sender.send(Message(body=b"\x00garbage", inferred=True), timeout=10)
                sender.send(_cfx_message(envelope, compress=True), timeout=10)
            finally:
                connection.close()

        sending = asyncio.ensure_future(asyncio.to_thread(send))
        async with asyncio.timeout(10):
            batch = await listener.receive()
        assert [e.unique_id for e in batch.envelopes] == [envelope.unique_id]
        assert listener.malformed_count == 1  # accepted and dropped, as the SDK does
        listener.settle(batch)
        await asyncio.wait_for(sending, 10)
    assert not received


async def test_amqp10_publisher_to_unknown_address_fails() -> None:
    async with CFXListener(event_addresses=["events"]) as listener:
        # The listener attaches, then detaches with amqp:not-found: the publish fails, loudly.
        with pytest.raises(TransportError, match="not-found"):
            async with AMQP10Publisher(listener.uri, f"nowhere-{uuid.uuid4()}", handle=HANDLE) as publisher:
                await publisher.publish(heartbeat())


def test_envelope_message_layout() -> None:
    """reference §2.2, field by field, for an event."""
    from protocols.cfx.transport.amqp10 import envelope_message, request_message

    envelope = heartbeat()
    message = envelope_message(envelope, compress=True)
    assert message.inferred and message.durable
    assert gzip.decompress(_body(message)) == encode_envelope(envelope)
    assert content_encoding_of(message) == "gzip"
    assert message.id == str(envelope.unique_id)
    assert message.subject == f"{HANDLE}.CFX.Heartbeat"
    assert message.reply_to == HANDLE
    assert message.properties == {
        "cfx-topic": "CFX",
        "cfx-message": "CFX.Heartbeat",
        "cfx-handle": HANDLE,
        "cfx-target": None,
    }
    assert abs(message.creation_time - envelope.time_stamp.timestamp()) < 0.001
    request = request_message(envelope, reply_to=f"{HANDLE}-x")
    assert request.id == "command-request"
    assert request.reply_to == f"{HANDLE}-x"
    assert request.properties == {"offset": 1}
    raw = envelope_message(envelope, compress=False)
    assert content_encoding_of(raw) is None
    assert _body(raw) == encode_envelope(envelope)


def _body(message: Message) -> bytes:
    """The Data section of a message, as bytes."""
    data = body_bytes(message)
    assert data is not None, "body is not binary"
    return data
