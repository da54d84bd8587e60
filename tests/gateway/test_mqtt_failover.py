"""The MQTT sink with several brokers (``[mqtt] urls``): a broker killed mid-stream loses nothing.

Two Mosquitto brokers of our own are started from the installed ``mosquitto`` binary on free
ports (not the machine's broker on 1883); a subscriber reads each. They are not a cluster:
what the first broker acknowledged reached its subscriber, the rest is published on the second.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt
import orjson
import pytest
from structlog.testing import capture_logs

from gateway.outbox import Outbox, OutboxItem, Priority
from gateway.sinks import MqttSink, drain
from protocols.transport.ports import free_port

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
)
pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed")
SOURCES = ("Acme.Placer.1", "Acme.Reflow.1")


@dataclass
class Broker:
    port: int
    process: asyncio.subprocess.Process
    received: list[str] = field(default_factory=list)  # UniqueIDs, in arrival order
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


@contextlib.asynccontextmanager
async def mosquitto(tmp_path: Path, name: str) -> AsyncIterator[Broker]:
    """A Mosquitto broker on a free port, up once it logged that it runs; killed afterwards."""
    assert MOSQUITTO is not None
    port = free_port()
    conf = tmp_path / f"{name}.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    process = await asyncio.create_subprocess_exec(
        MOSQUITTO, "-c", str(conf), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert process.stderr is not None
        async with asyncio.timeout(20):
            seen: list[bytes] = []
            while b" running" not in (line := await process.stderr.readline()):
                assert line, f"mosquitto exited: {b''.join(seen).decode(errors='replace')}"
                seen.append(line)
        yield Broker(port, process)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


@contextlib.asynccontextmanager
async def subscribed(broker: Broker, prefix: str) -> AsyncIterator[None]:
    """A QoS 1 subscriber on ``broker`` appending every event's UniqueID to ``broker.received``."""
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        await client.subscribe(f"{prefix}/#", qos=1)

        async def collect() -> None:
            with contextlib.suppress(aiomqtt.MqttError):  # the broker was killed
                async for message in client.messages:
                    broker.received.append(orjson.loads(message.payload)["UniqueID"])
                    broker.arrived.set()

        task = asyncio.create_task(collect())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def wait_received(broker: Broker, count: int) -> None:
    """Until ``broker``'s subscriber has ``count`` distinct events."""
    async with asyncio.timeout(10):
        while len(set(broker.received)) < count:
            broker.arrived.clear()
            await broker.arrived.wait()


def envelope(n: int) -> OutboxItem:
    source = SOURCES[n % 2]
    body = orjson.dumps({"MessageName": "CFX.Heartbeat", "UniqueID": f"e{n}", "Source": source})
    return OutboxItem(source, "CFX.Heartbeat", f"e{n}", body, Priority.BULK)


async def test_killing_the_first_broker_mid_stream_loses_nothing(tmp_path: Path) -> None:
    prefix = f"linegate-test-{uuid.uuid4().hex[:8]}"
    total = 400
    async with (
        mosquitto(tmp_path, "a") as first,
        mosquitto(tmp_path, "b") as second,
        subscribed(first, prefix),
        subscribed(second, prefix),
        Outbox(tmp_path / "o.sqlite", sinks=["mqtt"]) as outbox,
    ):
        sink = MqttSink(
            "unused",
            brokers=[("127.0.0.1", first.port), ("127.0.0.1", second.port)],
            topic_prefix=prefix,
            timeout=2,
        )
        with capture_logs() as logs:
            draining = asyncio.create_task(drain(outbox, sink, retry_base=0.02, retry_cap=0.1))
            try:
                for n in range(total):
                    await outbox.put(envelope(n))
                    if n == total // 3:  # a third in: the first broker has some, more are coming
                        await outbox.wait_delivered("mqtt")
                        # Its subscriber too: what a broker acknowledged but had not passed on
                        # yet dies with it (Mosquitto brokers are no cluster; docs/deployment.md).
                        await wait_received(first, n + 1)
                        first.process.send_signal(signal.SIGKILL)
                        await first.process.wait()
                await asyncio.wait_for(outbox.wait_delivered("mqtt"), 30)
                await wait_received(second, total - (total // 3 + 1))
            finally:
                draining.cancel()
                await asyncio.gather(draining, return_exceptions=True)
                await sink.aclose()
    everything = [f"e{n}" for n in range(total)]
    assert set(first.received) | set(second.received) == set(everything)
    assert first.received[: total // 3 + 1] == everything[: total // 3 + 1]
    # Across the two brokers, the first copy of each event came in put order (so per source too).
    assert list(dict.fromkeys(first.received + second.received)) == everything
    assert sink.node == ("127.0.0.1", second.port)
    [failover] = [e for e in logs if e["event"] == "connect.failover"]
    assert (failover["port"], failover["previous"]) == (second.port, f"127.0.0.1:{first.port}")


async def test_an_unreachable_first_broker_is_skipped(tmp_path: Path) -> None:
    prefix = f"linegate-test-{uuid.uuid4().hex[:8]}"
    dead = free_port()  # nothing listens there
    async with (
        mosquitto(tmp_path, "b") as second,
        subscribed(second, prefix),
        Outbox(tmp_path / "o.sqlite", sinks=["mqtt"]) as outbox,
    ):
        sink = MqttSink(
            "unused",
            brokers=[("127.0.0.1", dead), ("127.0.0.1", second.port)],
            topic_prefix=prefix,
            timeout=2,
        )
        with capture_logs() as logs:
            draining = asyncio.create_task(drain(outbox, sink, retry_base=0.02, retry_cap=0.1))
            try:
                await outbox.put_many(envelope(n) for n in range(20))
                await asyncio.wait_for(outbox.wait_delivered("mqtt"), 20)
            finally:
                draining.cancel()
                await asyncio.gather(draining, return_exceptions=True)
                await sink.aclose()
    failed = [e for e in logs if e["event"] == "connect.failed"]
    assert failed and failed[0]["port"] == dead
    assert [e["port"] for e in logs if e["event"] == "connect.complete"] == [second.port]


async def test_no_broker_reachable_is_one_transport_error_naming_each(tmp_path: Path) -> None:
    from protocols.errors import TransportError

    ports = [free_port(), free_port()]
    sink = MqttSink("unused", brokers=[("127.0.0.1", p) for p in ports], timeout=2)
    with pytest.raises(TransportError, match="no MQTT broker reachable") as caught:
        await sink.publish([])
    for port in ports:
        assert f"127.0.0.1:{port}" in str(caught.value)
