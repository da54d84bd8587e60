"""SenderLane and ReceiverLane together over loopback: the high-level handoff API, reconnection,
cancellation with nothing leaked, and 10,000 handoffs over 20 lanes."""

from __future__ import annotations

import asyncio
import socket
import uuid

import pytest

from protocols.hermes import messages as m
from protocols.hermes.connection import HorizontalConnection
from protocols.hermes.state import Role, State
from protocols.hermes.transport import HermesStream, LaneDisconnected, ReceiverLane, SenderLane
from tests.protocols.hermes_transport.peers import WAIT, RawPeer, board, raw_server


def sender(lane_id: int = 1, port: int = 0) -> SenderLane:
    return SenderLane(machine_id="UP", lane_id=lane_id, host="127.0.0.1", port=port)


def receiver(port: int, lane_id: int = 1) -> ReceiverLane:
    return ReceiverLane(
        "127.0.0.1", port, machine_id="DOWN", lane_id=lane_id, fast_retry=0.01, slow_retry=0.05
    )


def leftover_tasks() -> set[asyncio.Task[object]]:
    return {task for task in asyncio.all_tasks() if task is not asyncio.current_task()}


@pytest.mark.parametrize("board_first", [True, False], ids=["BoardAvailable-first", "MachineReady-first"])
async def test_full_handoff_between_our_two_sides(board_first: bool) -> None:
    """The physical handoff, step by step, in both orders; both lanes end idle with the same board."""
    async with sender() as up, receiver(up.port) as down:
        offered = board()
        async with asyncio.timeout(WAIT):
            await up.wait_connected()
            await down.wait_connected()
            if board_first:
                await up.offer_board(offered)
                assert await down.wait_for_board() == offered
                await down.announce_ready()
            else:
                await down.announce_ready()
                await up.offer_board(offered)
            assert await down.wait_for_board() == offered
            await down.start_transport()
            start = await up.wait_for_start()
            assert start.board_id == offered.board_id
            stop_task = asyncio.create_task(up.finish_transport())
            finished = await down.wait_for_finished()
            assert finished.board_id == offered.board_id
            await down.stop_transport()
            stop = await stop_task
        assert stop.board_id == offered.board_id
        assert stop.transfer_state == m.TransferState.COMPLETE
        assert up.state is State.NOT_AVAILABLE_NOT_READY


async def test_receiver_stops_before_the_sender_finishes() -> None:
    """StopTransport before TransportFinished (the receiver aborts): both sides still end idle."""
    async with sender() as up, receiver(up.port) as down:
        offered = board()
        async with asyncio.timeout(WAIT):
            await down.announce_ready()
            await up.offer_board(offered)
            await down.start_transport()
            await up.wait_for_start()
            stopping = asyncio.create_task(down.stop_transport(m.TransferState.INCOMPLETE))
            await up._wait(lambda s: s.stop is not None)
            stop = await up.finish_transport(transfer_state=m.TransferState.INCOMPLETE)
            finished = await stopping
        assert stop.transfer_state == m.TransferState.INCOMPLETE
        assert finished.transfer_state == m.TransferState.INCOMPLETE


async def test_revoke_then_offer_again() -> None:
    """A revoked board and a revoked readiness do not disturb the next handoff (lib's UpstreamTest)."""
    async with sender() as up, receiver(up.port) as down:
        async with asyncio.timeout(WAIT):
            await down.announce_ready()
            await up.offer_board(board())
            await down.wait_for_board()
            await up.revoke_board()
            await down.revoke_ready()
            await down._wait(lambda s: s.state is State.NOT_AVAILABLE_NOT_READY)
            second = board()
            handing = asyncio.create_task(up.hand_over(second))
            assert await down.take_over() == second
            await handing


async def test_receiver_reconnects_after_the_sender_restarts_on_the_same_port() -> None:
    """[acc] start/shutdown server x10: SO_REUSEADDR lets the sender bind the same port at once,
    the receiver reconnects each time, and a handoff works on every new session."""
    first = await sender().__aenter__()
    port, first_open = first.port, True
    try:
        async with receiver(port) as down:
            await asyncio.wait_for(down.wait_connected(), WAIT)
            first_open = False
            await first.__aexit__(None, None, None)
            for _ in range(10):
                sessions = down.sessions
                async with sender(port=port) as again:
                    async with asyncio.timeout(WAIT):
                        await again.wait_connected()
                        handing = asyncio.create_task(again.hand_over(board()))
                        await down.take_over()
                        await handing
                assert down.sessions > sessions
    finally:
        if first_open:
            await first.__aexit__(None, None, None)


async def test_cancelled_offer_against_a_stalled_receiver_leaks_nothing() -> None:
    """Stalled peer (connects, never sends its ServiceDescription), 10 ms deadline: TimeoutError,
    and after the lane closes no task is left and the peer's socket is closed."""
    before = leftover_tasks()
    async with sender() as up:
        peer = await RawPeer.connect(up.port)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await up.offer_board(board())
    shutdown = await peer.receive()  # the clean stop still says goodbye (§3)
    assert isinstance(shutdown, m.Notification)
    assert shutdown.notification_code == m.NotificationCode.MACHINE_SHUTDOWN
    assert await peer.closed()
    await peer.aclose()
    assert leftover_tasks() <= before


async def test_cancelled_ready_against_a_stalled_sender_leaks_nothing() -> None:
    """The receiver side: the server accepts and never answers; a 10 ms deadline; nothing leaks."""
    before = leftover_tasks()
    async with raw_server() as server:
        async with receiver(server.port) as down:
            peer = await server.accept()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.01):
                    await down.announce_ready()
        assert isinstance(await peer.receive(), m.ServiceDescription)
        shutdown = await peer.receive()
        assert isinstance(shutdown, m.Notification)
        assert shutdown.notification_code == m.NotificationCode.MACHINE_SHUTDOWN
        assert await peer.closed()
        await peer.aclose()
    assert leftover_tasks() <= before


async def test_verbs_fail_once_the_lane_is_closing() -> None:
    """A verb waiting when the lane closes raises LaneDisconnected instead of hanging."""
    async with sender() as up:
        waiting = asyncio.create_task(up.offer_board(board()))
    with pytest.raises(LaneDisconnected):
        await asyncio.wait_for(waiting, WAIT)


async def test_task_names_and_nodelay() -> None:
    """Background tasks are named hermes[<machine>/lane<n>].<job>; sockets have TCP_NODELAY (§5a)."""
    async with sender(lane_id=3) as up, receiver(up.port, lane_id=3) as down:
        await asyncio.wait_for(up.wait_connected(), WAIT)
        await asyncio.wait_for(down.wait_connected(), WAIT)
        names = {task.get_name() for task in asyncio.all_tasks()}
        assert {
            "hermes[UP/lane3].receive",
            "hermes[DOWN/lane3].receive",
            "hermes[DOWN/lane3].connect",
        } <= names
        session = up._session
        assert session is not None
        sock = session.stream.transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


async def test_ten_thousand_handoffs_over_twenty_lanes() -> None:
    """10,000 handoffs over 20 lanes: every BoardId arrives once, on its own lane, none lost."""
    lanes, per_lane = 20, 500

    async def run_lane(lane_id: int) -> tuple[list[str], list[str]]:
        sent = [str(uuid.uuid4()) for _ in range(per_lane)]
        async with sender(lane_id) as up, receiver(up.port, lane_id) as down:

            async def send_all() -> None:
                for board_id in sent:
                    stop = await up.hand_over(board(board_id))
                    assert stop.board_id == board_id

            async def take_all() -> list[str]:
                return [(await down.take_over()).board_id for _ in range(per_lane)]

            _, got = await asyncio.gather(send_all(), take_all())
        return sent, got

    async with asyncio.timeout(50):
        results = await asyncio.gather(*(run_lane(lane_id) for lane_id in range(1, lanes + 1)))
    all_sent: list[str] = []
    all_got: list[str] = []
    for sent, got in results:
        assert got == sent  # in order, nothing lost or repeated on each lane
        all_sent += sent
        all_got += got
    assert len(set(all_got)) == len(all_got) == lanes * per_lane
    assert set(all_got) == set(all_sent)


async def test_client_address_filter_closes_other_clients() -> None:
    """§1 ClientAddress: a sender restricted to another IP closes our connection at once."""
    async with SenderLane(
        machine_id="UP", lane_id=1, host="127.0.0.1", port=0, client_address="10.9.9.9"
    ) as up:
        peer = await RawPeer.connect(up.port)
        assert await peer.closed()
        assert not up.connected


async def test_quiet_session_gets_a_plain_check_alive() -> None:
    """§3: after check_alive_period without a send, a CheckAlive without Type goes out."""
    async with SenderLane(
        machine_id="UP", lane_id=1, host="127.0.0.1", port=0, check_alive_period=0.05
    ) as up:
        peer = await RawPeer.connect(up.port)
        await peer.send(m.ServiceDescription("ACC", 1, "1.6"))
        assert isinstance(await peer.receive(), m.ServiceDescription)
        assert await peer.receive() == m.CheckAlive()
        await peer.aclose()


async def test_notification_and_command_through_the_lane() -> None:
    """Stateless messages go through lane.send and reach on_message; a Command needs the peer's
    FeatureCommand."""
    heard: asyncio.Queue[m.Message | m.UnknownMessage] = asyncio.Queue()
    async with (
        SenderLane(machine_id="UP", lane_id=1, host="127.0.0.1", port=0) as up,
        ReceiverLane(
            "127.0.0.1",
            up.port,
            machine_id="DOWN",
            lane_id=1,
            features=m.SupportedFeatures(feature_command=m.FeatureCommand()),
            on_message=heard.put_nowait,
        ) as down,
    ):
        async with asyncio.timeout(WAIT):
            await up.wait_connected()
            await down.wait_connected()
            assert up.peer_description is not None and up.peer_description.machine_id == "DOWN"
            await up.send(m.Command(command=7))
            while not isinstance(message := await heard.get(), m.Command):
                pass
            assert message == m.Command(command=7)
            with pytest.raises(LaneDisconnected):
                await down.send(m.Command(command=7))  # the sender did not announce FeatureCommand


async def test_leaving_the_lane_while_an_error_close_lingers_leaks_nothing() -> None:
    """The lane closes while a session still waits out its error close: the close finishes,
    the peer sees the end, and no task is left behind."""
    before = leftover_tasks()
    async with sender() as up:
        peer = await RawPeer.connect(up.port)
        await peer.send(m.StartTransport(board_id="0f8fad5b-d9cb-469f-a165-70867728950e"))
        notification = await peer.receive()
        assert isinstance(notification, m.Notification)
    assert await peer.closed()
    assert leftover_tasks() <= before


async def test_cancelling_a_close_still_releases_the_socket() -> None:
    """A caller cancelled during the (shielded) close: the close completes, the cancellation goes on."""
    async with raw_server() as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        peer = await server.accept()
        stream = HermesStream(reader, writer, HorizontalConnection(Role.RECEIVER))
        closing = asyncio.create_task(stream.aclose())
        await asyncio.sleep(0)  # let the close start before cancelling it
        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await closing
        assert writer.is_closing()
        assert await peer.closed()
