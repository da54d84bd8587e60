"""``linegate run`` publishing into a three-node RabbitMQ cluster loses its node mid-stream.

The gateway is given the three nodes (``[amqp] urls``, in order, so it connects to the first);
a consumer on the third node reads a quorum queue bound to the exchange. The first node is
killed (``kill -9`` of its Erlang VM) or stopped cleanly (``rabbitmqctl stop_app``) while boards
flow. Every event the gateway committed (its ``--events-file`` copy is the record) reaches the
consumer, each source's events arrive in the order the gateway stored them, and the stall
between the fault and the next new event is measured and printed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
import signal
import sqlite3
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aio_pika
import orjson
import pytest

from gateway.testing.rabbitmq_cluster import RabbitMQCluster
from simulators import Line, default_line
from tests.support.line_config import write_line_config

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]
MACHINES = ("reflow", "solder", "coater")
PASSWORD_ENV = "LINEGATE_CLUSTER_AMQP_PASSWORD"


@dataclass
class Consumer:
    """What the consumer got: first copies in arrival order, with their arrival times."""

    order: list[tuple[str, str]] = field(default_factory=list)  # (source, UniqueID), first copies
    arrived: list[float] = field(default_factory=list)  # time.time() of each first copy
    seen: set[str] = field(default_factory=set)
    copies: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def take(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            envelope = orjson.loads(message.body)
            async with self.changed:
                self.copies += 1
                if envelope["UniqueID"] not in self.seen:
                    self.seen.add(envelope["UniqueID"])
                    self.order.append((envelope["Source"], envelope["UniqueID"]))
                    self.arrived.append(time.time())
                self.changed.notify_all()

    async def wait_for(self, count: int, timeout: float) -> None:
        async with asyncio.timeout(timeout), self.changed:
            await self.changed.wait_for(lambda: len(self.order) >= count)


def cluster_config(path: Path, line: Line, cluster: RabbitMQCluster, exchange: str) -> Path:
    """The line's config with ``[amqp] urls`` naming the three nodes instead of one ``url``."""
    first = cluster.nodes[0].amqp_port
    config = write_line_config(
        path, line, exchange=exchange, password_env=PASSWORD_ENV, broker_port=first, events_port=None
    )
    text = config.read_text()
    single = f'url = "amqp://guest@127.0.0.1:{first}/"'
    assert single in text
    urls = ", ".join(f'"amqp://guest@127.0.0.1:{node.amqp_port}/"' for node in cluster.nodes)
    config.write_text(text.replace(single, f'urls = [{urls}]\nfailover = "in_order"'))
    return config


def log_events(log: Path, name: str) -> list[dict[str, object]]:
    """The gateway's JSON log records called ``name`` about a broker node (the publisher's)."""
    records = []
    for line in log.read_text().splitlines():
        if line.startswith("{") and f'"{name}"' in line:
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:  # the line being written
                continue
            if record.get("event") == name and "node" in record:
                records.append(record)
    return records


def committed(events_file: Path) -> list[tuple[str, str]]:
    """(source, UniqueID) of every event the gateway committed, in its per-sink order, once each."""
    seen: set[str] = set()
    order = []
    for line in events_file.read_bytes().splitlines():
        envelope = orjson.loads(line)
        if envelope["UniqueID"] not in seen:
            seen.add(envelope["UniqueID"])
            order.append((envelope["Source"], envelope["UniqueID"]))
    return order


def pending_amqp(outbox: Path) -> int:
    db = sqlite3.connect(outbox)
    try:
        return int(db.execute("SELECT count(*) FROM pending WHERE sink = 'amqp'").fetchone()[0])
    finally:
        db.close()


def per_source(order: list[tuple[str, str]]) -> dict[str, list[str]]:
    by_source: dict[str, list[str]] = {}
    for source, unique_id in order:
        by_source.setdefault(source, []).append(unique_id)
    return by_source


@pytest.mark.parametrize("fault", ["kill -9", "stop_app"])
async def test_losing_the_gateways_node_loses_nothing(
    rabbitmq_cluster: RabbitMQCluster, tmp_path: Path, fault: str
) -> None:
    first, _, third = rabbitmq_cluster.nodes
    exchange = f"linegate-cluster-{uuid.uuid4().hex[:8]}"
    spec = default_line()
    spec = dataclasses.replace(
        spec, time_scale=300.0, machines=tuple(m for m in spec.machines if m.machine_id in MACHINES)
    )
    consumer = Consumer()
    log = tmp_path / "gateway.log"
    events_file = tmp_path / "events.jsonl"
    # The consumer's node is never the one that fails; the queue declared through it has its
    # leader there, and replicas on the other two.
    connection = await aio_pika.connect(third.url)
    async with connection, Line(spec, start_source=False) as line:
        channel = await connection.channel()
        ex = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(
            f"{exchange}.mes", durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(ex, "#")
        await queue.consume(consumer.take)
        config = cluster_config(tmp_path / "line.toml", line, rabbitmq_cluster, exchange)
        env = {**os.environ, PASSWORD_ENV: "guest", "LINEGATE_LOG_LEVEL": "info", "PYTHONUNBUFFERED": "1"}
        with log.open("wb") as out:
            gateway = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gateway", "run", str(config), "--events-file", str(events_file),
                env=env, stdout=out, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        try:
            line.start_source()
            await consumer.wait_for(30, 90)
            # in_order: the gateway is on the first node.
            [connected] = log_events(log, "connect.complete")
            assert connected["node"] == f"amqp://guest:***@127.0.0.1:{first.amqp_port}/"

            before = len(consumer.order)
            at = time.time()
            if fault == "kill -9":
                await rabbitmq_cluster.akill(first)
            else:
                await rabbitmq_cluster.astop_app(first)
            # The node is gone now (stop_app returns once RabbitMQ stopped on it). Boards keep
            # flowing; the gateway moves to another node and catches up.
            await consumer.wait_for(len(consumer.order) + 40, 120)
            failover = log_events(log, "connect.failover")
            assert len(failover) == 1
            assert failover[0]["previous"] == f"amqp://guest:***@127.0.0.1:{first.amqp_port}/"
            reconnected_after = datetime.fromisoformat(str(failover[0]["timestamp"])).timestamp() - at
            # The stall the consumer saw: the longest wait for a new event from just before the
            # fault on; publishing resumed when it ended.
            arrived = consumer.arrived[before - 1 :]
            gap, resumed = max((b - a, b) for a, b in itertools.pairwise(arrived))
            resumed_after = resumed - at

            gateway.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(gateway.wait(), 60) == 0
        finally:
            if gateway.returncode is None:
                gateway.kill()
                await gateway.wait()
        assert pending_amqp(tmp_path / "outbox.sqlite") == 0  # the clean stop delivered everything
        stored = committed(events_file)
        await consumer.wait_for(len(stored), 30)
        lost = {unique_id for _, unique_id in stored} - consumer.seen
        print(
            f"\ncluster failover ({fault}): {len(stored)} events committed, lost {len(lost)}, "
            f"{consumer.copies - len(consumer.order)} duplicates; gateway on another node after "
            f"{reconnected_after:.2f} s; the consumer's longest wait for a new event {gap:.2f} s, "
            f"ended {resumed_after:.2f} s after the fault"
        )
        assert lost == set()
        assert per_source(consumer.order) == per_source(stored)  # every source in order
        assert reconnected_after < 30
        await queue.delete(if_unused=False, if_empty=False)
        await ex.delete(if_unused=False)
