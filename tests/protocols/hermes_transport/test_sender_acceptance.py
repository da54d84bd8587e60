"""The hermes-org acceptance checklist (reference §4.2) against our board sender's Downstream
interface (SenderLane, the TCP server), played by a raw peer over loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator

import pytest

from protocols.hermes import messages as m
from protocols.hermes.codec import encode
from protocols.hermes.state import State
from protocols.hermes.transport import SenderLane
from protocols.transport import PeerLimits
from tests.protocols.hermes_transport.peers import WAIT, RawPeer, board, description


@pytest.fixture
async def sender() -> AsyncIterator[SenderLane]:
    async with SenderLane(
        machine_id="SUT", lane_id=1, host="127.0.0.1", port=0, features=m.SupportedFeatures.all()
    ) as lane:
        yield lane


async def handshake(lane: SenderLane) -> RawPeer:
    peer = await RawPeer.connect(lane.port)
    await peer.send(description())
    answer = await peer.receive_skipping_check_alive()
    assert isinstance(answer, m.ServiceDescription)
    return peer


async def test_connect_disconnect_loops(sender: SenderLane) -> None:
    """[acc] connect/disconnect  n times, with and without a ServiceDescription, then a normal handshake."""
    for index in range(10):
        peer = await RawPeer.connect(sender.port)
        if index % 2:
            await peer.send(description())  # and leave without waiting for the answer
        await peer.aclose()
    peer = await handshake(sender)
    await sender.wait_connected()
    await peer.aclose()


async def test_handshake_answers_a_valid_service_description(sender: SenderLane) -> None:
    """[acc] handshake validation: MachineId, LaneId ≥ 1, Version matching ^[1-9][0-9]{0,2}\\.[0-9]{1,3}$."""
    peer = await RawPeer.connect(sender.port)
    await peer.send(description())
    answer = await peer.receive_skipping_check_alive()
    assert isinstance(answer, m.ServiceDescription)
    assert answer.machine_id == "SUT" and answer.lane_id == 1
    assert re.fullmatch(r"[1-9][0-9]{0,2}\.[0-9]{1,3}", answer.version)
    await peer.aclose()


async def test_second_connection_is_refused_with_code_2_and_the_first_keeps_working(
    sender: SenderLane,
) -> None:
    """§1/[acc]: the second gets Notification 2 / severity 2 and is closed; the first gets a
    CheckAlive and can still hand a board over."""
    first = await handshake(sender)
    second = await RawPeer.connect(sender.port)
    refusal = await second.receive()
    assert isinstance(refusal, m.Notification)
    assert (
        refusal.notification_code == m.NotificationCode.CONNECTION_REFUSED_BECAUSE_OF_ESTABLISHED_CONNECTION
    )
    assert refusal.severity == m.SeverityType.ERROR
    assert await second.closed()
    probe = await first.receive()
    assert probe == m.CheckAlive()
    offered = board()
    offer = asyncio.create_task(sender.hand_over(offered))
    assert await first.receive_skipping_check_alive() == offered
    await first.send(m.MachineReady(failed_board=m.BoardQuality.ANY))
    await first.send(m.StartTransport(board_id=offered.board_id))
    finished = await first.receive_skipping_check_alive()
    assert isinstance(finished, m.TransportFinished) and finished.board_id == offered.board_id
    await first.send(m.StopTransport(transfer_state=m.TransferState.COMPLETE, board_id=offered.board_id))
    async with asyncio.timeout(WAIT):
        stop = await offer
    assert stop.board_id == offered.board_id
    assert sender.refused == 1
    await first.aclose()


def assert_refused(message: m.Message | m.UnknownMessage) -> None:
    """Notification code 2 (ConnectionRefusedBecauseOfEstablishedConnection), severity Error."""
    assert isinstance(message, m.Notification)
    assert (
        message.notification_code == m.NotificationCode.CONNECTION_REFUSED_BECAUSE_OF_ESTABLISHED_CONNECTION
    )
    assert message.severity == m.SeverityType.ERROR


async def test_second_connection_is_refused_at_once_while_the_first_is_still_silent(
    sender: SenderLane,
) -> None:
    """[acc] test_connect_2_times: the first connection has not sent its ServiceDescription yet;
    the second is refused with Notification 2 at once (long before the handshake deadline) and
    closed, and the first then completes its handshake and keeps the lane."""
    first = await RawPeer.connect(sender.port)
    second = await RawPeer.connect(sender.port)
    assert_refused(await second.receive())  # within WAIT, half the 10 s handshake deadline
    assert await second.closed()
    assert await first.receive() == m.CheckAlive()  # the probe of the kept connection
    await first.send(description())
    assert isinstance(await first.receive_skipping_check_alive(), m.ServiceDescription)
    async with asyncio.timeout(WAIT):
        await sender.wait_connected()
    assert sender.refused == 1
    assert not sender.guard.dropped
    await first.aclose()


async def wait_dropped(peer: RawPeer) -> None:
    """Read until the server closes or resets the connection."""
    with contextlib.suppress(ConnectionResetError):
        async with asyncio.timeout(WAIT):
            while await peer.reader.read(65536):
                pass
    await peer.aclose()


async def test_a_silent_first_connection_gives_way_only_at_its_handshake_deadline() -> None:
    """A first connection that stays silent keeps the lane against a newcomer (refused with
    Notification 2) until its own handshake deadline; then it is dropped, and the next
    connection gets the lane: a dead peer cannot block it forever."""
    deadline = 0.5
    limits = PeerLimits(max_connections=8, handshake_timeout=deadline)
    async with SenderLane(machine_id="SUT", lane_id=1, host="127.0.0.1", port=0, limits=limits) as lane:
        loop = asyncio.get_running_loop()
        started = loop.time()
        first = await RawPeer.connect(lane.port)
        second = await RawPeer.connect(lane.port)
        assert_refused(await second.receive())
        assert await second.closed()
        await wait_dropped(first)
        assert loop.time() - started >= deadline * 0.9  # not before its deadline
        assert lane.guard.dropped["handshake_timeout"] == 1
        third = await handshake(lane)
        async with asyncio.timeout(WAIT):
            await lane.wait_connected()
        assert lane.refused == 1
        await third.aclose()


async def test_quick_connect_close_cycles_leave_the_lane_to_the_next_receiver(sender: SenderLane) -> None:
    """[acc] connect/disconnect x10 (half of them with a ServiceDescription), as fast as the
    tool makes them: all ten have closed before the lane accepts any (blocking calls, the loop
    does not run meanwhile). None of them counts against the connection cap or holds the lane,
    so the receiver right behind them is answered, and nothing is dropped or refused."""
    for index in range(10):
        with socket.create_connection(("127.0.0.1", sender.port)) as sock:
            if index % 2:
                sock.sendall(encode(description()))
    live = socket.create_connection(("127.0.0.1", sender.port))  # accepted in the same turn
    live.setblocking(False)
    peer = RawPeer(*await asyncio.open_connection(sock=live))
    await peer.send(description())
    assert isinstance(await peer.receive_skipping_check_alive(), m.ServiceDescription)
    async with asyncio.timeout(WAIT):
        await sender.wait_connected()
    assert not sender.guard.dropped
    assert sender.refused == 0
    await peer.aclose()


async def test_unknown_attribute_is_ignored(sender: SenderLane) -> None:
    """[acc]: an unknown attribute on the ServiceDescription does not disturb the handshake."""
    peer = await RawPeer.connect(sender.port)
    data = encode(description()).replace(b'Version="1.6"', b'Version="1.6" FutureAttribute="x"')
    await peer.write(data)
    assert isinstance(await peer.receive_skipping_check_alive(), m.ServiceDescription)
    await peer.aclose()


async def test_a_65536_byte_message_split_across_packets(sender: SenderLane) -> None:
    """[acc] test_maximum_message_size: a ServiceDescription padded to exactly 65,536 bytes,
    written in pieces, gets a normal answer."""
    base = encode(description())
    pad = 65536 - len(base) - len(b' Padding=""')
    data = base.replace(b'Version="1.6"', b'Version="1.6" Padding="' + b"x" * pad + b'"')
    assert len(data) == 65536
    peer = await RawPeer.connect(sender.port)
    for start in range(0, len(data), 1000):
        await peer.write(data[start : start + 1000])
    assert isinstance(await peer.receive_skipping_check_alive(), m.ServiceDescription)
    await peer.aclose()


async def test_several_messages_in_one_packet(sender: SenderLane) -> None:
    """[acc]: CheckAlive + ServiceDescription + CheckAlive in one write; the plain CheckAlives are
    not answered (the next thing after the answer is the Pong to our Ping)."""
    peer = await RawPeer.connect(sender.port)
    await peer.write(encode(m.CheckAlive()) + encode(description()) + encode(m.CheckAlive()))
    assert isinstance(await peer.receive(), m.ServiceDescription)
    await peer.send(m.CheckAlive(type=m.CheckAliveType.PING, id="p-1"))
    assert await peer.receive() == m.CheckAlive(type=m.CheckAliveType.PONG, id="p-1")
    await peer.aclose()


@pytest.mark.parametrize(
    "wrong",
    [
        description(),
        m.RevokeMachineReady(),
        m.StartTransport(board_id="0f8fad5b-d9cb-469f-a165-70867728950e"),
        m.StopTransport(
            transfer_state=m.TransferState.COMPLETE, board_id="0f8fad5b-d9cb-469f-a165-70867728950e"
        ),
    ],
    ids=lambda message: type(message).__name__,
)
async def test_wrong_message_gets_notification_1_fatal_and_close(
    sender: SenderLane, wrong: m.Message
) -> None:
    """[acc] in NotAvailableNotReady: Notification 1 / Fatal, then the connection closes."""
    peer = await handshake(sender)
    await peer.send(wrong)
    notification = await peer.receive_skipping_check_alive()
    assert isinstance(notification, m.Notification)
    assert notification.notification_code == m.NotificationCode.PROTOCOL_ERROR
    assert notification.severity == m.SeverityType.FATAL
    assert await peer.dropped_when_talking_on()
    # The server recovers: a new receiver is served again.
    again = await handshake(sender)
    await again.aclose()


async def test_full_transfer_with_an_unknown_message_injected(sender: SenderLane) -> None:
    """[acc] interactive transfer: an unknown message mid-transfer is ignored and not forwarded."""
    peer = await handshake(sender)
    await peer.send(m.MachineReady(failed_board=m.BoardQuality.ANY))
    offered = board()
    handoff = asyncio.create_task(sender.hand_over(offered))
    assert await peer.receive_skipping_check_alive() == offered
    await peer.write(b'<Hermes Timestamp="2024-05-14T08:15:02.117"><FutureMessage Foo="1"/></Hermes>')
    await peer.send(m.StartTransport(board_id=offered.board_id))
    finished = await peer.receive_skipping_check_alive()
    assert isinstance(finished, m.TransportFinished)
    assert finished.transfer_state == m.TransferState.COMPLETE
    await peer.send(m.StopTransport(transfer_state=m.TransferState.COMPLETE, board_id=offered.board_id))
    async with asyncio.timeout(WAIT):
        await handoff
    assert sender.state is State.NOT_AVAILABLE_NOT_READY
    await peer.aclose()


async def test_clean_stop_sends_machine_shutdown() -> None:
    """§3: leaving the lane sends Notification 5 (MachineShutdown) before closing."""
    async with SenderLane(machine_id="SUT", lane_id=2, host="127.0.0.1", port=0) as lane:
        peer = await handshake(lane)
        await lane.wait_connected()
    notification = await peer.receive_skipping_check_alive()
    assert isinstance(notification, m.Notification)
    assert notification.notification_code == m.NotificationCode.MACHINE_SHUTDOWN
    assert await peer.closed()


async def test_default_port_is_50100_plus_lane() -> None:
    """§1: without a port, lane n listens on 50100 + n."""
    lane = SenderLane(machine_id="SUT", lane_id=7, host="127.0.0.1")
    assert lane.port == 50107
