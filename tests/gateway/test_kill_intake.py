"""A CFX machine publishing straight to ``linegate run`` (its AMQP 1.0 listener) loses nothing
the gateway accepted: the gateway is killed with SIGKILL, or stopped with SIGTERM, at a random
moment while the machine sends about 1,000 envelopes/s, then started again, and every envelope
whose transfer the machine saw accepted reaches the broker.

The machine is :class:`AMQP10Publisher`, whose ``publish`` returns only when the peer settled
the transfer as accepted: exactly when a CFX SDK publisher drops an envelope from its spool
(cfx.md §2.3). What it saw refused or lost with the connection it would send again; the test
only counts what it saw accepted.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import orjson
import pytest

from protocols.cfx import Envelope
from protocols.cfx import messages as cfx
from protocols.cfx.transport import AMQP10Publisher
from protocols.transport.ports import free_port

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]

HANDLE = "Acme.Placer.7"
ADDRESS = "linegate"
RATE = 1_000  # envelopes per second, about
PASSWORD_ENV = "LINEGATE_INTAKE_AMQP_PASSWORD"


def _config(path: Path, exchange: str, events_port: int) -> Path:
    connection = (
        f'events = "direct", listen_host = "127.0.0.1", listen_port = {events_port}, address = "{ADDRESS}"'
    )
    path.write_text(
        textwrap.dedent(
            f"""
            [line]
            name = "intake"

            [outbox]
            path = "{path.parent / "outbox.sqlite"}"

            [amqp]
            url = "amqp://guest@127.0.0.1:5672/"
            password_env = "{PASSWORD_ENV}"
            exchange = "{exchange}"

            [listener]
            port = 0

            [http]
            port = 0

            [[machines]]
            id = "placer"
            handle = "{HANDLE}"
            protocol = "cfx"
            connection = {{ {connection} }}
            """
        ),
        encoding="utf-8",
    )
    return path


class Gateway:
    """One ``linegate run`` process; :meth:`started` returns once its machine's listener is up."""

    def __init__(self, config: Path, events_port: int) -> None:
        self.config = config
        self.events_port = events_port
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {**os.environ, PASSWORD_ENV: "guest", "LINEGATE_LOG_LEVEL": "info"}
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway",
            "run",
            str(self.config),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert self.process.stdout is not None
        # The CFX-native adapter logs listen.complete with its events URI once it listens.
        wanted = f"127.0.0.1:{self.events_port}".encode()
        async with asyncio.timeout(30):
            while True:
                line = await self.process.stdout.readline()
                assert line, "linegate run ended before its listener was up"
                if b"listen.complete" in line and wanted in line:
                    break
        self._drain = asyncio.create_task(self._discard(self.process.stdout))

    @staticmethod
    async def _discard(stream: asyncio.StreamReader) -> None:
        while await stream.readline():
            pass

    async def stop(self, signum: int) -> int:
        assert self.process is not None
        self.process.send_signal(signum)
        code = await asyncio.wait_for(self.process.wait(), 30)
        await self._drain
        return code

    async def ensure_stopped(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


class Machine:
    """Publishes at about RATE envelopes/s; remembers which transfers the gateway accepted."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.sent = 0
        self.accepted: set[str] = set()
        self.refused = 0
        self.changed = asyncio.Condition()

    async def run(self) -> None:
        async with AMQP10Publisher(self.uri, ADDRESS, handle=HANDLE) as publisher:
            tasks: set[asyncio.Task[None]] = set()
            loop = asyncio.get_running_loop()
            start = loop.time()
            try:
                while True:
                    # Pacing: as many envelopes as the elapsed time allows at RATE (a timer).
                    due = int((loop.time() - start) * RATE) - self.sent
                    for _ in range(due):
                        task = asyncio.create_task(self._one(publisher))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                    await asyncio.sleep(0.005)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _one(self, publisher: AMQP10Publisher) -> None:
        envelope = Envelope.create(
            cfx.UnitsArrived(hermes_identifier=str(uuid.uuid4()), primary_identifier="PCB", lane=1),
            source=HANDLE,
        )
        self.sent += 1
        try:
            await publisher.publish(envelope)
        except Exception:
            self.refused += 1  # released, or the connection went: a real machine keeps it
            return
        async with self.changed:
            self.accepted.add(str(envelope.unique_id))
            self.changed.notify_all()


class Consumer:
    """The MES: every UniqueID that reached the broker's exchange."""

    def __init__(self) -> None:
        self.arrived: set[str] = set()
        self.changed = asyncio.Condition()

    async def handle(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            envelope = orjson.loads(message.body)
            async with self.changed:
                self.arrived.add(envelope["UniqueID"])
                self.changed.notify_all()


@pytest.fixture
async def exchange() -> AsyncIterator[tuple[str, Consumer]]:
    name = f"linegate-intake-{uuid.uuid4().hex[:8]}"
    consumer = Consumer()
    connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
    async with connection:
        channel = await connection.channel()
        ex = await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(ex, "#")
        await queue.consume(consumer.handle)
        yield name, consumer
        await ex.delete(if_unused=False)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
async def test_every_envelope_the_machine_saw_accepted_reaches_the_broker(
    tmp_path: Path, exchange: tuple[str, Consumer], signum: int
) -> None:
    name, consumer = exchange
    events_port = free_port()
    gateway = Gateway(_config(tmp_path / "line.toml", name, events_port), events_port)
    machine = Machine(f"amqp://127.0.0.1:{events_port}")
    # The moment: after a random number of accepted envelopes (0.3 s to 2.5 s of sending).
    moment = random.randint(300, 2_500)
    try:
        await gateway.start()
        sending = asyncio.create_task(machine.run())
        started = time.perf_counter()
        async with asyncio.timeout(30), machine.changed:
            await machine.changed.wait_for(lambda: len(machine.accepted) >= moment or sending.done())
        assert not sending.done(), sending.exception()
        code = await gateway.stop(signum)
        seconds = time.perf_counter() - started
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        assert code == (-signal.SIGKILL if signum == signal.SIGKILL else 0)
        accepted = set(machine.accepted)
        await gateway.start()
        try:
            async with asyncio.timeout(60), consumer.changed:
                await consumer.changed.wait_for(lambda: accepted <= consumer.arrived)
        finally:
            lost = accepted - consumer.arrived
            print(
                f"\n{signal.Signals(signum).name} after {seconds:.2f} s: sent {machine.sent}, "
                f"accepted {len(accepted)}, not accepted {machine.sent - len(accepted)} "
                f"({machine.refused} refused or cut off, the rest in flight), "
                f"arrived {len(consumer.arrived & accepted)} of the accepted, lost {len(lost)}"
            )
        assert await gateway.stop(signal.SIGTERM) == 0
    finally:
        await gateway.ensure_stopped()
    assert lost == set()
    assert machine.sent >= moment
