"""CFX SDK-style consumers (AMQP 1.0, python-qpid-proton) read the stream from any node of the
cluster: the publisher writes through the first node, a receiver on each of the other two reads
its own quorum queue, complete and in order.

The address is ``/amq/queue/<q>`` (consume an existing queue), not the SDK's usual ``/queue/<q>``:
with ``/queue/`` RabbitMQ 3.x's AMQP 1.0 plugin declares the queue first, with no arguments, and
refuses an existing quorum queue (PRECONDITION_FAILED, inequivalent arg 'x-queue-type'), so the
link never opens (docs/deployment.md).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aio_pika
import pytest
from proton import Message, Terminus
from proton.reactor import LinkOption
from proton.utils import BlockingConnection

from gateway.testing.rabbitmq_cluster import RabbitMQCluster, RabbitNode
from protocols.cfx.codec import encode_envelope
from protocols.cfx.envelope import Envelope
from protocols.cfx.messages import Heartbeat
from protocols.cfx.transport import CFXPublisher

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]
HANDLE = "KNS.iFlex.DC017580"


class _DurableSource(LinkOption):
    """The SDK's receiver sets Source.Durable = 1 (configuration), reference §2.1."""

    def apply(self, link: Any) -> None:
        link.source.durability = Terminus.CONFIGURATION


def receive(node: RabbitNode, address: str, count: int) -> list[Message]:
    connection = BlockingConnection(
        f"amqp://guest:guest@127.0.0.1:{node.amqp_port}",
        timeout=10,
        allowed_mechs="PLAIN",
        allow_insecure_mechs=True,
    )
    try:
        receiver = connection.create_receiver(address, name=address, credit=300, options=_DurableSource())
        got = []
        for _ in range(count):
            got.append(receiver.receive(timeout=10))
            receiver.accept()
        return got
    finally:
        connection.close()


async def test_amqp10_consumers_on_every_node_get_the_whole_stream(rabbitmq_cluster: RabbitMQCluster) -> None:
    first, second, third = rabbitmq_cluster.nodes
    exchange = f"linegate-amqp10-{uuid.uuid4().hex[:8]}"
    sent = [Envelope.create(Heartbeat(cfx_handle=HANDLE), source=HANDLE) for _ in range(20)]
    async with await aio_pika.connect(first.url) as admin:
        channel = await admin.channel()
        ex = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queues = []
        for name in ("mes", "trace"):
            queue = await channel.declare_queue(
                f"{exchange}.{name}", durable=True, arguments={"x-queue-type": "quorum"}
            )
            await queue.bind(ex, "#")
            queues.append(queue)
        async with CFXPublisher(first.url, exchange=exchange) as publisher:
            await publisher.publish_many(sent)
        for node, queue in zip((second, third), queues, strict=True):
            got = await asyncio.to_thread(receive, node, f"/amq/queue/{queue.name}", len(sent))
            assert [bytes(m.body) for m in got] == [encode_envelope(e) for e in sent]
            assert [m.id for m in got] == [str(e.unique_id) for e in sent]
        for queue in queues:
            await queue.delete(if_unused=False, if_empty=False)
        await ex.delete(if_unused=False)
