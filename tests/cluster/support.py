"""What the cluster tests share: a log watcher, a quorum queue bound to an exchange, and reading
a queue back as the distinct message ids in arrival order."""

from __future__ import annotations

import asyncio

import aio_pika
import structlog
from structlog.typing import EventDict, WrappedLogger


class LogWatch:
    """A structlog processor that keeps every event and wakes whoever waits for one."""

    def __init__(self) -> None:
        self.entries: list[EventDict] = []
        self.changed = asyncio.Event()

    def __call__(self, logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
        self.entries.append(event)
        self.changed.set()
        raise structlog.DropEvent

    def named(self, name: str) -> list[EventDict]:
        return [e for e in self.entries if e["event"] == name]

    async def wait_for(self, name: str) -> EventDict:
        while not self.named(name):
            self.changed.clear()
            await self.changed.wait()
        return self.named(name)[0]


async def bound_quorum_queue(
    channel: aio_pika.abc.AbstractChannel, exchange: str
) -> tuple[aio_pika.abc.AbstractExchange, aio_pika.abc.AbstractQueue]:
    """A durable topic ``exchange`` and a quorum queue ``<exchange>.q`` bound to all of it."""
    ex = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(f"{exchange}.q", durable=True, arguments={"x-queue-type": "quorum"})
    await queue.bind(ex, "#")
    return ex, queue


async def distinct_ids(queue: aio_pika.abc.AbstractQueue, count: int, timeout: float = 30) -> list[str]:
    """The first ``count`` distinct message ids off ``queue``, in arrival order (a message sent
    again after a fail-over arrives twice; at least once, the same id)."""
    got: list[str] = []
    async with asyncio.timeout(timeout), queue.iterator() as messages:
        async for message in messages:
            await message.ack()
            if message.message_id not in got:
                got.append(str(message.message_id))
            if len(got) == count:
                break
    return got
