"""A node partitioned away from the other two while the publisher is on it, for longer than the
Erlang distribution's net_ticktime: a real partition, not a freeze.

The node keeps running and its AMQP port answers; only its distribution traffic to and from the
other nodes is dropped (nftables on loopback, :meth:`RabbitMQCluster.partition`), silently, as a
pulled cable would. The nodes are set to ``cluster_partition_handling = pause_minority``
(docs/deployment.md says why) and net_ticktime is lowered to 8 s for the test (60 s is the
default), so each side declares the other down after about 8 s (``net_tick_timeout`` in the
majority's log). Both quorum queues have their leader on a majority node.

What the publisher sees: its confirms stall (``publish.confirms_stalled``: its node cannot reach
the queues' leaders), then the node finds itself in the minority and pauses, closing every client
connection (``publish.link_lost``); the publisher moves to the next node (``connect.failover``)
and publishes again what was not confirmed. What the consumers see: the one on a majority node
a gap as long as that, then the stream, in order and complete; the one on the partitioned node
has its connection closed by the pause, and the queue it read keeps the rest for whoever reads
it next. When the partition ends the paused node restarts and rejoins by itself; with RabbitMQ
3.10.8 on Erlang 25 that restart sometimes hangs (:func:`rejoin`). With the leaders on the
partitioned node instead, RabbitMQ 3.10.8 elected new ones at once, but in 2 of 10 runs the
channel the publisher moved to confirmed one message every 14 s and the consumer on the
majority got nothing for over a minute (docs/deployment.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
import time
import uuid

import aio_pika
import orjson
import pytest
import structlog

from gateway.testing.rabbitmq_cluster import DEFAULT_NET_TICKTIME, RabbitMQCluster, RabbitNode
from protocols.cfx.envelope import Envelope
from protocols.cfx.messages import Heartbeat
from protocols.cfx.transport import CFXPublisher, PublishError
from protocols.cfx.transport.wire import redact_url
from tests.cluster.support import LogWatch

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]
SOURCES = ("AcmeThermal.RF-X10.SN1", "AcmeThermal.RF-X10.SN2", "Nordson.SEL-500.SN3")
HEARTBEAT = 3
TICKTIME = 8
#: Seconds the paused node has to serve again by itself once the partition ends.
REJOIN = 45


class Reader:
    """A consumer of one queue: first copies in arrival order, and when its connection closed."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.sources: dict[str, list[str]] = {}
        self.arrived: list[float] = []
        self.changed = asyncio.Condition()
        self.closed_at: float | None = None
        self.closed = asyncio.Event()

    async def take(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            unique_id = str(message.message_id)
            async with self.changed:
                if unique_id not in self.ids:
                    self.ids.append(unique_id)
                    self.sources.setdefault(orjson.loads(message.body)["Source"], []).append(unique_id)
                    self.arrived.append(time.monotonic())
                self.changed.notify_all()

    def on_close(self, *_: object) -> None:
        self.closed_at = time.monotonic()
        self.closed.set()

    async def wait_for(self, count: int, timeout: float) -> None:
        async with asyncio.timeout(timeout), self.changed:
            await self.changed.wait_for(lambda: len(self.ids) >= count)


async def read(node: RabbitNode, queue_name: str, reader: Reader) -> aio_pika.abc.AbstractConnection:
    connection = await aio_pika.connect(node.url)
    connection.close_callbacks.add(reader.on_close)
    channel = await connection.channel()
    queue = await channel.get_queue(queue_name)
    await queue.consume(reader.take)
    return connection


async def stream(
    publisher: CFXPublisher, sent: list[Envelope], refused: list[str], stop: asyncio.Event
) -> None:
    """Three sources' heartbeats, a round every 0.1 s (paced, as machines are) until ``stop``.

    A round the broker refuses (nack) is published again, as the gateway's outbox offers a
    failed batch again; one round in flight at a time, one event per source in it, so a source's
    next event never overtakes a refused one.
    """
    while not stop.is_set():
        batch = [Envelope.create(Heartbeat(cfx_handle=source), source=source) for source in SOURCES]
        sent.extend(batch)
        while True:
            try:
                await publisher.publish_many(batch)
                break
            except PublishError as exc:
                refused.append(str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)


async def remainder(queue: aio_pika.abc.AbstractQueue, had: list[str], sent: list[Envelope]) -> list[str]:
    """The ids off ``queue``, in arrival order, until with ``had`` every sent event is there
    (deliveries left unacknowledged on a closed connection come again)."""
    missing = {str(e.unique_id) for e in sent} - set(had)
    got: list[str] = []
    async with asyncio.timeout(60), queue.iterator() as messages:
        async for message in messages:
            await message.ack()
            got.append(str(message.message_id))
            missing.discard(got[-1])
            if not missing:
                break
    return got


async def rejoin(cluster: RabbitMQCluster, node: RabbitNode) -> float | None:
    """Seconds until the paused node serves again by itself after the partition, or None when it
    hangs in its restart (RabbitMQ 3.10.8 on Erlang 25.1 or later: its boot waits on
    ``global``, "Global hang workaround" in its log); that node is killed and started again."""
    ended = time.monotonic()
    while time.monotonic() - ended < REJOIN:
        if await asyncio.to_thread(cluster.serving, node):
            return time.monotonic() - ended
        await asyncio.sleep(0.2)  # polling the port: nothing to wait on but the node itself
    await cluster.akill(node)
    await cluster.aheal()
    return None


def log_since(node: RabbitNode, marks: dict[str, int]) -> str:
    """What the node logged since ``marks`` (log sizes taken at the start of the test)."""
    with node.log_file.open("rb") as log:
        log.seek(marks[node.name])
        return log.read().decode(errors="replace")


def leaders(cluster: RabbitMQCluster, via: RabbitNode) -> dict[str, str]:
    out = cluster.ctl(via, "list_queues", "name", "leader", "--formatter", "json", "--quiet")
    return {row["name"]: row["leader"] for row in json.loads(out)}


async def test_a_partitioned_node_pauses_and_the_publisher_and_consumers_move_on(
    rabbitmq_cluster: RabbitMQCluster,
) -> None:
    if shutil.which("nft") is None:
        pytest.skip("nft is not installed (apt-get install nftables): no way to partition a node")
    cluster = rabbitmq_cluster
    first, second, third = cluster.nodes
    exchange = f"linegate-partition-{uuid.uuid4().hex[:8]}"
    names = (f"{exchange}.mes", f"{exchange}.local")
    urls = [f"{node.url}?heartbeat={HEARTBEAT}" for node in (first, second)]
    sent: list[Envelope] = []
    refused: list[str] = []
    majority, minority = Reader(), Reader()
    logs = LogWatch()
    marks = {node.name: node.log_file.stat().st_size for node in (first, second)}
    await cluster.aset_net_ticktime(TICKTIME)
    await cluster.aset_partition_handling("pause_minority")
    try:
        # Declared on the second node: both queues' leaders are on the majority side (client-local).
        async with await aio_pika.connect(second.url) as admin:
            channel = await admin.channel()
            ex = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
            for name in names:
                queue = await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
                await queue.bind(ex, "#")
        before = await asyncio.to_thread(leaders, cluster, second)
        assert before[names[0]] == before[names[1]] == second.name
        on_second = await read(second, names[0], majority)
        on_first = await read(first, names[1], minority)
        structlog.configure(processors=[logs])  # the conftest resets it after the test
        stop = asyncio.Event()
        async with CFXPublisher(urls, exchange=exchange, stall_warning=1.0) as publisher:
            streaming = asyncio.create_task(stream(publisher, sent, refused, stop))
            await majority.wait_for(30, 60)
            await cluster.apartition(first)
            cut = time.monotonic()
            stalled = await asyncio.wait_for(logs.wait_for("publish.confirms_stalled"), 60)
            link_lost = await asyncio.wait_for(logs.wait_for("publish.link_lost"), 60)
            lost_after = time.monotonic() - cut
            failover = await asyncio.wait_for(logs.wait_for("connect.failover"), 60)
            await asyncio.wait_for(minority.closed.wait(), 60)
            # Events published after the fail-over reach the consumer on the majority side.
            await majority.wait_for(len(sent) + 15, 60)
            paused = not await asyncio.to_thread(cluster.serving, first)
            status_during = await asyncio.to_thread(
                cluster.ctl, second, "cluster_status", "--formatter", "json"
            )
            during = await asyncio.to_thread(leaders, cluster, second)
            partitioned_for = time.monotonic() - cut
            await cluster.aunpartition()
            rejoined_after = await rejoin(cluster, first)
            await majority.wait_for(len(sent) + 15, 90)
            stop.set()
            await asyncio.wait_for(streaming, 60)
        await majority.wait_for(len(sent), 60)
        await on_second.close()
        with contextlib.suppress(Exception):
            await on_first.close()
        # The queue the paused node's consumer read holds the rest: read it from the third node.
        async with await aio_pika.connect(third.url) as late:
            channel = await late.channel()
            rest = await remainder(await channel.get_queue(names[1]), minority.ids, sent)
            for name in names:
                await (await channel.get_queue(name)).delete(if_unused=False, if_empty=False)
            await (await channel.get_exchange(exchange)).delete(if_unused=False)
        status_after = json.loads(
            await asyncio.to_thread(cluster.ctl, first, "cluster_status", "--formatter", "json")
        )
    finally:
        await cluster.aunpartition()
        await cluster.aset_net_ticktime(DEFAULT_NET_TICKTIME)
        await cluster.aset_partition_handling(cluster.partition_handling)

    expected = [str(e.unique_id) for e in sent]
    by_source = {source: [str(e.unique_id) for e in sent if e.source == source] for source in SOURCES}
    # The partition outlasted net_ticktime: the majority declared the node down on a tick
    # timeout (not a closed socket), and the node paused itself as the minority.
    assert partitioned_for > TICKTIME
    assert f"node '{first.name}' down: net_tick_timeout" in log_since(second, marks)
    assert "Cluster minority/secondary status detected" in log_since(first, marks)
    assert paused, "the partitioned node still served clients: pause_minority did not pause it"
    assert first.name not in json.loads(status_during)["running_nodes"]
    assert during[names[0]] == second.name  # the leaders stay on the majority side
    # The publisher: stalled on its node, lost the link when the node paused, moved on.
    assert stalled["node"] == link_lost["node"] == redact_url(urls[0])
    assert failover["node"] == redact_url(urls[1]) and failover["previous"] == redact_url(urls[0])
    # The consumers: nothing lost, every source in order, on both queues (a refused event and
    # another source's event of its round may swap places: no order between sources).
    assert sorted(majority.ids) == sorted(expected)
    for source in SOURCES:
        assert majority.sources[source] == by_source[source]
    assert minority.closed_at is not None
    combined = minority.ids + [i for i in rest if i not in minority.ids]
    assert sorted(combined) == sorted(expected)
    for source in SOURCES:
        assert [i for i in combined if i in set(by_source[source])] == by_source[source]
    # The paused node is back (by itself, or restarted): one cluster of three, no partition left.
    assert sorted(status_after["running_nodes"]) == sorted(node.name for node in cluster.nodes)
    assert not status_after["partitions"]
    after_cut = [t - cut for t in majority.arrived if t > cut]
    gap = max((b - a for a, b in itertools.pairwise([0.0, *after_cut])), default=0.0)
    rejoined = (
        f"served again {rejoined_after:.1f} s after it ended"
        if rejoined_after is not None
        else f"hung in its restart (killed and started again after {REJOIN} s)"
    )
    print(
        f"\npartition (net_ticktime {TICKTIME} s, pause_minority): confirms stalled, the publisher lost "
        f"its node {lost_after:.1f} s after the cut and moved on; the consumer on the majority waited "
        f"{gap:.1f} s at most for the next event, the one on the paused node was disconnected "
        f"{minority.closed_at - cut:.1f} s after the cut; "
        f"the partition lasted {partitioned_for:.1f} s, the node {rejoined}; {len(sent)} events, none lost; "
        f"{len(refused)} round(s) refused "
        "(nack) and sent again"
    )
