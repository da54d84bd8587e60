"""A broker alarm blocks the publisher: it says so in its log (``publish.blocked`` with the
broker's reason, ``publish.confirms_stalled``), holds every message, and delivers them all, in
order, once the alarm clears (``publish.unblocked``)."""

from __future__ import annotations

import asyncio
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

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]
HANDLE = "AcmeThermal.RF-X10.SN20451"


async def test_a_memory_alarm_is_logged_as_stalled_confirms_and_nothing_is_lost(
    rabbitmq_cluster: RabbitMQCluster,
) -> None:
    first, second, _ = rabbitmq_cluster.nodes
    exchange = f"linegate-alarm-{uuid.uuid4().hex[:8]}"
    sent = [Envelope.create(Heartbeat(cfx_handle=HANDLE), source=HANDLE) for _ in range(50)]
    async with await aio_pika.connect(second.url) as admin:
        channel = await admin.channel()
        ex, queue = await bound_quorum_queue(channel, exchange)
        logs = LogWatch()
        structlog.configure(processors=[logs])  # the conftest resets it after the test
        async with CFXPublisher(first.url, exchange=exchange, stall_warning=0.5) as publisher:
            await publisher.publish_many(sent[:10])
            # An alarm on one node blocks the publishers of the whole cluster.
            await asyncio.to_thread(rabbitmq_cluster.ctl, second, "set_vm_memory_high_watermark", "0.0001")
            try:
                pending = asyncio.ensure_future(publisher.publish_many(sent[10:]))
                stalled = await asyncio.wait_for(logs.wait_for("publish.confirms_stalled"), 60)
                assert not pending.done()
                assert stalled["unconfirmed"] > 0
                # The broker said why: our own log line names the node and its reason.
                blocked = await asyncio.wait_for(logs.wait_for("publish.blocked"), 30)
                assert blocked["node"] == redact_url(first.url)
                assert "memory" in blocked["reason"]
            finally:
                await asyncio.to_thread(rabbitmq_cluster.ctl, second, "set_vm_memory_high_watermark", "0.4")
            await asyncio.wait_for(pending, 60)
            resumed = await asyncio.wait_for(logs.wait_for("publish.confirms_resumed"), 30)
            assert resumed["stalled_seconds"] >= 0.5
            unblocked = await asyncio.wait_for(logs.wait_for("publish.unblocked"), 30)
            assert unblocked["node"] == redact_url(first.url) and unblocked["blocked_seconds"] > 0
        assert len(logs.named("publish.confirms_stalled")) == 1  # once per stall, not per round
        assert await distinct_ids(queue, len(sent)) == [str(e.unique_id) for e in sent]
        await queue.delete(if_unused=False, if_empty=False)
        await ex.delete(if_unused=False)
