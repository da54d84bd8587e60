"""The publisher rides out a real broker outage (rabbitmqctl stop_app / start_app)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable

import aio_pika
import pytest

from protocols.cfx.envelope import Envelope
from protocols.cfx.messages import Heartbeat
from protocols.cfx.transport import Backoff, CFXPublisher, CFXSubscriber
from tests.protocols.cfx_transport.conftest import BROKER_URL, Broker, BrokerNames

pytestmark = pytest.mark.broker

HANDLE = "Line1.Outage.Test"


async def rabbitmqctl(*args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl", "-q", *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, err = await process.communicate()
    assert process.returncode == 0, err.decode()


class IdSet:
    """A growing set of message ids, with a wait for a condition on it."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self._changed = asyncio.Condition()

    def add(self, uid: str) -> None:
        self.ids.add(uid)
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, count: int, timeout: float) -> None:
        await self.wait_until(lambda: len(self.ids) >= count, timeout)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)


async def test_confirmed_messages_survive_broker_stop_and_start(broker: Broker, names: BrokerNames) -> None:
    exchange = await broker.channel.declare_exchange(
        names.exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await broker.channel.declare_queue(names.queue(), durable=True)
    await queue.bind(exchange, "#")
    await broker.connection.close()

    confirmed = IdSet()
    failed: list[BaseException] = []
    stop_producing = asyncio.Event()

    def record(uid: str, future: asyncio.Future[None]) -> None:
        error = future.exception()
        if error is None:
            confirmed.add(uid)
        else:
            failed.append(error)

    async def produce(publisher: CFXPublisher) -> None:
        pending: set[asyncio.Future[None]] = set()
        while not stop_producing.is_set():
            envelope = Envelope.create(Heartbeat(cfx_handle=HANDLE), source=HANDLE)
            future = await publisher.submit(envelope)
            future.add_done_callback(functools.partial(record, str(envelope.unique_id)))
            pending.add(future)
            await asyncio.sleep(0.002)  # a steady trickle, like a line of machines
        await asyncio.gather(*pending, return_exceptions=True)

    publisher = CFXPublisher(
        BROKER_URL, exchange=names.exchange, window=64, backoff=Backoff(base=0.2, cap=1.0)
    )
    subscriber = CFXSubscriber(
        BROKER_URL, exchange=names.exchange, queue=names.queue("subscriber"), backoff=Backoff(0.2, 1.0)
    )
    seen = IdSet()

    async def consume() -> None:
        async for envelope in subscriber:
            seen.add(str(envelope.unique_id))

    try:
        async with subscriber, publisher:
            consumer = asyncio.create_task(consume())
            producer = asyncio.create_task(produce(publisher))
            await confirmed.wait_for(100, 10)
            await rabbitmqctl("stop_app")  # returns once the broker has dropped our connection
            outage = len(confirmed.ids)
            await rabbitmqctl("start_app")
            # 100 more confirms can only come through a new connection.
            await confirmed.wait_for(outage + 100, 30)
            stop_producing.set()
            async with asyncio.timeout(20):
                await producer
            # The subscriber, too, came back after the outage and sees every confirmed message.
            await seen.wait_until(lambda: confirmed.ids <= seen.ids, 20)
            consumer.cancel()
    finally:
        with contextlib.suppress(Exception):
            await rabbitmqctl("start_app")  # never leave the broker down for the other tests

    assert publisher.reconnects >= 1
    assert subscriber.reconnects >= 1
    assert not failed
    connection = await aio_pika.connect(BROKER_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(names.queues[0], durable=True, passive=True)
        received: set[str] = set()
        async with asyncio.timeout(20), queue.iterator() as messages:
            async for message in messages:
                await message.ack()
                received.add(str(message.message_id))
                if confirmed.ids <= received:
                    break
    assert confirmed.ids <= received  # at-least-once: duplicates allowed, losses not
    assert confirmed.ids <= seen.ids
