"""A topic exchange of a test's own on the RabbitMQ broker, with every envelope published to it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
import orjson

BROKER = "amqp://guest:guest@127.0.0.1:5672/"


class RecordedExchange:
    """The exchange's name and the envelopes a queue bound to it with ``#`` received, in order."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.envelopes: list[dict[str, Any]] = []
        self.changed = asyncio.Condition()

    @property
    def by_id(self) -> dict[str, dict[str, Any]]:
        """The envelopes by UniqueID."""
        return {envelope["UniqueID"]: envelope for envelope in self.envelopes}

    async def on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process(), self.changed:
            self.envelopes.append(orjson.loads(message.body))
            self.changed.notify_all()

    async def wait_until(self, done: Callable[[], bool], timeout: float = 30.0) -> None:
        """Wait until ``done()`` holds, checked after every envelope."""
        async with asyncio.timeout(timeout), self.changed:
            await self.changed.wait_for(done)

    async def wait_for(self, unique_ids: set[str], timeout: float = 30.0) -> None:
        """Wait until every envelope of ``unique_ids`` arrived."""
        await self.wait_until(lambda: unique_ids <= self.by_id.keys(), timeout)


@asynccontextmanager
async def recorded_exchange(prefix: str, url: str = BROKER) -> AsyncIterator[RecordedExchange]:
    """A durable topic exchange named ``<prefix>-<random>`` (as the gateway's publisher declares
    it) and an exclusive queue bound to all of it, consumed into the record; the exchange is
    deleted afterwards."""
    record = RecordedExchange(f"{prefix}-{uuid.uuid4().hex[:8]}")
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(record.name, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, "#")
        await queue.consume(record.on_message)
        try:
            yield record
        finally:
            await exchange.delete(if_unused=False)
