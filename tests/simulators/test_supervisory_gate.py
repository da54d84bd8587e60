"""A simulated machine asks its supervisory clients about every board before building it.

The machine (a plain ``Machine`` fed through a ``Handoff``) has its vertical server in front; the
supervisory client is the other role of the same Hermes stack over loopback TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from protocols.hermes import messages as m
from protocols.hermes.transport import VerticalClient
from simulators.clock import ScaledClock
from simulators.hermes_link import BoardBook
from simulators.machine import Board, Handoff, Machine, MachineEvent, WorkStarted
from simulators.supervisory import SupervisoryChannel

WAIT = 10.0
MES = m.SupervisoryServiceDescription(
    "MES-1",
    "1.6",
    m.SupervisoryFeatures(
        feature_board_tracking=m.FeatureBoardTracking(),
        feature_query_work_order_info=m.FeatureQueryWorkOrderInfo(),
    ),
)


class Station:
    """One machine with its vertical channel, recording the boards it starts work on."""

    def __init__(self, machine: Machine, feed: Handoff, channel: SupervisoryChannel) -> None:
        self.machine = machine
        self.feed = feed
        self.channel = channel
        self.started: list[str] = []
        self.work = asyncio.Event()
        machine.subscribe(self._on_event)

    def _on_event(self, event: MachineEvent) -> None:
        if isinstance(event, WorkStarted):
            self.started.append(event.board.board_id)
            self.work.set()


@contextlib.asynccontextmanager
async def station(query_timeout: float = 2.0) -> AsyncIterator[Station]:
    feed = Handoff()
    machine = Machine("m1", clock=ScaledClock(1000.0), board_in=feed)
    book = BoardBook("m1")
    async with SupervisoryChannel(machine, book, port=0, query_timeout=query_timeout) as channel:
        machine.board_gate = channel.admit_board
        async with machine:
            yield Station(machine, feed, channel)


async def next_message(client: VerticalClient) -> m.Message | m.UnknownMessage:
    """The next message from the machine other than CheckAlive."""
    while True:
        message = await asyncio.wait_for(client.receive(), WAIT)
        if not isinstance(message, m.CheckAlive):
            return message


async def test_without_a_client_that_takes_queries_boards_go_straight_in() -> None:
    async with station() as s:
        await asyncio.wait_for(s.feed.give_board(Board(board_id="b-1", barcode="PCB-1")), WAIT)
        await asyncio.wait_for(s.work.wait(), WAIT)
    assert s.started == ["b-1"]


async def test_a_board_waits_for_the_answer_after_its_arrival_was_reported() -> None:
    async with (
        station() as s,
        VerticalClient("127.0.0.1", s.channel.port, MES, check_alive_period=None) as client,
    ):
        board = Board(board_id="b-1", barcode="PCB-1", product_type_id="P-A", work_order_id="WO-1")
        await asyncio.wait_for(s.feed.give_board(board), WAIT)
        came = await next_message(client)
        query = await next_message(client)
        # The machine told us about the board before it asked, and it is waiting.
        assert isinstance(came, m.BoardArrived) and came.product_type_id == "P-A"
        assert isinstance(query, m.QueryWorkOrderInfo)
        assert (query.barcode, query.work_order_id) == ("PCB-1", "WO-1")
        assert s.channel.held == {"b-1"} and s.started == []
        await client.send(m.SendWorkOrderInfo(query_id=query.query_id, work_order_id="WO-1"))
        await asyncio.wait_for(s.work.wait(), WAIT)
    assert s.started == ["b-1"] and s.channel.held == set()


async def test_an_unanswered_board_is_asked_about_again_and_a_late_answer_is_no_work_order() -> None:
    async with (
        station(query_timeout=0.2) as s,
        VerticalClient("127.0.0.1", s.channel.port, MES, check_alive_period=None) as client,
    ):
        await asyncio.wait_for(s.feed.give_board(Board(board_id="b-1", barcode="PCB-1")), WAIT)
        assert isinstance(await next_message(client), m.BoardArrived)
        first = await next_message(client)
        again = await next_message(client)  # after query_timeout without an answer
        assert isinstance(first, m.QueryWorkOrderInfo) and isinstance(again, m.QueryWorkOrderInfo)
        assert first.query_id != again.query_id and again.barcode == "PCB-1"
        assert s.started == [], "a board was built without an answer"
        # The answer to the abandoned query neither releases the board nor becomes a
        # queued work order for the boards that follow.
        await client.send(m.SendWorkOrderInfo(query_id=first.query_id, work_order_id="WO-LATE"))
        third = await next_message(client)
        assert isinstance(third, m.QueryWorkOrderInfo) and third.query_id != again.query_id
        assert s.started == [] and s.channel.held == {"b-1"}
        await client.send(m.SendWorkOrderInfo(query_id=third.query_id, work_order_id="WO-1"))
        await asyncio.wait_for(s.work.wait(), WAIT)
    assert s.started == ["b-1"]
    assert s.channel.queued_work_orders == []
