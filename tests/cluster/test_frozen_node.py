"""A node that freezes (SIGSTOP of its VM: a hung host, or one cut off without a reset) while
the publisher is on it: the TCP connection stays open but nothing answers.

What the publisher sees: its confirms stall (``publish.confirms_stalled``), then the AMQP
heartbeat runs out (aiormq closes the link after three heartbeat intervals plus one without a
frame), it moves to the next node (``connect.failover``) and publishes again what was not
confirmed; nothing is lost and the order holds. What the consumer on another node sees: a gap
as long as that, then the events. The node is frozen for less than the Erlang distribution's
net_ticktime (60 s), so the other nodes do not declare a partition: the quorum queue keeps its
majority on the two nodes that answer. The heartbeat comes from the node's URL
(``?heartbeat=3``; RabbitMQ proposes 60 s, which would hold a gateway on a frozen node for
about four minutes): docs/deployment.md.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid

import aio_pika
import pytest
import structlog

from gateway.testing.rabbitmq_cluster import RabbitMQCluster
from protocols.cfx.envelope import Envelope
from protocols.cfx.messages import Heartbeat
from protocols.cfx.transport import CFXPublisher
from protocols.cfx.transport.wire import redact_url
from tests.cluster.support import LogWatch, bound_quorum_queue, distinct_ids

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]
HANDLE = "AcmeThermal.RF-X10.SN20452"
HEARTBEAT = 3


async def test_a_frozen_node_stalls_the_publisher_until_the_heartbeat_moves_it_on(
    rabbitmq_cluster: RabbitMQCluster,
) -> None:
    first, second, third = rabbitmq_cluster.nodes
    exchange = f"linegate-frozen-{uuid.uuid4().hex[:8]}"
    sent = [Envelope.create(Heartbeat(cfx_handle=HANDLE), source=HANDLE) for _ in range(40)]
    urls = [f"{node.url}?heartbeat={HEARTBEAT}" for node in (first, second)]
    async with await aio_pika.connect(third.url) as admin:
        channel = await admin.channel()
        ex, queue = await bound_quorum_queue(channel, exchange)
        logs = LogWatch()
        structlog.configure(processors=[logs])  # the conftest resets it after the test
        async with CFXPublisher(urls, exchange=exchange, stall_warning=1.0) as publisher:
            await publisher.publish_many(sent[:20])
            assert first.pid is not None
            os.kill(first.pid, signal.SIGSTOP)
            frozen_at = time.monotonic()
            try:
                pending = asyncio.ensure_future(publisher.publish_many(sent[20:]))
                stalled = await asyncio.wait_for(logs.wait_for("publish.confirms_stalled"), 30)
                failover = await asyncio.wait_for(logs.wait_for("connect.failover"), 60)
                moved_after = time.monotonic() - frozen_at
                await asyncio.wait_for(pending, 60)
                confirmed_after = time.monotonic() - frozen_at
            finally:
                os.kill(first.pid, signal.SIGCONT)
        assert stalled["node"] == redact_url(urls[0])
        assert failover["node"] == redact_url(urls[1]) and failover["previous"] == redact_url(urls[0])
        [lost] = logs.named("publish.link_lost")
        assert lost["node"] == redact_url(urls[0])
        assert await distinct_ids(queue, len(sent)) == [str(e.unique_id) for e in sent]
        await queue.delete(if_unused=False, if_empty=False)
        await ex.delete(if_unused=False)
    print(
        f"\nfrozen node (heartbeat {HEARTBEAT} s): confirms stalled, the publisher moved to the next "
        f"node {moved_after:.1f} s after the freeze, everything confirmed {confirmed_after:.1f} s after"
    )
    # Three heartbeat intervals plus one without a frame, and the reconnect, on a busy machine.
    assert moved_after < (HEARTBEAT + 1) * 3 + 15
