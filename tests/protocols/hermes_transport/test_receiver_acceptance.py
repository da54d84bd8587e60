"""The hermes-org acceptance checklist (reference §4.2) against our board receiver's Upstream
interface (ReceiverLane, the TCP client); the raw peer plays the sender as a TCP server."""

from __future__ import annotations

import asyncio

import pytest

from protocols.hermes import messages as m
from protocols.hermes.codec import encode
from protocols.hermes.transport import LaneDisconnected, ReceiverLane
from tests.protocols.hermes_transport.peers import WAIT, RawPeer, RawServer, board, description, raw_server


def receiver(port: int) -> ReceiverLane:
    return ReceiverLane(
        "127.0.0.1",
        port,
        machine_id="SUT",
        lane_id=1,
        fast_retry=0.01,
        slow_retry=0.05,
        check_alive_period=None,
    )


async def accept_handshake(server: RawServer) -> RawPeer:
    peer = await server.accept()
    first = await peer.receive()
    assert isinstance(first, m.ServiceDescription)  # the client speaks first (§3)
    assert first.machine_id == "SUT" and first.lane_id == 1
    await peer.send(description("UP"))
    return peer


async def test_service_description_exchange_on_every_reconnect() -> None:
    """[acc] ServiceDescription exchange  n times: the receiver reconnects and repeats the handshake."""
    async with raw_server() as server, receiver(server.port) as lane:
        for _ in range(5):
            peer = await accept_handshake(server)
            await lane.wait_connected()
            await peer.aclose()
        assert lane.sessions >= 5


@pytest.mark.parametrize(
    "wrong",
    [
        description("UP"),
        m.RevokeBoardAvailable(),
        m.TransportFinished(
            transfer_state=m.TransferState.COMPLETE, board_id="0f8fad5b-d9cb-469f-a165-70867728950e"
        ),
    ],
    ids=lambda message: type(message).__name__,
)
async def test_wrong_message_gets_notification_1_fatal_and_close(wrong: m.Message) -> None:
    """[acc] in NotAvailableNotReady: Notification 1 / Fatal, close; then the receiver reconnects."""
    async with raw_server() as server, receiver(server.port) as lane:
        peer = await accept_handshake(server)
        await lane.wait_connected()
        await peer.send(wrong)
        notification = await peer.receive()
        assert isinstance(notification, m.Notification)
        assert notification.notification_code == m.NotificationCode.PROTOCOL_ERROR
        assert notification.severity == m.SeverityType.FATAL
        assert await peer.dropped_when_talking_on()
        again = await accept_handshake(server)
        await again.aclose()


async def drive_sender(peer: RawPeer, offered: m.BoardAvailable, *, board_first: bool) -> None:
    """Play the sender's half of one handoff by hand, injecting an unknown message."""
    if board_first:
        await peer.send(offered)
        assert isinstance(await peer.receive(), m.MachineReady)
    else:
        assert isinstance(await peer.receive(), m.MachineReady)
        await peer.write(b'<Hermes Timestamp="2024-05-14T08:15:02"><FutureMessage/></Hermes>')
        await peer.send(offered)
    start = await peer.receive()
    assert isinstance(start, m.StartTransport) and start.board_id == offered.board_id
    await peer.send(m.TransportFinished(transfer_state=m.TransferState.COMPLETE, board_id=offered.board_id))
    stop = await peer.receive()
    assert isinstance(stop, m.StopTransport)
    assert stop.board_id == offered.board_id and stop.transfer_state == m.TransferState.COMPLETE


@pytest.mark.parametrize("board_first", [True, False], ids=["BoardAvailable-first", "MachineReady-first"])
async def test_full_transfer(board_first: bool) -> None:
    """[acc] full transfer with BoardAvailable before MachineReady, and the other way round."""
    async with raw_server() as server, receiver(server.port) as lane:
        peer = await accept_handshake(server)
        await lane.wait_connected()
        offered = board()
        if board_first:
            sender_side = asyncio.create_task(drive_sender(peer, offered, board_first=True))
            assert await lane.wait_for_board() == offered  # offered before the receiver is ready
        else:
            sender_side = asyncio.create_task(drive_sender(peer, offered, board_first=False))
        async with asyncio.timeout(WAIT):
            taken = await lane.take_over()
            await sender_side
        assert taken == offered
        await peer.aclose()


async def test_session_loss_during_a_handoff_raises_lane_disconnected() -> None:
    """A verb waiting on a session that drops raises LaneDisconnected; the lane reconnects."""
    async with raw_server() as server, receiver(server.port) as lane:
        peer = await accept_handshake(server)
        await lane.announce_ready()
        assert isinstance(await peer.receive(), m.MachineReady)
        waiting = asyncio.create_task(lane.wait_for_board())
        await peer.aclose()
        with pytest.raises(LaneDisconnected):
            async with asyncio.timeout(WAIT):
                await waiting
        again = await accept_handshake(server)
        await lane.wait_connected()
        await again.aclose()


async def test_reconnect_waits_longer_when_no_session_worked() -> None:
    """Backoff: fast after a working session, doubling (jittered, capped) while nothing works."""
    lane = ReceiverLane("127.0.0.1", 1, machine_id="SUT", lane_id=1, fast_retry=1.0, slow_retry=10.0)
    assert 0.5 <= lane._next_delay(True, 0) <= 1.0
    assert 2.0 <= lane._next_delay(False, 2) <= 4.0
    assert 5.0 <= lane._next_delay(False, 20) <= 10.0


async def test_next_offer_in_the_same_read_as_transport_finished_is_kept() -> None:
    """The receiver stops first; the sender answers TransportFinished and offers its next board in
    one packet. That offer belongs to the next cycle and must survive the end of this one."""
    async with raw_server() as server, receiver(server.port) as lane:
        peer = await accept_handshake(server)
        await lane.wait_connected()
        first, second = board(), board()
        await peer.send(first)
        await lane.announce_ready()
        assert isinstance(await peer.receive(), m.MachineReady)
        assert (await asyncio.wait_for(lane.wait_for_board(), WAIT)).board_id == first.board_id
        await lane.start_transport(first.board_id)
        assert isinstance(await peer.receive(), m.StartTransport)
        stopping = asyncio.create_task(lane.stop_transport())
        assert isinstance(await peer.receive(), m.StopTransport)
        finished = m.TransportFinished(transfer_state=m.TransferState.COMPLETE, board_id=first.board_id)
        await peer.write(encode(finished) + encode(second))
        assert (await asyncio.wait_for(stopping, WAIT)).board_id == first.board_id
        assert (await asyncio.wait_for(lane.wait_for_board(), WAIT)).board_id == second.board_id
        await peer.aclose()
