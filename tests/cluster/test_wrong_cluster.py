"""A node of another cluster in the broker list (a standalone broker with an Erlang cookie of its
own, listed by mistake) is refused when ``cluster_name`` is set: the publisher names it in a
``connect.wrong_cluster`` log line, moves to the next node, and every event reaches the cluster
the consumers read; the stray node receives nothing. Without ``cluster_name`` the same list
would publish into the stray node, which is what the setting is for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import pytest
import structlog

from gateway.testing.rabbitmq_cluster import RabbitMQCluster
from protocols.cfx.envelope import Envelope
from protocols.cfx.messages import Heartbeat
from protocols.cfx.transport import CFXPublisher

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]
HANDLE = "Acme.Stray.1"
EXCHANGE = "cfx-wrong-cluster-test"


@pytest.fixture
def stray(tmp_path: Path) -> Iterator[RabbitMQCluster]:
    """One RabbitMQ node in a cluster of its own (its own cookie, its own cluster name)."""
    with RabbitMQCluster(tmp_path / "stray", size=1, plugins=()) as node:
        yield node


async def cluster_name_of(url: str) -> str:
    connection = await aio_pika.connect(url)
    try:
        name = connection.transport.connection.server_properties["cluster_name"]
        return name.decode() if isinstance(name, bytes) else str(name)
    finally:
        await connection.close()


async def queue_on(url: str, name: str) -> tuple[aio_pika.abc.AbstractConnection, aio_pika.abc.AbstractQueue]:
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
    await queue.bind(exchange, "#")
    return connection, queue


async def test_a_node_of_another_cluster_is_refused(
    rabbitmq_cluster: RabbitMQCluster, stray: RabbitMQCluster
) -> None:
    expected = await cluster_name_of(rabbitmq_cluster.nodes[0].url)
    assert await cluster_name_of(stray.nodes[0].url) != expected  # truly another cluster
    ours, our_queue = await queue_on(rabbitmq_cluster.nodes[1].url, "wrong-cluster-ours")
    theirs, their_queue = await queue_on(stray.nodes[0].url, "wrong-cluster-theirs")
    try:
        urls = [stray.nodes[0].url, *rabbitmq_cluster.urls]  # the stray node listed first
        envelopes = [Envelope.create(Heartbeat(cfx_handle=HANDLE), source=HANDLE) for _ in range(20)]
        with structlog.testing.capture_logs() as logs:
            async with CFXPublisher(urls, cluster_name=expected, exchange=EXCHANGE) as publisher:
                await asyncio.wait_for(asyncio.gather(*(publisher.publish(e) for e in envelopes)), 30)
                assert publisher.node == rabbitmq_cluster.nodes[0].url
        refused = [entry for entry in logs if entry["event"] == "connect.wrong_cluster"]
        assert refused and refused[0]["expected"] == expected
        assert refused[0]["cluster"] != expected and str(stray.nodes[0].amqp_port) in refused[0]["node"]

        got = []
        async with asyncio.timeout(20), our_queue.iterator() as messages:
            async for message in messages:
                await message.ack()
                got.append(message.message_id)
                if len(got) == len(envelopes):
                    break
        assert got == [str(e.unique_id) for e in envelopes]  # all of them, in order
        assert (await their_queue.declare()).message_count == 0  # the stray node got nothing
    finally:
        await ours.close()
        await theirs.close()
