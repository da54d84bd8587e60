"""Fixtures for the CFX transport tests: per-test broker names and their cleanup."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractConnection

BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"
RUN_ID = uuid.uuid4().hex[:8]


@dataclass
class BrokerNames:
    """Exchange and queue names unique to one test (run id + test name), deleted afterwards."""

    stem: str
    exchange: str
    queues: list[str] = field(default_factory=list)

    def queue(self, suffix: str = "q") -> str:
        name = f"{self.stem}.{suffix}"
        self.queues.append(name)
        return name


@dataclass
class Broker:
    """An admin connection for declaring, inspecting and deleting the test's broker objects."""

    connection: AbstractConnection
    channel: AbstractChannel
    names: BrokerNames


@pytest.fixture
async def names(request: pytest.FixtureRequest) -> AsyncIterator[BrokerNames]:
    """Per-test names; whatever the test declared under them is deleted afterwards."""
    test = re.sub(r"[^A-Za-z0-9_-]", "_", request.node.name)[:60]
    stem = f"linegate-test.{RUN_ID}.{test}"
    names = BrokerNames(stem=stem, exchange=f"{stem}.x")
    yield names
    if request.node.get_closest_marker("broker") is None and not names.queues:
        return  # a broker-free test: nothing to clean
    # The outage test restarts the broker; this runs after it is back.
    connection = await aio_pika.connect(BROKER_URL)
    async with connection:
        channel = await connection.channel()
        for queue in names.queues:
            await channel.queue_delete(queue)
        await channel.exchange_delete(names.exchange)


@pytest.fixture
async def broker(names: BrokerNames) -> AsyncIterator[Broker]:
    """An admin connection for the test's own declarations and checks."""
    connection = await aio_pika.connect(BROKER_URL)
    try:
        channel = await connection.channel()
        yield Broker(connection, channel, names)
    finally:
        if not connection.is_closed:
            await connection.close()
