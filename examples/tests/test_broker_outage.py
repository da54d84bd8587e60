"""Example: the MQTT broker goes away mid-production and no event is lost.

The gateway gets one extra sink, MQTT, through a loopback TCP proxy the test cuts and restores
(the plugin's ``linegate_sinks`` fixture, overridden here). While the broker is unreachable the
events wait in the gateway's outbox; once it is back, every envelope the gateway produced
reaches an MQTT subscriber (QoS 1 may repeat one, never lose one).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aiomqtt
import orjson
import pytest

from gateway.sinks.base import Sink
from gateway.sinks.mqtt import MqttSink
from gateway.testing import BROKERS, CFXEventCollector, LinegateGateway, TcpProxy
from simulators import small_line

BOARDS = 6


class Subscriber:
    """An MQTT consumer (as an MES would be) that keeps the UniqueID of everything it receives."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.unique_ids: set[str] = set()
        self.changed = asyncio.Condition()

    async def run(self) -> None:
        async for message in self.client.messages:
            envelope = orjson.loads(message.payload)
            async with self.changed:
                self.unique_ids.add(envelope["UniqueID"])
                self.changed.notify_all()

    async def wait_for_all(self, unique_ids: set[str], timeout: float) -> None:
        async with asyncio.timeout(timeout), self.changed:
            await self.changed.wait_for(lambda: unique_ids <= self.unique_ids)


@pytest.fixture
def prefix() -> str:
    return f"linegate-example-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def subscriber(prefix: str) -> AsyncIterator[Subscriber]:
    host, port = BROKERS["mosquitto"].address()
    async with aiomqtt.Client(host, port) as client:
        await client.subscribe(f"{prefix}/#", qos=1)
        consumer = Subscriber(client)
        task = asyncio.create_task(consumer.run())
        yield consumer
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    async with TcpProxy(*BROKERS["mosquitto"].address()) as running:
        yield running


@pytest.fixture
async def linegate_sinks(proxy: TcpProxy, prefix: str, subscriber: Subscriber) -> AsyncIterator[list[Sink]]:
    sink = MqttSink("127.0.0.1", proxy.port, topic_prefix=prefix, timeout=2.0, name="mqtt")
    yield [sink]
    await sink.aclose()


@pytest.mark.linegate_broker("mosquitto")
@pytest.mark.linegate_line(small_line(), boards=BOARDS)  # the small line: quick
async def test_mqtt_outage_loses_no_event(
    linegate_gateway: LinegateGateway,
    cfx_events: CFXEventCollector,
    proxy: TcpProxy,
    subscriber: Subscriber,
) -> None:
    await cfx_events.wait_for("CFX.Production.WorkCompleted", timeout=20)

    proxy.cut()  # the broker becomes unreachable
    first = await cfx_events.wait_for("CFX.Production.UnitsArrived", since=cfx_events.mark(), timeout=20)
    # An event stored after one the collector saw after the cut cannot have reached the broker.
    await cfx_events.wait_for("CFX.Production.WorkStarted", since=cfx_events.mark(), timeout=20)
    assert linegate_gateway.outbox.depth("mqtt") > 0, "the outage held nothing back"
    proxy.restore()

    await linegate_gateway.line.wait_departed(BOARDS, timeout=60)
    await linegate_gateway.wait_delivered("mqtt", timeout=30)
    produced = {e["UniqueID"] for e in cfx_events.envelopes}
    await subscriber.wait_for_all(produced, timeout=15)
    assert first["UniqueID"] in subscriber.unique_ids
    assert proxy.accepted >= 2  # the sink really reconnected
