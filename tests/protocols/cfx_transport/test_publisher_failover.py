"""The publisher and the subscriber with several broker nodes: a dead one is skipped, a dropped
link moves to the next.

Two loopback proxies in front of the one RabbitMQ on 127.0.0.1:5672 stand for two nodes; the
real three-node cluster is in tests/cluster.
"""

from __future__ import annotations

import asyncio

import aio_pika
import pytest

from protocols.cfx.envelope import Envelope
from protocols.cfx.messages import Heartbeat
from protocols.cfx.transport import CFXPublisher, CFXSubscriber
from protocols.errors import LocalProtocolError, TransportError
from tests.protocols.cfx_transport.conftest import BROKER_URL, Broker, BrokerNames
from tests.support.tcpproxy import TcpProxy

HANDLE = "AcmeThermal.RF-X10.SN20451"
DEAD = "amqp://guest:guest@127.0.0.1:1/"  # nothing listens on port 1


def heartbeat() -> Envelope:
    return Envelope.create(Heartbeat(cfx_handle=HANDLE), source=HANDLE)


def via(proxy: TcpProxy) -> str:
    return f"amqp://guest:guest@127.0.0.1:{proxy.port}/"


@pytest.mark.parametrize(
    ("urls", "failover", "problem"),
    [
        ([], "in_order", "at least one broker url"),
        ([BROKER_URL, BROKER_URL], "in_order", "repeat a node"),
        ([BROKER_URL], "round_robin", "must be one of in_order, random"),
    ],
)
def test_bad_node_lists_are_refused(urls: list[str], failover: str, problem: str) -> None:
    with pytest.raises(LocalProtocolError, match=problem):
        CFXPublisher(urls, failover=failover)


@pytest.mark.broker
@pytest.mark.parametrize("failover", ["in_order", "random"])
async def test_an_unreachable_node_is_skipped(broker: Broker, names: BrokerNames, failover: str) -> None:
    exchange = await broker.channel.declare_exchange(
        names.exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await broker.channel.declare_queue(names.queue(), durable=True)
    await queue.bind(exchange, "#")
    async with CFXPublisher([DEAD, BROKER_URL], failover=failover, exchange=names.exchange) as publisher:
        await asyncio.wait_for(publisher.publish(heartbeat()), 10)
        assert publisher.node == BROKER_URL
        # in_order tries the dead node first and moves on at once, without a backoff round;
        # random tries it first or not at all.
        if failover == "in_order":
            assert publisher.connect_attempts == 2
        else:
            assert publisher.connect_attempts in (1, 2)
    message = await queue.get(timeout=5)
    assert message.routing_key == f"{HANDLE}.CFX.Heartbeat"


@pytest.mark.broker
async def test_a_lost_link_moves_to_the_next_node_and_loses_nothing(
    broker: Broker, names: BrokerNames
) -> None:
    exchange = await broker.channel.declare_exchange(
        names.exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await broker.channel.declare_queue(names.queue(), durable=True)
    await queue.bind(exchange, "#")
    async with (
        TcpProxy("127.0.0.1", 5672) as first,
        TcpProxy("127.0.0.1", 5672) as second,
        CFXPublisher([via(first), via(second)], exchange=names.exchange) as publisher,
    ):
        sent = [heartbeat() for _ in range(41)]
        await publisher.publish_many(sent[:20])
        assert publisher.node == via(first)
        # The first node goes away (and stays away) with messages on the wire.
        pending = asyncio.ensure_future(publisher.publish_many(sent[20:40]))
        first.cut()
        await asyncio.wait_for(pending, 30)
        # A confirm after the cut can only come from the second node.
        await asyncio.wait_for(publisher.publish(sent[40]), 30)
        assert publisher.node == via(second)
        assert publisher.reconnects == 1
    ids: list[str] = []
    async with asyncio.timeout(10), queue.iterator() as messages:
        async for message in messages:
            await message.ack()
            if message.message_id not in ids:  # at least once: a cut confirm is sent again
                ids.append(str(message.message_id))
            if len(ids) == len(sent):
                break
    assert ids == [str(e.unique_id) for e in sent]  # all of them, in order


@pytest.mark.broker
async def test_the_subscriber_moves_to_the_next_node_when_its_link_drops(names: BrokerNames) -> None:
    queue = names.queue()
    async with (
        TcpProxy("127.0.0.1", 5672) as first,
        TcpProxy("127.0.0.1", 5672) as second,
        CFXSubscriber([DEAD, via(first), via(second)], queue=queue, exchange=names.exchange) as subscriber,
        CFXPublisher(BROKER_URL, exchange=names.exchange) as publisher,
    ):
        assert subscriber.node == via(first)  # the dead node was skipped
        sent = [heartbeat() for _ in range(6)]
        got: list[str] = []

        async def take(count: int) -> None:
            async with asyncio.timeout(20):
                async for envelope in subscriber:
                    if str(envelope.unique_id) not in got:
                        got.append(str(envelope.unique_id))
                    if len(got) == count:
                        return

        await publisher.publish_many(sent[:3])
        await take(3)
        first.cut()
        await publisher.publish_many(sent[3:])  # the durable queue keeps them meanwhile
        await take(6)
        assert subscriber.node == via(second)
        assert got == [str(e.unique_id) for e in sent]


async def test_a_subscriber_with_no_reachable_node_names_them_all() -> None:
    other = "amqp://guest:guest@127.0.0.1:2/"
    with pytest.raises(TransportError, match=r"127\.0\.0\.1:1/, amqp://guest:\*\*\*@127\.0\.0\.1:2/"):
        async with CFXSubscriber([DEAD, other], queue="never-declared"):
            pass
