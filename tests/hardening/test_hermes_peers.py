"""Hostile peers against the Hermes servers: the lane sender (the bridge's Downstream interface),
the vertical server and the configuration service.

A slow sender is dropped by its handshake or message deadline; a peer that never reads is
dropped once the write buffer stays full past the drain deadline; a burst of 1,000 connections
costs no tasks past the connection cap, and another machine's handoff completes meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from structlog.testing import capture_logs

from protocols.hermes import messages as m
from protocols.hermes.codec import encode
from protocols.hermes.state import State
from protocols.hermes.transport import ConfigurationServer, ReceiverLane, SenderLane, VerticalServer
from protocols.hermes.transport.stream import READ_SIZE
from protocols.transport import PeerLimits
from tests.hardening.support import (
    BURST,
    WAIT,
    Burst,
    check_burst,
    measured,
    never_reading_socket,
    report,
    settle,
    trickle_until_dropped,
    until,
)
from tests.protocols.hermes_transport.peers import RawPeer, board, description

SHORT = 0.3  # the deadlines under test, in seconds


def fast_limits(**changes: float | int | None) -> PeerLimits:
    values: dict[str, float | int | None] = {"max_connections": 8, "handshake_timeout": SHORT}
    values.update(changes)
    return PeerLimits(**values)  # type: ignore[arg-type]


async def test_lane_drops_a_peer_that_trickles_its_service_description() -> None:
    """A receiver that sends its ServiceDescription a byte at a time is dropped at the handshake
    deadline, however long it keeps trickling."""
    async with SenderLane(machine_id="S", lane_id=1, host="127.0.0.1", port=0, limits=fast_limits()) as lane:
        reader, writer = await asyncio.open_connection("127.0.0.1", lane.port)
        took, sent = await trickle_until_dropped(reader, writer, encode(description()), pace=0.02)
        assert SHORT - 0.05 <= took < WAIT
        assert 0 < sent < len(encode(description()))
        assert lane.guard.dropped["handshake_timeout"] == 1
        assert lane.state is State.NOT_CONNECTED


async def test_lane_drops_a_peer_that_trickles_a_message_after_the_handshake() -> None:
    """After the handshake, a message begun must finish within the message deadline."""
    async with SenderLane(machine_id="S", lane_id=1, host="127.0.0.1", port=0, message_timeout=SHORT) as lane:
        peer = await RawPeer.connect(lane.port)
        await peer.send(description())
        assert isinstance(await peer.receive(), m.ServiceDescription)
        with capture_logs() as logs:
            took, _ = await trickle_until_dropped(
                peer.reader, peer.writer, encode(m.MachineReady(failed_board=m.BoardQuality.ANY)), pace=0.02
            )
        assert SHORT - 0.05 <= took < WAIT
        assert lane.guard.dropped["message_timeout"] == 1
        dropped = [e for e in logs if e["event"] == "peer.dropped"]
        assert dropped and dropped[0]["reason"] == "message_timeout"
        assert dropped[0]["server"] == "hermes[S/lane1]" and dropped[0]["peer"][0] == "127.0.0.1"


async def test_lane_drops_a_peer_that_never_reads_with_its_buffer_bounded() -> None:
    """A receiver that floods Pings and never reads the Pongs is dropped at the drain deadline;
    what we buffered for it never exceeds one read's worth plus the transport's limit."""
    limits = fast_limits(write_buffer_limit=16 * 1024, drain_timeout=SHORT)
    async with SenderLane(machine_id="S", lane_id=1, host="127.0.0.1", port=0, limits=limits) as lane:
        sock = never_reading_socket(lane.port)
        loop = asyncio.get_running_loop()
        pings = encode(m.CheckAlive(type=m.CheckAliveType.PING, id="x")) * 200
        await loop.sock_sendall(sock, encode(description()))
        with capture_logs() as logs, contextlib.suppress(ConnectionError):
            async with asyncio.timeout(WAIT):
                while True:
                    await loop.sock_sendall(sock, pings)
        sock.close()
        assert lane.guard.dropped["drain_timeout"] == 1
        (dropped,) = [e for e in logs if e["event"] == "peer.dropped"]
        assert dropped["reason"] == "drain_timeout"
        assert dropped["buffered"] <= READ_SIZE + 1024
        await until(lambda: lane.state is State.NOT_CONNECTED)


async def handoffs(sender: SenderLane, receiver: ReceiverLane, count: int) -> int:
    """Hand ``count`` boards over from ``sender`` to ``receiver``; return how many arrived."""
    done = 0
    for _ in range(count):
        offered = board()
        async with asyncio.timeout(WAIT):
            stop, taken = await asyncio.gather(sender.hand_over(offered), receiver.take_over())
        assert taken.board_id == offered.board_id == stop.board_id
        done += 1
    return done


def sessions_of(lane: SenderLane) -> int:
    """The lane's connection tasks still running (its session and refusals being closed)."""
    return sum(task.get_name() == f"{lane.name}.receive" for task in asyncio.all_tasks())


async def test_lane_burst_of_1000_connections_stays_bounded_and_boards_keep_flowing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """1,000 silent connections at lane A: at most the cap of them get a task, the others are
    closed at once by the guard or refused by the lane (one connection per lane, Notification
    2); meanwhile lane B (another machine) hands boards over. The silent connection that holds
    lane A keeps it until its handshake deadline, and no longer: then a real receiver gets the
    lane and hands a board over."""
    deadline = 2.0  # lane A's handshake deadline: how long a silent peer holds it
    limits = fast_limits(handshake_timeout=deadline)
    async with (
        SenderLane(machine_id="A", lane_id=1, host="127.0.0.1", port=0, limits=limits) as lane_a,
        SenderLane(machine_id="B", lane_id=1, host="127.0.0.1", port=0) as lane_b,
        ReceiverLane(machine_id="B2", lane_id=1, host="127.0.0.1", port=lane_b.port) as receiver_b,
    ):
        await receiver_b.wait_connected()
        burst = Burst(lane_a.port)
        with measured() as sample:
            await burst.fire()
            flowing = asyncio.ensure_future(handoffs(lane_b, receiver_b, 5))
            guard = lane_a.guard
            await until(lambda: guard.accepted + guard.dropped["connection_limit"] >= BURST, sample)
            assert await flowing == 5
            # Settled once the lane's refusals have closed: only the silent holder's task is left.
            await settle(sample, also=lambda: sessions_of(lane_a) <= 1)
            # Every admission past the cap was refused by the lane or evicted by the guard.
            assert guard.accepted - guard.dropped["evicted"] - lane_a.refused <= limits.max_connections
            loop = asyncio.get_running_loop()
            started = loop.time()
            async with ReceiverLane(
                machine_id="A2", lane_id=1, host="127.0.0.1", port=lane_a.port, fast_retry=0.1, slow_retry=0.2
            ) as receiver_a:
                assert await handoffs(lane_a, receiver_a, 1) == 1
            # In once the silent holder's deadline passed (it began before `started`).
            assert loop.time() - started < deadline + WAIT / 2
            assert guard.dropped["handshake_timeout"] + guard.dropped["evicted"] >= 1
            await burst.close()
        with capsys.disabled():
            print("\n" + report("hermes lane burst", sample))
        # Beyond asyncio's accept tasks, only the cap's sessions and the handoffs have tasks.
        check_burst(guard, sample, cap=limits.max_connections, tasks_per_connection=2, refused=lane_a.refused)


async def test_vertical_server_drops_a_silent_client_and_survives_a_burst() -> None:
    """The vertical server drops a client that never sends its SupervisoryServiceDescription,
    closes a burst past its cap at once, and still serves a real client afterwards."""
    desc = m.SupervisoryServiceDescription(system_id="M1", version="1.6")
    async with VerticalServer(desc, host="127.0.0.1", port=0, limits=fast_limits()) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        took, _ = await trickle_until_dropped(reader, writer, encode(desc), pace=0.02)
        assert SHORT - 0.05 <= took < WAIT
        assert server.guard.dropped["handshake_timeout"] == 1
        burst = Burst(server.port)
        await burst.fire()
        guard = server.guard
        await until(lambda: guard.accepted - 1 + guard.dropped["connection_limit"] >= BURST)
        await burst.close()
        await until(lambda: guard.active == 0)
        peer = await RawPeer.connect(server.port)
        await peer.send(m.SupervisoryServiceDescription(system_id="MES", version="1.6"))
        assert isinstance(await peer.receive(), m.SupervisoryServiceDescription)
        await peer.aclose()


async def test_configuration_service_drops_idle_and_slow_clients() -> None:
    """The configuration service drops a client that trickles its first message and one that
    sits idle after it; a real GetConfiguration is answered meanwhile."""
    limits = fast_limits(idle_timeout=SHORT)
    async with ConfigurationServer(host="127.0.0.1", port=0, limits=limits) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        took, _ = await trickle_until_dropped(reader, writer, encode(m.GetConfiguration()), pace=0.02)
        assert SHORT - 0.05 <= took < WAIT
        idle = await RawPeer.connect(server.port)
        await idle.send(m.GetConfiguration())
        assert isinstance(await idle.receive(), m.CurrentConfiguration)
        assert await idle.closed()  # then nothing more: dropped by the idle deadline
        assert server.guard.dropped["handshake_timeout"] == 1
        assert server.guard.dropped["idle_timeout"] == 1


def test_limits_reject_nonsense() -> None:
    """PeerLimits refuses a zero cap and non-positive deadlines."""
    with pytest.raises(ValueError, match="max_connections"):
        PeerLimits(max_connections=0)
    with pytest.raises(ValueError, match="drain_timeout"):
        PeerLimits(drain_timeout=0)


async def test_vertical_client_that_never_reads_is_dropped_and_the_other_gets_every_message() -> None:
    """Board tracking to two clients, one of which never reads: it is dropped at the drain
    deadline with its buffer bounded, and the reading client receives every message."""
    tracking = m.SupervisoryFeatures(feature_board_tracking=m.FeatureBoardTracking())
    desc = m.SupervisoryServiceDescription(system_id="M1", version="1.6")
    limits = fast_limits(write_buffer_limit=16 * 1024, drain_timeout=SHORT, handshake_timeout=WAIT)
    async with VerticalServer(desc, host="127.0.0.1", port=0, limits=limits) as server:
        loop = asyncio.get_running_loop()
        stuck = never_reading_socket(server.port)
        await loop.sock_sendall(stuck, encode(m.SupervisoryServiceDescription("MES-STUCK", "1.6", tracking)))
        reader = await RawPeer.connect(server.port)
        await reader.send(m.SupervisoryServiceDescription("MES-OK", "1.6", tracking))
        assert isinstance(await reader.receive(), m.SupervisoryServiceDescription)
        await until(lambda: len(server.sessions) == 2)
        count = 3000
        received: list[m.Message | m.UnknownMessage] = []

        async def read_all() -> None:
            while len(received) < count:
                message = await reader.receive()
                if not isinstance(message, m.CheckAlive):
                    received.append(message)

        reading = asyncio.ensure_future(read_all())
        with capture_logs() as logs:
            for index in range(count):
                await server.publish(
                    m.BoardArrived(
                        "M1",
                        1,
                        m.BoardArrivedTransfer.TRANSFERRED,
                        f"board-{index:06d}-{'x' * 2000}",
                        "M0",
                        m.BoardQuality.GOOD,
                        m.FlippedBoard.TOP_SIDE_IS_UP,
                    )
                )
            async with asyncio.timeout(WAIT):
                await reading
        stuck.close()
        assert [msg.board_id[:12] for msg in received if isinstance(msg, m.BoardArrived)] == [
            f"board-{index:06d}" for index in range(count)
        ]
        (dropped,) = [e for e in logs if e["event"] == "peer.dropped"]
        assert dropped["reason"] == "drain_timeout" and dropped["buffered"] <= READ_SIZE + 16 * 1024
        await reader.aclose()
