"""Hermes lanes as a machine's board seams, and the machine's vertical channel, driven by independent
Hermes endpoints (SenderLane, ReceiverLane, VerticalClient) over real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from protocols.hermes import messages as m
from protocols.hermes.transport import ReceiverLane, SenderLane, VerticalClient
from simulators.clock import SteppedClock
from simulators.hermes_link import BoardBook, HermesDownstream, HermesUpstream, board_from_available
from simulators.machine import Board, Machine
from simulators.supervisory import SupervisoryChannel

WAIT = 5.0  # real seconds; only bounds a broken test


def offered(barcode: str = "PCB000001", work_order: str | None = "WO-7") -> m.BoardAvailable:
    """What an outside upstream machine announces."""
    return m.BoardAvailable(
        board_id=str(uuid.uuid4()),
        board_id_created_by="LOADER-1",
        failed_board=m.BoardQuality.GOOD,
        flipped_board=m.FlippedBoard.TOP_SIDE_IS_UP,
        product_type_id="CTRL-MAIN-R3",
        top_barcode=barcode,
        length=180.0,
        width=120.0,
        thickness=1.2,
        work_order_id=work_order,
    )


def outside_sender() -> SenderLane:
    return SenderLane(machine_id="OUTSIDE-UP", lane_id=1, host="127.0.0.1", port=0)


def outside_receiver(port: int) -> ReceiverLane:
    return ReceiverLane(
        "127.0.0.1", port, machine_id="OUTSIDE-DOWN", lane_id=1, fast_retry=0.01, slow_retry=0.05
    )


def supervisor(
    port: int, system_id: str = "MES", features: m.SupervisoryFeatures | None = None
) -> VerticalClient:
    return VerticalClient(
        "127.0.0.1",
        port,
        m.SupervisoryServiceDescription(system_id, "1.6", features or m.SupervisoryFeatures.all()),
        timeout=WAIT,
    )


async def next_of(client: VerticalClient, kind: type[Any]) -> Any:
    """The next message of ``kind`` from the machine (plain CheckAlives and others skipped)."""
    async with asyncio.timeout(WAIT):
        while True:
            message = await client.receive()
            if isinstance(message, kind):
                return message


class Failing(Machine):
    """A machine whose process fails every board."""

    async def process_board(self, board: Board, cycle_time: float) -> tuple[bool, Mapping[str, Any]]:
        await self.clock.sleep(cycle_time)
        return False, {}


@contextlib.asynccontextmanager
async def hermes_machine(
    clock: SteppedClock, upstream_port: int, cls: type[Machine] = Machine
) -> AsyncIterator[tuple[Machine, HermesUpstream, HermesDownstream, SupervisoryChannel]]:
    """A machine with Hermes on both sides and a vertical channel, as the line builds one."""
    book = BoardBook("M1")
    async with (
        HermesDownstream(machine_id="M1", clock=clock, book=book, port=0) as down,
        HermesUpstream("127.0.0.1", upstream_port, machine_id="M1", book=book) as up,
    ):
        machine = cls("M1", clock=clock, board_in=up, board_out=down, spread=0.0)
        machine.recipes.add("R", cycle_time=20.0)
        machine.recipes.active = machine.recipes.get("R")
        async with SupervisoryChannel(machine, book, port=0) as channel, machine:
            up.on_arrival = channel.assign_work_order
            yield machine, up, down, channel


async def until(clock: SteppedClock, task: asyncio.Future[Any], within: float = 600.0) -> Any:
    """Move the stepped clock until ``task`` is done (it also waits on real sockets)."""
    await clock.run_until(task.done, within=within, step=0.5)
    return task.result()


async def test_board_attributes_travel_through_the_machine() -> None:
    """BoardId, BoardIdCreatedBy, barcode, product, work order and size reach the next machine as
    the first machine was told them; the conveyor speed is the machine's own."""
    clock = SteppedClock()
    async with (
        outside_sender() as sender,
        hermes_machine(clock, sender.port) as (machine, up, down, _),
        outside_receiver(down.port) as receiver,
    ):
        board = offered()
        handing = asyncio.create_task(sender.hand_over(board))
        taking = asyncio.create_task(receiver.take_over())
        got = await until(clock, taking)
        stop = await handing
    assert stop.transfer_state == m.TransferState.COMPLETE
    assert got.board_id == board.board_id
    assert got.board_id_created_by == "LOADER-1"  # kept, not replaced by M1 (reference §2.1)
    assert got.failed_board == m.BoardQuality.GOOD
    assert (got.top_barcode, got.product_type_id, got.work_order_id) == ("PCB000001", "CTRL-MAIN-R3", "WO-7")
    assert (got.length, got.width, got.thickness) == (180.0, 120.0, 1.2)
    assert got.conveyor_speed == machine.conveyor.speed_mm_s
    assert (up.taken, down.given, machine.boards_done) == (1, 1, 1)


def sparse(work_order: str | None = "WO-7") -> m.BoardAvailable:
    """A BoardAvailable with no dimensions and only a bottom barcode, plus attributes a
    simulated machine has no model of (weight, batch, route, clearances)."""
    return m.BoardAvailable(
        board_id=str(uuid.uuid4()),
        board_id_created_by="LOADER-1",
        failed_board=m.BoardQuality.GOOD,
        flipped_board=m.FlippedBoard.BOTTOM_SIDE_IS_UP,
        bottom_barcode="PCB-BOTTOM-1",
        work_order_id=work_order,
        batch_id="BATCH-3",
        weight=210.5,
        top_clearance_height=12.0,
        route=4,
    )


async def test_a_machine_forwards_the_board_as_received_and_invents_nothing() -> None:
    """A board that arrives without Length/Width/Thickness and with only a BottomBarcode leaves
    the same way: no default size, no TopBarcode copied from the bottom one; every other
    attribute passes unchanged. Only the conveyor speed is the machine's own."""
    clock = SteppedClock()
    async with (
        outside_sender() as sender,
        hermes_machine(clock, sender.port) as (machine, _, down, _),
        outside_receiver(down.port) as receiver,
    ):
        board = sparse()
        handing = asyncio.create_task(sender.hand_over(board))
        taking = asyncio.create_task(receiver.take_over())
        got = await until(clock, taking)
        await handing
    assert got.conveyor_speed == machine.conveyor.speed_mm_s
    assert dataclasses.replace(got, conveyor_speed=None) == board


def test_the_book_forwards_only_what_the_machine_changed() -> None:
    """describe() keeps the arrival description and puts in only what the machine's board
    changed since: a work order assigned, a barcode read, a size measured."""
    book = BoardBook("M1")
    arrival = sparse(work_order=None)
    book.record(arrival)
    board = board_from_available(arrival)
    assert (board.length_mm, board.barcode) == (160.0, "PCB-BOTTOM-1")  # the core's working model
    assert book.describe(board) == arrival
    assigned = dataclasses.replace(board, work_order_id="WO-9", product_type_id="P-1")
    assert book.describe(assigned) == dataclasses.replace(
        arrival, work_order_id="WO-9", product_type_id="P-1"
    )
    measured = dataclasses.replace(board, thickness_mm=1.2, barcode="TOP-READ")
    assert book.describe(measured) == dataclasses.replace(arrival, thickness=1.2, top_barcode="TOP-READ")


async def test_transfer_time_runs_on_the_virtual_clock() -> None:
    """Between StartTransport and TransportFinished the sender's exit conveyor runs for the board's
    length at the speed the receiver chose: on the stepped clock, nothing finishes before then."""
    clock = SteppedClock()
    async with (
        HermesDownstream(machine_id="M1", clock=clock, port=0, conveyor_speed=lambda: 100.0) as down,
        outside_receiver(down.port) as receiver,
    ):
        board = Board(barcode="B1", length_mm=200.0)
        giving = asyncio.create_task(down.give_board(board))
        async with asyncio.timeout(WAIT):
            await receiver.announce_ready()
            await receiver.wait_for_board()
            await receiver.start_transport(board.board_id, conveyor_speed=50.0)
            await clock.wait_for_sleeper(4.0)  # 200 mm at the 50 mm/s the receiver chose
        clock.advance(3.9)
        await asyncio.sleep(0)
        assert not giving.done()
        clock.advance(0.1)
        async with asyncio.timeout(WAIT):
            finished = await receiver.wait_for_finished()
            await receiver.stop_transport()
            await giving
    assert finished.board_id == board.board_id
    assert down.transfer_time(board) == 2.0  # at its own 100 mm/s when the receiver names none


async def test_a_session_lost_mid_handoff_neither_loses_nor_duplicates_the_board() -> None:
    """The receiver vanishes after StartTransport: the sender offers the board again on the next
    session; a board offered again after it was taken is taken once only."""
    clock = SteppedClock()
    async with HermesDownstream(machine_id="M1", clock=clock, port=0) as down:
        board = Board(barcode="B1")
        giving = asyncio.create_task(down.give_board(board))
        async with outside_receiver(down.port) as first:
            async with asyncio.timeout(WAIT):
                await first.announce_ready()
                await first.start_transport((await first.wait_for_board()).board_id)
                await down.lane.wait_for_start()
        # The first receiver is gone mid-transport; a second one gets the same board.
        async with outside_receiver(down.port) as second:
            taking = asyncio.create_task(second.take_over())
            again = await until(clock, taking)
            await giving
    assert again.board_id == board.board_id
    assert down.given == 1

    async with outside_sender() as sender, HermesUpstream("127.0.0.1", sender.port, machine_id="M2") as up:
        repeated, following = offered("B1"), offered("B2")
        async with asyncio.timeout(WAIT):
            handing = asyncio.create_task(sender.hand_over(repeated))
            assert (await up.take_board()).board_id == repeated.board_id
            await handing
            next_board = asyncio.create_task(up.take_board())
            await sender.hand_over(repeated)  # offered again, e.g. after a lost StopTransport
            await sender.hand_over(following)
            assert (await next_board).board_id == following.board_id
    assert (up.taken, up.repeats) == (2, 1)


async def test_a_stopped_transfer_is_offered_again() -> None:
    """The receiver answers StopTransport Incomplete (it stopped the transfer): the board stays with
    the sender, which offers it again; the next take-over gets it and the sender counts it once."""
    clock = SteppedClock()
    async with (
        HermesDownstream(machine_id="M1", clock=clock, port=0) as down,
        outside_receiver(down.port) as receiver,
    ):
        board = Board(barcode="B1")
        giving = asyncio.create_task(down.give_board(board))
        async with asyncio.timeout(WAIT):
            await receiver.announce_ready()
            await receiver.start_transport((await receiver.wait_for_board()).board_id)
            await down.lane.wait_for_start()
            stopping = asyncio.create_task(receiver.stop_transport(m.TransferState.INCOMPLETE))
        await until(clock, stopping)
        taking = asyncio.create_task(receiver.take_over())
        again = await until(clock, taking)
        await asyncio.wait_for(giving, WAIT)
    assert again.board_id == board.board_id
    assert down.given == 1


async def test_a_transfer_the_sender_did_not_complete_brings_no_board() -> None:
    """TransportFinished NotStarted: the receiving machine answers StopTransport with the same state,
    takes no board, and takes it on the sender's next, complete, handoff."""
    async with outside_sender() as sender, HermesUpstream("127.0.0.1", sender.port, machine_id="M2") as up:
        board = offered()
        taking = asyncio.create_task(up.take_board())
        async with asyncio.timeout(WAIT):
            await sender.offer_board(board)
            await sender.wait_for_start()
            stop = await sender.finish_transport(transfer_state=m.TransferState.NOT_STARTED)
            assert not taking.done()
            await sender.hand_over(board)
            got = await taking
    assert stop.transfer_state == m.TransferState.NOT_STARTED
    assert got.board_id == board.board_id and (up.taken, up.repeats) == (1, 0)


async def test_vertical_channel_tracks_boards_for_several_clients() -> None:
    """Two supervisory clients at once each get BoardArrived then BoardDeparted with the board's
    Hermes attributes; a client without FeatureBoardTracking gets none; a Ping gets its Pong."""
    clock = SteppedClock()
    async with (
        outside_sender() as sender,
        hermes_machine(clock, sender.port) as (_, _, down, channel),
        supervisor(channel.port, "MES-A") as a,
        supervisor(channel.port, "MES-B") as b,
        supervisor(channel.port, "QUIET", m.SupervisoryFeatures()) as quiet,
        outside_receiver(down.port) as receiver,
    ):
        await asyncio.wait_for(channel.server.wait_for_clients(3), WAIT)
        assert a.machine is not None and a.machine.system_id == "M1"
        board = offered()
        handing = asyncio.create_task(sender.hand_over(board))
        taking = asyncio.create_task(receiver.take_over())
        await until(clock, taking)
        await handing
        for client in (a, b):
            arrived = await next_of(client, m.BoardArrived)
            departed = await next_of(client, m.BoardDeparted)
            assert (arrived.machine_id, arrived.upstream_lane_id) == ("M1", 1)
            assert arrived.board_transfer == m.BoardArrivedTransfer.TRANSFERRED
            assert (arrived.board_id, arrived.board_id_created_by) == (board.board_id, "LOADER-1")
            assert (arrived.top_barcode, arrived.work_order_id) == ("PCB000001", "WO-7")
            assert departed.board_id == board.board_id
            assert departed.board_transfer == m.BoardDepartedTransfer.TRANSFERRED
        await quiet.send(m.CheckAlive(type=m.CheckAliveType.PING, id="ping-1"))
        before_pong = []
        async with asyncio.timeout(WAIT):
            while not isinstance(pong := await quiet.receive(), m.CheckAlive) or pong.type is None:
                before_pong.append(pong)
        assert (pong.type, pong.id) == (m.CheckAliveType.PONG, "ping-1")
        assert before_pong == []  # no board tracking for a client that did not ask for it
    assert channel.reported == 2


async def test_work_order_is_asked_from_the_supervisory_system() -> None:
    """A board without a work order makes the machine send QueryWorkOrderInfo with its barcode;
    the SendWorkOrderInfo answer (matching QueryId) gives the board its work order and product."""
    clock = SteppedClock()
    async with (
        outside_sender() as sender,
        hermes_machine(clock, sender.port) as (_, _, down, channel),
        supervisor(channel.port) as mes,
        outside_receiver(down.port) as receiver,
    ):
        await asyncio.wait_for(channel.server.wait_for_clients(1), WAIT)
        board = offered("PCB000042", work_order=None)
        handing = asyncio.create_task(sender.hand_over(board))
        query = await next_of(mes, m.QueryWorkOrderInfo)
        assert (query.machine_id, query.barcode) == ("M1", "PCB000042")
        await mes.send(
            m.SendWorkOrderInfo(query_id=query.query_id, work_order_id="WO-99", product_type_id="P-9")
        )
        taking = asyncio.create_task(receiver.take_over())
        got = await until(clock, taking)
        await handing
        departed = await next_of(mes, m.BoardDeparted)
        # An unsolicited work order is queued and acknowledged (1.6 ReplyWorkOrderInfo).
        await mes.send(m.SendWorkOrderInfo(work_order_id="WO-100"))
        reply = await next_of(mes, m.ReplyWorkOrderInfo)
    assert (got.work_order_id, got.product_type_id) == ("WO-99", "P-9")
    assert departed.work_order_id == "WO-99"
    assert (reply.work_order_id, reply.status) == ("WO-100", m.ReplyWorkOrderInfoStatus.ACCEPTED_AND_QUEUED)
    assert [info.work_order_id for info in channel.queued_work_orders] == ["WO-100"]


async def test_a_failed_board_leaves_marked_failed() -> None:
    """A board the machine's process failed is announced downstream with FailedBoard = 2 (§2.4)."""
    clock = SteppedClock()
    async with (
        outside_sender() as sender,
        hermes_machine(clock, sender.port, Failing) as (_, _, down, _),
        outside_receiver(down.port) as receiver,
    ):
        handing = asyncio.create_task(sender.hand_over(offered()))
        taking = asyncio.create_task(receiver.take_over())
        got = await until(clock, taking)
        await handing
    assert got.failed_board == m.BoardQuality.FAILED


@pytest.mark.parametrize("capacity", [2])
def test_board_book_keeps_the_most_recent_boards(capacity: int) -> None:
    """The book forgets the oldest board beyond its capacity; an unknown board is described as
    created by the machine itself."""
    book = BoardBook("M1", capacity=capacity)
    boards = [offered(f"B{n}") for n in range(3)]
    for board in boards:
        book.record(board)
    assert boards[0].board_id not in book and len(book) == capacity
    fresh = Board(barcode="X")
    assert book.describe(fresh).board_id_created_by == "M1"
    assert book.describe(Board(board_id=boards[2].board_id, barcode="B2")).board_id_created_by == "LOADER-1"
