"""``linegate run --loop``: the small line runs on asyncio's loop or on uvloop, and stops cleanly."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import sys
import uuid
from pathlib import Path

import aio_pika
import orjson
import pytest

from gateway.simulated import publishing_to
from protocols.cfx.enums import ResourceState
from protocols.transport.ports import free_port
from simulators import Line, small_line
from tests.support.line_config import write_line_config

pytestmark = [pytest.mark.broker, pytest.mark.timeout(180)]

STATE = "CFX.ResourcePerformance.StationStateChanged"


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
async def test_the_whole_line_runs_and_stops_on_either_loop(tmp_path: Path, loop: str) -> None:
    """It says which loop it runs on; every machine of the small line (CFX over AMQP 1.0, Modbus
    TCP, OPC UA, serial over ``socket://``) has its state read and delivered to RabbitMQ through
    the AMQP sink; SIGTERM exits 0. On uvloop the serial adapter crashed at every connect (the
    serial library sets attributes uvloop's transports refuse), so the coater never reported."""
    exchange = f"linegate-loop-{uuid.uuid4().hex[:8]}"
    delivered: collections.Counter[str] = collections.Counter()
    arrived = asyncio.Event()
    broker = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
    events_port = free_port()
    async with broker, Line(publishing_to(small_line(), events_port), start_source=False) as line:
        handles = {end.cfx_handle for end in line.endpoints()}
        assert len(handles) == 4
        channel = await broker.channel()
        ex = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(ex, "#")

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            envelope = orjson.loads(message.body)
            # The machine's own state, read from it: not the gateway's presence messages, nor
            # the USD state and fault it reports for a machine it cannot reach.
            if (
                envelope["MessageName"] == STATE
                and str(envelope["MessageBody"]["NewState"]) != ResourceState.USD
            ):
                delivered[envelope["Source"]] += 1
                arrived.set()

        await queue.consume(on_message, no_ack=True)
        config = write_line_config(
            tmp_path / "line.toml", line, exchange=exchange, password_env="LG_PW", events_port=events_port
        )
        env = {**os.environ, "LG_PW": "guest", "LINEGATE_LOG_LEVEL": "warning"}
        gateway = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "gateway", "run", str(config), "--loop", loop),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert gateway.stdout is not None
            assert gateway.stderr is not None
            banner = (await asyncio.wait_for(gateway.stdout.readline(), 60)).decode()
            if not banner:
                pytest.fail((await gateway.stderr.read()).decode()[-3000:])
            assert banner.rstrip().endswith(f"event loop {loop}"), banner

            async with asyncio.timeout(90):
                while not handles <= delivered.keys():
                    arrived.clear()
                    await arrived.wait()
            gateway.send_signal(signal.SIGTERM)
            _, errors = await asyncio.wait_for(gateway.communicate(), 60)
            assert gateway.returncode == 0
        finally:
            if gateway.returncode is None:
                gateway.kill()
                await gateway.wait()
    assert b"adapter.crashed" not in errors, errors.decode()[-2000:]
    assert b"experimental" not in errors  # uvloop is a supported loop now
