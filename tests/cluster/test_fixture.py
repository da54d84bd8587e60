"""The three-node RabbitMQ cluster fixture: nodes are clustered, queues replicate, faults heal."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from pathlib import Path

import aio_pika
import pytest

from gateway.testing import rabbitmq_cluster as engine
from gateway.testing.rabbitmq_cluster import RabbitMQCluster, ServerMissing

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

# For the tests that build a cluster object (its scripts need the installed server), not start it.
needs_rabbitmq_server = pytest.mark.skipif(
    engine.server_script() is None, reason="rabbitmq-server is not installed"
)


async def test_a_quorum_queue_declared_on_one_node_is_read_from_another(
    rabbitmq_cluster: RabbitMQCluster,
) -> None:
    first, second, third = rabbitmq_cluster.nodes
    ports = [n.amqp_port for n in rabbitmq_cluster.nodes] + [n.dist_port for n in rabbitmq_cluster.nodes]
    assert len(set(ports)) == 6
    assert not set(ports) & engine.RESERVED_PORTS
    queue_name = f"fixture-{uuid.uuid4().hex[:8]}"
    async with await aio_pika.connect(first.url) as producer, await aio_pika.connect(third.url) as consumer:
        channel = await producer.channel()
        await channel.declare_queue(queue_name, durable=True, arguments={"x-queue-type": "quorum"})
        for i in range(5):
            await channel.default_exchange.publish(aio_pika.Message(str(i).encode()), routing_key=queue_name)
        reader = await consumer.channel()
        queue = await reader.get_queue(queue_name)
        got = []
        async with asyncio.timeout(30), queue.iterator() as messages:
            async for message in messages:
                await message.ack()
                got.append(message.body.decode())
                if len(got) == 5:
                    break
        assert got == ["0", "1", "2", "3", "4"]
        await queue.delete(if_unused=False, if_empty=False)
    # The queue's replicas live on all three nodes.
    assert second.name in rabbitmq_cluster.ctl(second, "cluster_status")


async def test_kill_and_stop_app_take_a_node_down_and_heal_brings_it_back(
    rabbitmq_cluster: RabbitMQCluster,
) -> None:
    first, second, _ = rabbitmq_cluster.nodes
    pid = first.pid
    assert pid is not None
    # The pid is the node's Erlang VM itself, not a shell around it.
    assert os.path.basename(os.readlink(f"/proc/{pid}/exe")) == "beam.smp"
    await rabbitmq_cluster.akill(first)
    assert not first.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(OSError):
        await aio_pika.connect(first.url, timeout=2)
    await rabbitmq_cluster.astop_app(second)
    assert second.running  # the VM stays; RabbitMQ itself is stopped
    with pytest.raises(OSError):
        await aio_pika.connect(second.url, timeout=2)
    await rabbitmq_cluster.aheal()
    for node in rabbitmq_cluster.nodes:
        async with await aio_pika.connect(node.url, timeout=10):
            pass
    status = rabbitmq_cluster.ctl(first, "cluster_status", "--formatter", "json")
    assert all(node.name in status for node in rabbitmq_cluster.nodes)


def test_a_machine_without_rabbitmq_server_gets_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "SERVER_SCRIPT", tmp_path / "nowhere" / "rabbitmq-server")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ServerMissing, match="apt-get install rabbitmq-server"):
        RabbitMQCluster(tmp_path / "cluster")


@needs_rabbitmq_server
def test_a_node_that_cannot_start_fails_with_its_log_and_leaves_nothing_running(tmp_path: Path) -> None:
    cluster = RabbitMQCluster(tmp_path / "bad", size=1, timeout=60)
    with socket.socket() as taken:  # its AMQP port is already in use
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        cluster.nodes[0].amqp_port = taken.getsockname()[1]
        with pytest.raises(engine.ClusterError, match="did not start") as caught:
            cluster.start()
    assert cluster.nodes[0].name in str(caught.value)
    assert all(node.process is None for node in cluster.nodes)
    assert os.listdir(tmp_path / "bad")


def test_ports_are_picked_outside_the_reserved_ones() -> None:
    ports = engine.pick_ports(20)
    assert len(set(ports)) == 20
    assert not set(ports) & engine.RESERVED_PORTS
    assert all(engine.PORT_RANGE[0] <= p < engine.PORT_RANGE[1] for p in ports)


@needs_rabbitmq_server
def test_a_partition_without_nft_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = RabbitMQCluster(tmp_path / "c")
    monkeypatch.setenv("PATH", str(tmp_path))  # no nft on it
    with pytest.raises(engine.PartitionUnavailable, match="apt-get install nftables"):
        cluster.partition(cluster.nodes[0])
    assert cluster.partitioned is None
    cluster.unpartition()  # nothing to undo: no error


@needs_rabbitmq_server
def test_one_partition_at_a_time_cutting_the_node_both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = RabbitMQCluster(tmp_path / "c")
    calls: list[tuple[tuple[str, ...], str | None]] = []
    monkeypatch.setattr(cluster, "_nft", lambda *args, stdin=None: calls.append((args, stdin)))
    first, second, third = cluster.nodes
    cluster.partition(second)
    with pytest.raises(engine.ClusterError, match="already partitioned"):
        cluster.partition(third)
    [(args, rules)] = calls
    assert args == ("-f", "-") and rules is not None
    # Its own connections (from its address to their ports) and theirs to its port, both ways.
    peers = f"{{ {first.dist_port}, {third.dist_port} }}"
    sources = f"{{ {first.dist_source}, {third.dist_source} }}"
    assert f"ip saddr {second.dist_source} tcp dport {peers} drop" in rules
    assert f"ip daddr {second.dist_source} tcp sport {peers} drop" in rules
    assert f"ip saddr {sources} tcp dport {second.dist_port} drop" in rules
    assert f"ip daddr {sources} tcp sport {second.dist_port} drop" in rules
    assert len({node.dist_source for node in cluster.nodes}) == 3
    cluster.unpartition()
    assert calls[-1][0] == ("delete", "table", "ip", cluster.nft_table) and cluster.partitioned is None


@needs_rabbitmq_server
def test_an_unknown_partition_handling_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected one of ignore, pause_minority, autoheal"):
        RabbitMQCluster(tmp_path / "c", partition_handling="pause-minority")
    cluster = RabbitMQCluster(tmp_path / "d")
    with pytest.raises(ValueError, match="'heal'"):
        cluster.set_partition_handling("heal")
    assert cluster.partition_handling_now == "ignore"
