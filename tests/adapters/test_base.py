"""The adapter supervisor reconnects with backoff, detects a silent peer, and stops cleanly."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from structlog.testing import capture_logs

from adapters.base import Adapter, AdapterState, Emit, RecipeInfo, ReconnectPolicy
from adapters.observations import Observation, Reading, RecipeActivated
from protocols.errors import TransportError


class LineAdapter(Adapter):
    """Reads one number per line from a TCP peer and reports it as a Reading."""

    protocol = "test-lines"

    def __init__(self, port: int, policy: ReconnectPolicy) -> None:
        super().__init__("m1", policy=policy)
        self.port = port
        self.attempts: list[float] = []
        self.enough_attempts = asyncio.Event()

    async def _session(self, emit: Emit) -> None:
        self.attempts.append(asyncio.get_running_loop().time())
        if len(self.attempts) >= 6:
            self.enough_attempts.set()
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            self.connected()
            while line := await reader.readline():
                self.alive()
                await emit(
                    Reading(machine_id=self.machine_id, at=datetime.now(UTC), name="n", value=int(line))
                )
            raise TransportError("peer closed the connection")
        finally:
            writer.close()

    async def activate_recipe(self, name: str, revision: str | None = None) -> RecipeActivated:
        raise NotImplementedError

    async def active_recipe(self) -> RecipeInfo | None:
        return None

    async def available_recipes(self) -> list[RecipeInfo]:
        return []


class Peer:
    """A loopback server whose behaviour per connection the test chooses."""

    def __init__(self) -> None:
        self.connections: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
        self.server: asyncio.Server | None = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.connections.put((reader, writer))

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    p = Peer()
    await p.start()
    yield p
    assert p.server is not None
    p.server.close()


FAST = dict(base=0.01, cap=0.05, healthy_after=60.0, liveness_timeout=5.0)


async def test_reconnects_after_the_peer_drops(peer: Peer) -> None:
    adapter = LineAdapter(port=_port(peer), policy=ReconnectPolicy(**FAST))  # type: ignore[arg-type]
    seen: asyncio.Queue[Observation] = asyncio.Queue()
    task = asyncio.create_task(adapter.run(seen.put))
    try:
        _, writer = await asyncio.wait_for(peer.connections.get(), 5)
        writer.write(b"1\n")
        await writer.drain()
        first = await asyncio.wait_for(seen.get(), 5)
        assert isinstance(first, Reading) and first.value == 1
        writer.close()  # the machine drops the connection
        _, writer2 = await asyncio.wait_for(peer.connections.get(), 5)
        writer2.write(b"2\n")
        second = await asyncio.wait_for(seen.get(), 5)
        assert isinstance(second, Reading) and second.value == 2
        assert adapter.health.connects == 2
        assert adapter.health.failures == 1
        assert adapter.health.last_error == "peer closed the connection"
        writer2.close()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert adapter.health.state is AdapterState.STOPPED


async def test_silent_peer_is_detected(peer: Peer) -> None:
    policy = ReconnectPolicy(base=0.01, cap=0.05, healthy_after=60.0, liveness_timeout=0.2)
    adapter = LineAdapter(port=_port(peer), policy=policy)
    task = asyncio.create_task(adapter.run(_discard))
    try:
        with capture_logs() as logs:
            first_reader, _ = await asyncio.wait_for(peer.connections.get(), 5)  # accepts, then says nothing
            # The watchdog ends the session: our side closes it, and the adapter connects again.
            assert await asyncio.wait_for(first_reader.read(), 5) == b""
            await asyncio.wait_for(peer.connections.get(), 5)
        failed = [e for e in logs if e["event"] == "connect.failed"]
        assert failed and "no answer from the machine for 0.2 s" in failed[0]["error"]
        assert failed[0]["machine"] == "m1" and failed[0]["protocol"] == "test-lines"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_machine_down_costs_no_busy_loop() -> None:
    # Nothing listens on this port: every attempt fails at once, so only the backoff paces them.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    policy = ReconnectPolicy(
        base=0.04, cap=0.1, healthy_after=60.0, liveness_timeout=5.0, rng=random.Random(1)
    )
    adapter = LineAdapter(port=port, policy=policy)
    task = asyncio.create_task(adapter.run(_discard))
    try:
        await asyncio.wait_for(adapter.enough_attempts.wait(), 10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    gaps = [b - a for a, b in zip(adapter.attempts, adapter.attempts[1:], strict=False)]
    assert min(gaps) >= 0.01  # never below base/4
    assert adapter.health.connects == 0
    assert adapter.health.last_error is not None


def test_delays_grow_to_the_cap_and_never_spin() -> None:
    policy = ReconnectPolicy(base=0.5, cap=30.0, rng=random.Random(7))
    delays = [policy.delay(n) for n in range(1, 40)]
    assert all(0.125 <= d <= 30.0 for d in delays)
    assert max(policy.delay(1) for _ in range(100)) <= 0.5
    assert max(policy.delay(20) for _ in range(200)) > 15.0


def _port(peer: Peer) -> int:
    assert peer.server is not None
    return int(peer.server.sockets[0].getsockname()[1])


async def _discard(observation: Observation) -> None:
    return None
