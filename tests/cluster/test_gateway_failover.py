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
import contextlib
import dataclasses
import itertools
import os
import signal
import socket
import sqlite3
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aio_pika
import aiohttp
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


def cluster_config(path: Path, line: Line, exchange: str, urls: list[str]) -> Path:
    """The line's config with ``[amqp] urls`` naming the given nodes instead of one ``url``."""
    config = write_line_config(path, line, exchange=exchange, password_env=PASSWORD_ENV, broker_port=5672)
    text = config.read_text()
    single = 'url = "amqp://guest@127.0.0.1:5672/"'
    assert single in text
    listed = ", ".join(f'"{url}"' for url in urls)
    config.write_text(text.replace(single, f'urls = [{listed}]\nfailover = "in_order"'))
    return config


def node_url(port: int) -> str:
    """A node's URL as the config names it (the password comes from the environment)."""
    return f"amqp://guest@127.0.0.1:{port}/"


def logged_url(port: int) -> str:
    """A node's URL as the gateway logs it."""
    return f"amqp://guest:***@127.0.0.1:{port}/"


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


@dataclass
class Run:
    """A ``linegate run`` publishing a simulated line into the cluster, and its consumer."""

    gateway: asyncio.subprocess.Process
    consumer: Consumer
    log: Path
    events_file: Path
    outbox: Path

    def dashboard(self) -> str:
        """The gateway's HTTP base URL (it prints it at start)."""
        for line in self.log.read_text().splitlines():
            if line.startswith("linegate: dashboard at "):
                return line.removeprefix("linegate: dashboard at ").strip().rstrip("/")
        raise AssertionError(f"the gateway did not print its dashboard URL: {self.log}")

    async def stop(self) -> tuple[list[tuple[str, str]], set[str]]:
        """Stop the gateway cleanly; (what it committed, what of it never reached the consumer)."""
        self.gateway.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(self.gateway.wait(), 60) == 0
        assert pending_amqp(self.outbox) == 0  # the clean stop delivered everything
        stored = committed(self.events_file)
        with contextlib.suppress(TimeoutError):
            await self.consumer.wait_for(len(stored), 30)
        return stored, {unique_id for _, unique_id in stored} - self.consumer.seen


@contextlib.asynccontextmanager
async def streaming(cluster: RabbitMQCluster, tmp_path: Path, urls: list[str]) -> AsyncIterator[Run]:
    """Boards flowing through ``linegate run`` (given ``urls``) into a quorum queue read on the
    third node; the queue and exchange are deleted afterwards, the gateway killed if still up."""
    third = cluster.nodes[2]
    exchange = f"linegate-cluster-{uuid.uuid4().hex[:8]}"
    spec = default_line()
    spec = dataclasses.replace(
        spec, time_scale=300.0, machines=tuple(m for m in spec.machines if m.machine_id in MACHINES)
    )
    log = tmp_path / "gateway.log"
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
        consumer = Consumer()
        await queue.consume(consumer.take)
        config = cluster_config(tmp_path / "line.toml", line, exchange, urls)
        env = {**os.environ, PASSWORD_ENV: "guest", "LINEGATE_LOG_LEVEL": "info", "PYTHONUNBUFFERED": "1"}
        events_file = tmp_path / "events.jsonl"
        with log.open("wb") as out:
            gateway = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gateway", "run", str(config), "--events-file", str(events_file),
                env=env, stdout=out, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        run = Run(gateway, consumer, log, events_file, tmp_path / "outbox.sqlite")
        try:
            line.start_source()
            yield run
        finally:
            if run.gateway.returncode is None:
                run.gateway.kill()
                await run.gateway.wait()
        await queue.delete(if_unused=False, if_empty=False)
        await ex.delete(if_unused=False)


@pytest.mark.parametrize("fault", ["kill -9", "stop_app"])
async def test_losing_the_gateways_node_loses_nothing(
    rabbitmq_cluster: RabbitMQCluster, tmp_path: Path, fault: str
) -> None:
    first = rabbitmq_cluster.nodes[0]
    urls = [node_url(node.amqp_port) for node in rabbitmq_cluster.nodes]
    async with streaming(rabbitmq_cluster, tmp_path, urls) as run:
        consumer = run.consumer
        await consumer.wait_for(30, 90)
        # in_order: the gateway is on the first node.
        [connected] = log_events(run.log, "connect.complete")
        assert connected["node"] == logged_url(first.amqp_port)

        before = len(consumer.order)
        at = time.time()
        if fault == "kill -9":
            await rabbitmq_cluster.akill(first)
        else:
            await rabbitmq_cluster.astop_app(first)
        done = time.time()  # the node is down by now (rabbitmqctl itself may take seconds to run)
        # The node is gone now (stop_app returns once RabbitMQ stopped on it). Boards keep
        # flowing; the gateway moves to another node and catches up.
        await consumer.wait_for(len(consumer.order) + 40, 120)
        failover = log_events(run.log, "connect.failover")
        assert len(failover) == 1
        assert failover[0]["previous"] == logged_url(first.amqp_port)
        reconnected_at = datetime.fromisoformat(str(failover[0]["timestamp"])).timestamp()
        reconnected_after = reconnected_at - at
        # The stall the consumer saw: the longest wait for a new event from just before the
        # fault on; publishing resumed when it ended.
        arrived = consumer.arrived[before - 1 :]
        gap, resumed = max((b - a, b) for a, b in itertools.pairwise(arrived))
        resumed_after = resumed - at
        stored, lost = await run.stop()
    print(
        f"\ncluster failover ({fault}): {len(stored)} events committed, lost {len(lost)}, "
        f"{consumer.copies - len(consumer.order)} duplicates; gateway on another node after "
        f"{reconnected_after:.2f} s; the consumer's longest wait for a new event {gap:.2f} s, "
        f"ended {resumed_after:.2f} s after the fault"
    )
    assert lost == set()
    assert per_source(consumer.order) == per_source(stored)  # every source in order
    assert reconnected_at - done < 30


def metric(text: str, name: str, **labels: str) -> float:
    """The value of sample ``linegate_<name>{labels}`` in a /metrics page."""
    wanted = f"linegate_{name}" + (
        "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""
    )
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{wanted} is not in /metrics")


async def wait_metric(
    http: aiohttp.ClientSession, base: str, check: Callable[[str], bool], timeout: float
) -> str:
    """Poll /metrics (nothing announces a backlog) until ``check`` holds; the last page."""
    async with asyncio.timeout(timeout):
        while True:
            async with http.get(f"{base}/metrics") as response:
                page = await response.text()
            if check(page):
                return page
            await asyncio.sleep(0.2)


async def test_a_memory_alarm_blocks_publishing_the_outbox_keeps_accepting_and_nothing_is_lost(
    rabbitmq_cluster: RabbitMQCluster, tmp_path: Path
) -> None:
    first = rabbitmq_cluster.nodes[0]
    urls = [node_url(node.amqp_port) for node in rabbitmq_cluster.nodes]
    async with (
        streaming(rabbitmq_cluster, tmp_path, urls) as run,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
    ):
        await run.consumer.wait_for(30, 90)
        base = run.dashboard()
        # A memory alarm on one node blocks every publisher of the cluster.
        await asyncio.to_thread(rabbitmq_cluster.ctl, first, "set_vm_memory_high_watermark", "0.0001")
        try:
            blocked_at = time.time()
            page = await wait_metric(
                http, base, lambda p: metric(p, "outbox_sink_depth", sink="amqp") >= 30, 90
            )
            backlog = metric(page, "outbox_sink_depth", sink="amqp")
            # The outbox kept accepting: the file sink beside it is not held up.
            assert metric(page, "outbox_sink_depth", sink="file") < backlog
            delivered_while_blocked = len(run.consumer.order)
            # aio-pika's connection logs the broker's connection.blocked (and its reason).
            assert "was blocked by" in run.log.read_text()
        finally:
            lifted_at = time.time()
            await asyncio.to_thread(rabbitmq_cluster.ctl, first, "set_vm_memory_high_watermark", "0.4")
        await wait_metric(http, base, lambda p: metric(p, "outbox_sink_depth", sink="amqp") < 10, 90)
        drained_after = time.time() - lifted_at
        assert len(run.consumer.order) > delivered_while_blocked
        stored, lost = await run.stop()
    print(
        f"\nmemory alarm: blocked {lifted_at - blocked_at:.1f} s, amqp backlog reached {backlog:.0f} "
        f"events in /metrics, drained {drained_after:.2f} s after `rabbitmqctl` was asked to clear it; "
        f"{len(stored)} events committed, lost {len(lost)}"
    )
    assert lost == set()
    assert per_source(run.consumer.order) == per_source(stored)


async def test_an_unreachable_first_node_is_skipped(
    rabbitmq_cluster: RabbitMQCluster, tmp_path: Path
) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    second = rabbitmq_cluster.nodes[1]
    urls = [node_url(dead), node_url(second.amqp_port)]
    async with streaming(rabbitmq_cluster, tmp_path, urls) as run:
        await run.consumer.wait_for(30, 90)
        [connected] = log_events(run.log, "connect.complete")
        assert connected["node"] == logged_url(second.amqp_port)
        failed = [r for r in log_events(run.log, "connect.failed") if r["node"] == logged_url(dead)]
        assert failed, "the dead node was tried first and its failure logged"
        _, lost = await run.stop()
    assert lost == set()


async def test_a_quorum_queue_without_its_majority_holds_the_events_in_the_outbox(
    rabbitmq_cluster: RabbitMQCluster, tmp_path: Path
) -> None:
    first, second, _ = rabbitmq_cluster.nodes
    urls = [node_url(node.amqp_port) for node in rabbitmq_cluster.nodes]
    async with (
        streaming(rabbitmq_cluster, tmp_path, urls) as run,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
    ):
        await run.consumer.wait_for(30, 90)
        base = run.dashboard()
        # Two of three nodes die: the gateway ends up on the third, where the queue's leader is,
        # but the queue has no majority and the broker confirms nothing.
        await rabbitmq_cluster.akill(first)
        await rabbitmq_cluster.akill(second)
        lost_majority_at = time.time()
        page = await wait_metric(http, base, lambda p: metric(p, "outbox_sink_depth", sink="amqp") >= 30, 90)
        backlog = metric(page, "outbox_sink_depth", sink="amqp")
        assert metric(page, "outbox_sink_depth", sink="file") < backlog  # the outbox keeps accepting
        await rabbitmq_cluster.aheal()
        healed_at = time.time()
        await wait_metric(http, base, lambda p: metric(p, "outbox_sink_depth", sink="amqp") < 10, 120)
        drained_after = time.time() - healed_at
        stored, lost = await run.stop()
    print(
        f"\nquorum lost: amqp backlog reached {backlog:.0f} events in /metrics; both nodes back "
        f"{healed_at - lost_majority_at:.1f} s after the loss, backlog drained {drained_after:.2f} s "
        f"later; {len(stored)} events committed, lost {len(lost)}, "
        f"{run.consumer.copies - len(run.consumer.order)} duplicates"
    )
    assert lost == set()
    assert per_source(run.consumer.order) == per_source(stored)
