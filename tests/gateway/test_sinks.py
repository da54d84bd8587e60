"""Sinks deliver every outbox event, in order, and only acknowledge what the far side confirmed."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator, Callable, Collection
from pathlib import Path

import aiomqtt
import orjson
import pytest

from gateway.outbox import Outbox, OutboxItem, Priority, StoredEvent
from gateway.runtime import outbox_item
from gateway.sinks import ConsoleSink, JsonLinesSink, MqttSink, Sink, drain, mqtt_topic
from protocols.cfx import Envelope, Fault, FaultOccurred, UnitsArrived
from protocols.cfx.enums import FaultSeverity
from protocols.errors import TransportError
from tests.support.tcpproxy import TcpProxy


class Watched:
    """Wraps a sink and wakes waiters after every publish attempt."""

    def __init__(self, inner: Sink) -> None:
        self.inner = inner
        self.name = inner.name
        self.changed = asyncio.Condition()
        self.failures = 0

    async def publish(self, batch: list[StoredEvent]) -> None:
        try:
            await self.inner.publish(batch)
        except TransportError:
            self.failures += 1
            raise
        finally:
            async with self.changed:
                self.changed.notify_all()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 20) -> None:
        async with asyncio.timeout(timeout):
            async with self.changed:
                await self.changed.wait_for(predicate)


def envelope(source: str, n: int) -> OutboxItem:
    body = orjson.dumps(
        {"MessageName": "CFX.Heartbeat", "UniqueID": f"{source}-{n}", "Source": source, "N": n}
    )
    return OutboxItem(source, "CFX.Heartbeat", f"{source}-{n}", body, Priority.BULK)


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[Outbox]:
    async with Outbox(tmp_path / "o.sqlite", sinks=["file", "mqtt", "console", "flaky"]) as ob:
        yield ob


async def run_drain(outbox: Outbox, sink: Watched, count: int) -> None:
    task = asyncio.create_task(drain(outbox, sink, retry_base=0.02, retry_cap=0.1))
    try:
        await asyncio.wait_for(outbox.wait_delivered(sink.name), 20)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_jsonl_sink_appends_every_event_in_order(outbox: Outbox, tmp_path: Path) -> None:
    await outbox.put_many(envelope("A.B.C", n) for n in range(50))
    sink = Watched(JsonLinesSink(tmp_path / "events.jsonl"))
    await run_drain(outbox, sink, 50)
    lines = (tmp_path / "events.jsonl").read_bytes().splitlines()
    assert [orjson.loads(line)["N"] for line in lines] == list(range(50))


async def test_jsonl_sink_reports_unwritable_file(tmp_path: Path) -> None:
    sink = JsonLinesSink(tmp_path / "missing-dir" / "events.jsonl")
    with pytest.raises(TransportError, match="cannot append"):
        await sink.publish([StoredEvent(1, "s", "m", "u", b"{}", Priority.BULK, 0.0)])


class Flaky:
    """Fails the first ``failures`` publishes, then records what it was given."""

    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[str] = []

    async def publish(self, batch: list[StoredEvent]) -> None:
        if self.failures:
            self.failures -= 1
            raise TransportError("broker away")
        self.received += [e.unique_id for e in batch]


async def test_failed_batches_are_retried_and_nothing_is_skipped(outbox: Outbox) -> None:
    await outbox.put_many(envelope("S.M.1", n) for n in range(10))
    flaky = Flaky(failures=3)
    await run_drain(outbox, Watched(flaky), 10)
    assert flaky.received == [f"S.M.1-{n}" for n in range(10)]


class NackedFirst:
    """A pipelined sink whose first batch is refused only after the second was confirmed, as a
    broker can nack one message and take the ones published after it."""

    name = "flaky"
    pipeline_depth = 2

    def __init__(self) -> None:
        self.published: list[str] = []  # every copy the far side took, in arrival order
        self.calls = 0
        self._second_done = asyncio.Event()

    async def publish(self, batch: list[StoredEvent]) -> None:
        self.calls += 1
        if self.calls == 1:
            await self._second_done.wait()
            raise TransportError("nacked")
        self.published += [e.unique_id for e in batch]
        if self.calls == 2:
            self._second_done.set()


async def test_a_retried_batch_goes_before_the_batches_issued_after_it(outbox: Outbox) -> None:
    """After a refused batch the sink republishes from it onward: the copies published after the
    failure hold every event in put order, none of them behind a later batch."""
    ids = [f"S.M.1-{n}" for n in range(6)]
    await outbox.put_many(envelope("S.M.1", n) for n in range(6))
    sink = NackedFirst()
    task = asyncio.create_task(drain(outbox, sink, batch_size=3, retry_base=0.01, retry_cap=0.02))
    try:
        await asyncio.wait_for(outbox.wait_delivered(sink.name), 20)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert sink.published[:3] == ids[3:]  # the second batch, confirmed while the first failed
    assert sink.published[3:] == ids  # the retry: the refused batch first, then the second again


async def test_console_sink_prints_one_line_per_event(outbox: Outbox) -> None:
    await outbox.put(envelope("Acme.Reflow.1", 0))
    out = io.StringIO()
    await run_drain(outbox, Watched(ConsoleSink(out)), 1)
    assert out.getvalue().endswith("Acme.Reflow.1                Heartbeat\n")


async def test_console_sink_says_what_an_event_says(outbox: Outbox) -> None:
    fault = Fault(fault_code="OV-O2-HIGH", severity=FaultSeverity.WARNING, description="O2 high")
    await outbox.put(outbox_item(Envelope.create(FaultOccurred(fault=fault), source="Acme.Reflow.1")))
    arrived = UnitsArrived(primary_identifier="SN-1", hermes_identifier="b-1")
    await outbox.put(outbox_item(Envelope.create(arrived, source="Acme.Reflow.1")))
    out = io.StringIO()
    await run_drain(outbox, Watched(ConsoleSink(out)), 2)
    first, second = out.getvalue().splitlines()
    assert first.endswith("ResourcePerformance.FaultOccurred  OV-O2-HIGH Warning: O2 high")
    assert second.endswith("Production.UnitsArrived  barcode SN-1")


def test_mqtt_topic_replaces_wildcards() -> None:
    assert mqtt_topic("cfx", "Acme.Reflow.1", "CFX.Heartbeat") == "cfx/Acme.Reflow.1/CFX.Heartbeat"
    assert mqtt_topic("cfx", "a/b+c#", "X") == "cfx/a_b_c_/X"


@pytest.mark.mqtt
async def test_mqtt_sink_publishes_through_an_outage(outbox: Outbox) -> None:
    prefix = f"linegate-test-{uuid.uuid4().hex[:8]}"
    received: list[tuple[str, int]] = []
    got_all = asyncio.Event()
    total = 60

    async with TcpProxy("127.0.0.1", 1883) as proxy, aiomqtt.Client("127.0.0.1", 1883) as subscriber:
        await subscriber.subscribe(f"{prefix}/#", qos=1)

        async def collect() -> None:
            async for message in subscriber.messages:
                n = orjson.loads(message.payload)["N"]  # type: ignore[arg-type]
                received.append((str(message.topic), n))
                if {m for _, m in received} >= set(range(total)):
                    got_all.set()

        collector = asyncio.create_task(collect())
        sink = Watched(MqttSink("127.0.0.1", proxy.port, topic_prefix=prefix, timeout=2))
        draining = asyncio.create_task(drain(outbox, sink, retry_base=0.05, retry_cap=0.2))
        try:
            await outbox.put_many(envelope("Acme.Placer.1", n) for n in range(20))
            await asyncio.wait_for(outbox.wait_delivered("mqtt"), 20)
            proxy.cut()  # the broker becomes unreachable
            await outbox.put_many(envelope("Acme.Placer.1", n) for n in range(20, total))
            await sink.wait_until(
                lambda: outbox.depth("mqtt") == total - 20
            )  # a failed attempt, nothing acked
            proxy.restore()
            await asyncio.wait_for(outbox.wait_delivered("mqtt"), 20)
            await asyncio.wait_for(got_all.wait(), 10)
        finally:
            draining.cancel()
            collector.cancel()
            await asyncio.gather(draining, collector, return_exceptions=True)
            await sink.inner.aclose()  # type: ignore[attr-defined]
    assert {topic for topic, _ in received} == {f"{prefix}/Acme.Placer.1/CFX.Heartbeat"}
    assert proxy.accepted >= 2  # it really reconnected
    # QoS 1 may repeat a message after an outage, but never loses or reorders the first copies.
    first_seen = list(dict.fromkeys(n for _, n in received))
    assert first_seen == list(range(total))


class Buggy:
    """A sink with a bug: it raises something that is not a transport error, twice."""

    name = "flaky"

    def __init__(self) -> None:
        self.calls = 0
        self.received: list[str] = []

    async def publish(self, batch: list[StoredEvent]) -> None:
        self.calls += 1
        if self.calls <= 2:
            raise KeyError("bug")
        self.received += [e.unique_id for e in batch]


async def test_a_buggy_sink_keeps_its_events_and_does_not_stop_draining(outbox: Outbox) -> None:
    await outbox.put_many(envelope("S.M.1", n) for n in range(3))
    buggy = Buggy()
    await run_drain(outbox, Watched(buggy), 3)
    assert buggy.received == [f"S.M.1-{n}" for n in range(3)]


async def test_console_sink_reports_a_closed_output() -> None:
    stream = io.StringIO()
    stream.close()
    with pytest.raises(TransportError, match="console output is closed"):
        await ConsoleSink(stream).publish([StoredEvent(1, "s", "m", "u", b"{}", Priority.BULK, 0.0)])


class CountingOutbox(Outbox):
    """An outbox that counts how often a drain asks it for a batch."""

    asked = 0

    def next_batch(self, sink: str, limit: int = 256, *, skip: Collection[int] = ()) -> list[StoredEvent]:
        self.asked += 1
        return super().next_batch(sink, limit, skip=skip)


async def test_a_batch_confirmed_ahead_of_an_earlier_one_does_not_spin_the_drain(tmp_path: Path) -> None:
    """While the first batch awaits its confirm and the second is confirmed (but not yet
    acknowledged, to keep order), the drain waits instead of polling the outbox in a loop."""
    first_may_finish = asyncio.Event()
    second_done = asyncio.Event()

    class SlowFirst:
        name = "flaky"
        pipeline_depth = 3  # room for more: the drain also waits for new events
        calls = 0

        async def publish(self, batch: list[StoredEvent]) -> None:
            self.calls += 1
            if self.calls == 1:
                await first_may_finish.wait()
            else:
                second_done.set()

    async with CountingOutbox(tmp_path / "o.sqlite", sinks=["flaky"]) as outbox:
        await outbox.put_many(envelope("S.M.1", n) for n in range(6))
        task = asyncio.create_task(drain(outbox, SlowFirst(), batch_size=3))
        try:
            await asyncio.wait_for(second_done.wait(), 5)
            asked = outbox.asked
            for _ in range(100):  # loop passes, not time: a spinning drain would ask on each
                await asyncio.sleep(0)
            assert outbox.asked - asked <= 2
            assert outbox.depth("flaky") == 6  # nothing acknowledged ahead of the first batch
            first_may_finish.set()
            await asyncio.wait_for(outbox.wait_delivered("flaky"), 5)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
