"""``linegate run`` killed with SIGKILL mid-run and started again loses nothing it had accepted:
every event committed to its outbox before the kill reaches the broker after the restart."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sqlite3
import sys
import uuid
from pathlib import Path

import aio_pika
import orjson
import pytest

from simulators import Line, small_line
from tests.support.line_config import write_line_config
from tests.support.tcpproxy import TcpProxy

pytestmark = [pytest.mark.broker, pytest.mark.timeout(240)]
MACHINES = ("reflow", "solder", "coater")


async def _start(config: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "LINEGATE_KILL_AMQP_PASSWORD": "guest", "LINEGATE_LOG_LEVEL": "warning"}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "run", str(config), env=env, stdout=asyncio.subprocess.DEVNULL
    )


def _pending(outbox: Path) -> set[str]:
    db = sqlite3.connect(outbox)
    try:
        rows = db.execute(
            "SELECT e.unique_id FROM pending p JOIN events e ON e.seq = p.seq WHERE p.sink = 'amqp'"
        ).fetchall()
    finally:
        db.close()
    return {row[0] for row in rows}


async def test_sigkill_and_restart_lose_nothing(tmp_path: Path) -> None:
    exchange = f"linegate-kill-{uuid.uuid4().hex[:8]}"
    spec = small_line()
    spec = dataclasses.replace(
        spec, time_scale=300.0, machines=tuple(m for m in spec.machines if m.machine_id in MACHINES)
    )
    received: set[str] = set()
    connected: list[str] = []  # EndpointConnected UniqueIDs: each start of the gateway sends one per machine
    changed = asyncio.Condition()
    connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
    async with connection, Line(spec, start_source=False) as line, TcpProxy("127.0.0.1", 5672) as broker:
        channel = await connection.channel()
        ex = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(ex, "#")

        async def consume(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                envelope = orjson.loads(message.body)
                async with changed:
                    received.add(envelope["UniqueID"])
                    if envelope["MessageName"] == "CFX.EndpointConnected":
                        connected.append(envelope["UniqueID"])
                    changed.notify_all()

        await queue.consume(consume)
        config = write_line_config(
            tmp_path / "line.toml",
            line,
            exchange=exchange,
            password_env="LINEGATE_KILL_AMQP_PASSWORD",
            broker_port=broker.port,
        )
        gateway = await _start(config)
        try:
            line.start_source()
            async with asyncio.timeout(90), changed:
                await changed.wait_for(lambda: len(received) >= 30)
            # The broker becomes unreachable: the gateway keeps accepting into its outbox.
            broker.cut()
            await asyncio.wait_for(line.wait_departed(len(line.departed) + 3), 60)
            gateway.send_signal(signal.SIGKILL)
            assert await gateway.wait() == -signal.SIGKILL
            accepted_not_delivered = _pending(tmp_path / "outbox.sqlite")
            # Publishes the broker had routed when the cut dropped their confirms are still pending
            # and may also have arrived: delivery is at least once. The rest is a real backlog that
            # died with the process.
            assert len(accepted_not_delivered - received) >= 10
            broker.restore()
            # Boards keep flowing while the gateway is down; then it comes back.
            await asyncio.wait_for(line.wait_departed(len(line.departed) + 2), 60)
            gateway = await _start(config)
            async with asyncio.timeout(90), changed:
                # Up again (it announced itself), and everything it had accepted has arrived.
                await changed.wait_for(
                    lambda: len(connected) >= 2 * len(MACHINES) and accepted_not_delivered <= received
                )
            gateway.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(gateway.wait(), 60) == 0
        finally:
            if gateway.returncode is None:
                gateway.kill()
                await gateway.wait()
        await ex.delete(if_unused=False)
    assert _pending(tmp_path / "outbox.sqlite") == set()  # the clean stop delivered everything
