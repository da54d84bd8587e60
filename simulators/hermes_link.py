"""Hermes lanes as a machine's board seams: upstream as its ``BoardIn``, downstream as its ``BoardOut``.

A simulated machine moves boards through :class:`~simulators.machine.BoardIn` and
:class:`~simulators.machine.BoardOut`. This module puts real Hermes lanes behind both seams
(reference §0 for the names, which are from the machine's own point of view):

- :class:`HermesUpstream` is the machine's **Upstream interface**: a
  :class:`~protocols.hermes.transport.ReceiverLane` TCP *client* that connects to the previous
  machine's Downstream server. ``take_board()`` says MachineReady, waits for BoardAvailable,
  starts the transport, waits for TransportFinished and answers StopTransport (reference §3,
  the normal cycle).
- :class:`HermesDownstream` is the machine's **Downstream interface**: a
  :class:`~protocols.hermes.transport.SenderLane` TCP *server* for the next machine.
  ``give_board()`` offers the board, waits for StartTransport, runs its exit conveyor for the
  board's transfer time on the machine's clock, then reports TransportFinished and waits for
  StopTransport.

What a board *is* on the wire (BoardId, BoardIdCreatedBy, FailedBoard, barcodes, product type,
work order, dimensions, and every other attribute of its BoardAvailable) travels with it in a
:class:`BoardBook`, one per machine, so that the machine passes on what it was told, the
supervisory channel reports the same attributes, and a board that failed its process leaves
with ``FailedBoard=2``. A machine forwards what it received, and replaces only what it found
out itself (a barcode it read, a work order it was given, a size it measured): an attribute the
board arrived without is not made up (reference §6, pass-through).

A session that drops in the middle of a handoff loses that handshake (reference §3): the sender
offers the board again on the next session and the receiver ignores a BoardId it has already
taken, so a board is neither lost nor duplicated.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self

import structlog

from protocols.hermes.messages import (
    BoardAvailable,
    BoardQuality,
    FlippedBoard,
    MachineReady,
    TransferState,
)
from protocols.hermes.transport import LaneDisconnected, ReceiverLane, SenderLane
from simulators.clock import Clock
from simulators.machine import Board

log = structlog.get_logger("simulators.hermes_link")

#: Simulated seconds a sender waits at least before offering a board whose transfer was stopped.
MIN_RETRY_DELAY = 1.0

#: How many recently taken BoardIds an upstream lane remembers to recognise a repeated offer.
RECENT_BOARDS = 64


def available_from_board(
    board: Board, *, created_by: str, conveyor_speed: float | None = None
) -> BoardAvailable:
    """Describe ``board`` as a fresh BoardAvailable (reference §2.1), as its creator would.

    Args:
        board: the board.
        created_by: the MachineId that created the BoardId (``BoardIdCreatedBy``).
        conveyor_speed: the sender's preferred transfer speed in mm/s, if any.
    """
    return BoardAvailable(
        board_id=board.board_id,
        board_id_created_by=created_by,
        failed_board=BoardQuality.GOOD,
        flipped_board=FlippedBoard.TOP_SIDE_IS_UP,
        product_type_id=board.product_type_id,
        top_barcode=board.barcode,
        length=board.length_mm,
        width=board.width_mm,
        thickness=board.thickness_mm,
        conveyor_speed=conveyor_speed,
        work_order_id=board.work_order_id,
    )


def board_from_available(available: BoardAvailable) -> Board:
    """The machine core's :class:`~simulators.machine.Board` for a received BoardAvailable.

    The core needs a size to run its conveyors, so an absent dimension takes the Board default,
    and the one barcode it works with is the top one, else the bottom one. That is the machine's
    working model only: :meth:`BoardBook.describe` forwards the board as it was received.
    """
    defaults = Board(board_id=available.board_id)
    return Board(
        board_id=available.board_id,
        barcode=available.top_barcode or available.bottom_barcode,
        product_type_id=available.product_type_id,
        work_order_id=available.work_order_id,
        length_mm=available.length if available.length is not None else defaults.length_mm,
        width_mm=available.width if available.width is not None else defaults.width_mm,
        thickness_mm=available.thickness if available.thickness is not None else defaults.thickness_mm,
    )


# Board fields a machine may find out itself, and the BoardAvailable attribute each one sets. A
# barcode read goes to TopBarcode (the side a simulated machine's scanner sees).
_OWN_FIELDS = (
    ("barcode", "top_barcode"),
    ("product_type_id", "product_type_id"),
    ("work_order_id", "work_order_id"),
    ("length_mm", "length"),
    ("width_mm", "width"),
    ("thickness_mm", "thickness"),
)


class BoardBook:
    """What a machine knows about the boards on it, as Hermes describes them.

    The upstream lane records each BoardAvailable it takes; the supervisory channel and the
    downstream lane read it back. A board the machine did not receive over Hermes (from an
    in-memory handoff) is described as created by ``machine_id``.

    The book keeps the ``capacity`` most recent boards: a machine holds one or two boards, and
    a board's description stays readable after it left (BoardDeparted is reported after the
    handoff, reference §2.3).

    Args:
        machine_id: the machine's Hermes MachineId.
        capacity: how many boards to remember.
    """

    def __init__(self, machine_id: str, capacity: int = RECENT_BOARDS) -> None:
        self.machine_id = machine_id
        self.capacity = capacity
        self._boards: dict[str, BoardAvailable] = {}

    def record(self, available: BoardAvailable) -> None:
        """Remember how ``available`` was described when it arrived."""
        self._boards.pop(available.board_id, None)
        self._boards[available.board_id] = available
        while len(self._boards) > self.capacity:
            del self._boards[next(iter(self._boards))]

    def describe(self, board: Board) -> BoardAvailable:
        """The board as the machine now describes it: the arrival description as it was
        received, with only what the machine changed since (``board`` differs from what
        :func:`board_from_available` made of the arrival: a barcode read, a work order or
        product assigned, a dimension measured) put in. Nothing absent on arrival is added."""
        known = self._boards.get(board.board_id)
        if known is None:
            return available_from_board(board, created_by=self.machine_id)
        told = board_from_available(known)
        changes: dict[str, Any] = {
            wire: getattr(board, ours)
            for ours, wire in _OWN_FIELDS
            if getattr(board, ours) != getattr(told, ours)
        }
        return dataclasses.replace(known, **changes) if changes else known

    def mark_failed(self, board_id: str) -> None:
        """The machine's process failed the board: it leaves with FailedBoard = 2 (§2.4)."""
        known = self._boards.get(board_id)
        if known is not None:
            self.record(dataclasses.replace(known, failed_board=BoardQuality.FAILED))
        else:
            self.record(
                BoardAvailable(
                    board_id=board_id,
                    board_id_created_by=self.machine_id,
                    failed_board=BoardQuality.FAILED,
                    flipped_board=FlippedBoard.TOP_SIDE_IS_UP,
                )
            )

    def forget(self, board_id: str) -> None:
        """The board has left; drop what was known about it."""
        self._boards.pop(board_id, None)

    def __contains__(self, board_id: object) -> bool:
        return board_id in self._boards

    def __len__(self) -> int:
        return len(self._boards)


#: A hook that may replace a board as it arrives (the supervisory channel fills in work orders).
ArrivalHook = Callable[[Board], Awaitable[Board]]


class HermesUpstream:
    """A machine's Upstream interface (a Hermes TCP client) as its :class:`BoardIn`.

    Use it as ``async with HermesUpstream(...) as board_in``; a machine built with it takes its
    boards from the previous machine over Hermes.

    Args:
        host: the previous machine's address.
        port: the previous machine's Downstream (sender) port.
        machine_id: our MachineId (sent in our ServiceDescription).
        book: where the received descriptions go (a new one if omitted).
        lane_id: the lane (1 for a single-lane line).
        conveyor_speed: a callable giving our entry conveyor speed in mm/s, sent in StartTransport
            (the speed chosen for the handover, reference §2.1).
        on_arrival: called with each board before it is returned, may return a changed board.
        fast_retry: reconnect delay after a working session dropped, real seconds.
        slow_retry: the longest reconnect delay otherwise, real seconds.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        machine_id: str,
        book: BoardBook | None = None,
        lane_id: int = 1,
        conveyor_speed: Callable[[], float | None] | None = None,
        on_arrival: ArrivalHook | None = None,
        fast_retry: float = 0.05,
        slow_retry: float = 2.0,
    ) -> None:
        self.book = book if book is not None else BoardBook(machine_id)
        self.on_arrival = on_arrival
        self._speed = conveyor_speed
        self.lane = ReceiverLane(
            host,
            port,
            machine_id=machine_id,
            lane_id=lane_id,
            fast_retry=fast_retry,
            slow_retry=slow_retry,
        )
        self.taken = 0
        self.repeats = 0
        self._closing = False
        self._recent: collections.deque[str] = collections.deque(maxlen=RECENT_BOARDS)
        self.log = log.bind(machine=machine_id, lane=lane_id, side="upstream")

    @property
    def host(self) -> str:
        """The address the lane connects to."""
        return self.lane.host

    @property
    def port(self) -> int:
        """The port the lane connects to."""
        return self.lane.port

    async def __aenter__(self) -> Self:
        await self.lane.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closing = True
        await self.lane.__aexit__(exc_type, exc, tb)

    async def take_board(self) -> Board:
        """Take the next board over Hermes and return it (see the module docstring).

        Retries on a new session when the session drops during the handshake; a BoardId taken
        already (the sender re-offered it after a drop) is taken again and discarded.

        Raises:
            LaneDisconnected: the lane is closing.
        """
        while True:
            try:
                available = await self._take_over()
            except LaneDisconnected as exc:
                if self._closing:
                    raise
                self.log.info("handoff.dropped", error=str(exc))
                continue
            if available is None:
                continue
            if available.board_id in self._recent:
                self.repeats += 1
                self.log.warning("handoff.repeated", board_id=available.board_id)
                continue
            self._recent.append(available.board_id)
            self.book.record(available)
            self.taken += 1
            board = board_from_available(available)
            if self.on_arrival is not None:
                board = await self.on_arrival(board)
            return board

    async def _take_over(self) -> BoardAvailable | None:
        lane = self.lane
        await lane.announce_ready(MachineReady(failed_board=BoardQuality.ANY))
        available = await lane.wait_for_board()
        speed = self._speed() if self._speed is not None else None
        await lane.start_transport(available.board_id, conveyor_speed=speed)
        finished = await lane.wait_for_finished()
        if finished.transfer_state in (TransferState.NOT_STARTED, TransferState.INCOMPLETE):
            # The sender did not complete the transfer (reference §2.4 TransferState): the board
            # is not here; end the cycle with the same state and wait for the next offer.
            await lane.stop_transport(finished.transfer_state)
            self.log.info(
                "handoff.incomplete", board_id=available.board_id, state=finished.transfer_state.name
            )
            return None
        # After TransportFinished the board is physically here; a drop only loses the answer.
        with contextlib.suppress(LaneDisconnected):
            await lane.stop_transport(TransferState.COMPLETE)
        return available


class HermesDownstream:
    """A machine's Downstream interface (a Hermes TCP server) as its :class:`BoardOut`.

    Use it as ``async with HermesDownstream(...) as board_out``; ``port`` is then the port the
    next machine connects to.

    Args:
        machine_id: our MachineId.
        clock: the clock the exit conveyor runs on.
        book: the board descriptions (shared with the machine's upstream lane).
        host: the address to listen on.
        port: the TCP port (0 picks a free one; default 50100 + lane_id, reference §1).
        lane_id: the lane.
        conveyor_speed: a callable giving our exit conveyor speed in mm/s.
        on_transferred: called once per board when its transfer has run, before TransportFinished:
            the physical move, for a receiver whose conveyor is modelled apart from Hermes (a
            Hermes bridge in front of a legacy machine). A handoff repeated after a dropped
            session does not call it again.
    """

    def __init__(
        self,
        *,
        machine_id: str,
        clock: Clock,
        book: BoardBook | None = None,
        host: str = "127.0.0.1",
        port: int | None = 0,
        lane_id: int = 1,
        conveyor_speed: Callable[[], float] | None = None,
        on_transferred: Callable[[Board], Awaitable[None]] | None = None,
    ) -> None:
        self.on_transferred = on_transferred
        self.clock = clock
        self.book = book if book is not None else BoardBook(machine_id)
        self._speed = conveyor_speed or (lambda: 100.0)
        self.lane = SenderLane(machine_id=machine_id, lane_id=lane_id, host=host, port=port)
        self.given = 0
        self._closing = False
        self.log = log.bind(machine=machine_id, lane=lane_id, side="downstream")

    @property
    def host(self) -> str:
        """The address the lane listens on."""
        return self.lane.host

    @property
    def port(self) -> int:
        """The port the lane listens on (the real one once entered)."""
        return self.lane.port

    async def __aenter__(self) -> Self:
        await self.lane.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closing = True
        await self.lane.__aexit__(exc_type, exc, tb)

    def transfer_time(self, board: Board, speed_mm_s: float | None = None) -> float:
        """Simulated seconds the exit conveyor needs to move ``board`` fully onto the next machine."""
        speed = speed_mm_s if speed_mm_s is not None and speed_mm_s > 0 else self._speed()
        return board.length_mm / speed if speed > 0 else 0.0

    async def give_board(self, board: Board) -> None:
        """Hand ``board`` to the next machine over Hermes; return once it has taken it.

        A session that drops before the handoff completes, or a StopTransport that is not
        Complete (the receiver stopped the transfer), makes it offer the board again.

        Raises:
            LaneDisconnected: the lane is closing.
        """
        moved = False
        while True:
            available = self.book.describe(board)
            try:
                await self.lane.offer_board(dataclasses.replace(available, conveyor_speed=self._speed()))
                start = await self.lane.wait_for_start()
                # The transfer itself (reference §3, step 4): the exit conveyor runs until the
                # board has left, at the speed the receiver chose if it chose one.
                await self.clock.sleep(self.transfer_time(board, start.conveyor_speed))
                if not moved and self.on_transferred is not None:
                    await self.on_transferred(board)
                moved = True
                stop = await self.lane.finish_transport(board.board_id)
            except LaneDisconnected as exc:
                if self._closing:
                    raise
                self.log.info("handoff.dropped", board_id=board.board_id, error=str(exc))
                continue
            if stop.transfer_state != TransferState.COMPLETE:
                # The receiver stopped the transfer (NotStarted / Incomplete, reference §3): the
                # board is still ours. The exit conveyor brings it back before it is offered
                # again; offering at once could also race the receiver's own end of the cycle
                # (ReceiverLane.stop_transport clears a BoardAvailable that arrives with the
                # TransportFinished).
                self.log.info("handoff.stopped", board_id=board.board_id, state=stop.transfer_state.name)
                await self.clock.sleep(max(self.transfer_time(board), MIN_RETRY_DELAY))
                continue
            self.given += 1
            return


__all__ = [
    "MIN_RETRY_DELAY",
    "RECENT_BOARDS",
    "ArrivalHook",
    "BoardBook",
    "HermesDownstream",
    "HermesUpstream",
    "available_from_board",
    "board_from_available",
]
