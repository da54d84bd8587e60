"""A simulated machine's Hermes vertical channel: the machine as supervisory server (reference §2.3).

:class:`SupervisoryChannel` runs a :class:`~protocols.hermes.transport.VerticalServer` for one
machine. Any number of supervisory clients (an MES, linegate, a test) may connect at once:

- **Board tracking.** Every board the machine takes in is reported as BoardArrived and every
  board it hands on as BoardDeparted, to each client that announced FeatureBoardTracking, with
  the board's Hermes attributes from the machine's :class:`~simulators.hermes_link.BoardBook`.
  BoardDeparted follows the handoff's TransportFinished ([acc], reference §2.3).
- **Work orders.** :meth:`SupervisoryChannel.query_work_order` asks the clients that announced
  FeatureSendWorkOrderInfo (QueryWorkOrderInfo with a QueryId) and returns the first matching
  SendWorkOrderInfo. Used as the upstream lane's arrival hook, a board that arrives without a
  work order gets the one the supervisory system names. An unsolicited SendWorkOrderInfo (no
  QueryId) becomes the work order of the boards that arrive without one from then on, and is
  answered with ReplyWorkOrderInfo AcceptedAndQueued where the client announced it (1.6).
- **Board release.** :meth:`SupervisoryChannel.admit_board` (the machine's ``board_gate``):
  when a client takes work-order queries, the machine asks about every board it has taken in,
  after its BoardArrived went out on the same sessions, and keeps the board at the entrance
  until a client answers. Unanswered queries are repeated every ``query_timeout``, so a board
  is never taken into the process unanswered while a client that takes queries is connected;
  without such a client boards go straight in. A supervisory system can thus switch the
  machine's recipe before the board is built (linegate's product-boundary changeover).
- **CheckAlive.** A Ping is answered with a Pong by the connection itself (lib's eAUTO); plain
  CheckAlives are sent on quiet sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
from collections.abc import Callable
from types import TracebackType
from typing import Self

import structlog

from protocols.errors import ProtocolError
from protocols.hermes.messages import (
    BoardArrived,
    BoardArrivedTransfer,
    BoardAvailable,
    BoardDeparted,
    BoardDepartedTransfer,
    CapabilityAttributes,
    FeatureBoardTracking,
    FeatureCheckAliveResponse,
    FeatureQueryHermesCapabilities,
    FeatureQueryWorkOrderInfo,
    FeatureReplyWorkOrderInfo,
    FeatureSendHermesCapabilities,
    FeatureSendWorkOrderInfo,
    Message,
    OptionalMessages,
    QueryWorkOrderInfo,
    ReplyWorkOrderInfo,
    ReplyWorkOrderInfoStatus,
    SendHermesCapabilities,
    SendWorkOrderInfo,
    SupervisoryFeatures,
    SupervisoryServiceDescription,
    UnknownMessage,
)
from protocols.hermes.transport import HERMES_VERSION, HermesConnectionClosed, VerticalServer, VerticalSession
from simulators.hermes_link import BoardBook
from simulators.machine import Board, Machine, MachineEvent, UnitsArrived, UnitsDeparted, WorkCompleted

log = structlog.get_logger("simulators.supervisory")

#: What the machine announces in its SupervisoryServiceDescription (reference §2.3).
MACHINE_FEATURES = SupervisoryFeatures(
    feature_check_alive_response=FeatureCheckAliveResponse(),
    feature_board_tracking=FeatureBoardTracking(),
    feature_query_work_order_info=FeatureQueryWorkOrderInfo(),
    feature_send_work_order_info=FeatureSendWorkOrderInfo(),
    feature_reply_work_order_info=FeatureReplyWorkOrderInfo(),
    feature_query_hermes_capabilities=FeatureQueryHermesCapabilities(),
    feature_send_hermes_capabilities=FeatureSendHermesCapabilities(),
)

#: The answer to QueryHermesCapabilities (1.6): the optional messages and fields we handle.
MACHINE_CAPABILITIES = SendHermesCapabilities(
    optional_messages=OptionalMessages(
        message_check_alive_response=True,
        message_board_arrived=True,
        message_board_departed=True,
        message_query_work_order_info=True,
        message_reply_work_order_info=True,
    ),
    attributes=CapabilityAttributes(
        product_type_id=1,
        top_barcode=1,
        length=1,
        width=1,
        thickness=1,
        conveyor_speed=1,
        work_order_id=1,
    ),
)

#: Real seconds a work-order query waits for an answer by default.
QUERY_TIMEOUT = 2.0


def _board_fields(available: BoardAvailable) -> dict[str, object]:
    """The board attributes BoardArrived/BoardDeparted share with BoardAvailable (§2.3)."""
    return {f.name: getattr(available, f.name) for f in dataclasses.fields(available)}


class SupervisoryChannel:
    """One machine's vertical (supervisory) server.

    Use it as ``async with SupervisoryChannel(machine, book, port=0) as channel``; ``port`` is
    then the SupervisorySystemPort clients connect to.

    Args:
        machine: the machine whose boards are reported.
        book: the machine's board descriptions (shared with its Hermes lanes).
        host: the address to listen on.
        port: the SupervisorySystemPort (0 picks a free one; the standard has no default, §1).
        upstream_lane_id: the lane reported in BoardArrived.
        downstream_lane_id: the lane reported in BoardDeparted.
        query_timeout: real seconds :meth:`query_work_order` waits for an answer.
    """

    def __init__(
        self,
        machine: Machine,
        book: BoardBook,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        upstream_lane_id: int = 1,
        downstream_lane_id: int = 1,
        query_timeout: float = QUERY_TIMEOUT,
    ) -> None:
        self.machine = machine
        self.book = book
        self.upstream_lane_id = upstream_lane_id
        self.downstream_lane_id = downstream_lane_id
        self.query_timeout = query_timeout
        self.server = VerticalServer(
            SupervisoryServiceDescription(machine.machine_id, HERMES_VERSION, MACHINE_FEATURES),
            host=host,
            port=port,
            capabilities=MACHINE_CAPABILITIES,
        )
        #: Work orders a supervisory system sent unasked; the latest applies to boards without one.
        self.queued_work_orders: list[SendWorkOrderInfo] = []
        self.reported = 0
        self._outgoing: asyncio.Queue[BoardArrived | BoardDeparted] = asyncio.Queue()
        self._queries: dict[str, asyncio.Future[SendWorkOrderInfo]] = {}
        self._query_ids = itertools.count(1)
        # BoardIds whose BoardArrived is queued but not yet sent, and the events set once it is.
        self._announced: dict[str, asyncio.Event] = {}
        #: Boards held at the entrance for an answer (admit_board), by BoardId.
        self.held: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._stop_listening: Callable[[], None] = lambda: None
        self.log = log.bind(machine=machine.machine_id, channel="vertical")

    @property
    def host(self) -> str:
        """The address the server listens on."""
        return self.server.host

    @property
    def port(self) -> int:
        """The SupervisorySystemPort (the real one once entered)."""
        return self.server.port

    async def __aenter__(self) -> Self:
        await self.server.__aenter__()
        name = f"simulator[{self.machine.machine_id}].vertical"
        self._tasks = [
            asyncio.create_task(self._publish(), name=f"{name}.publish"),
            asyncio.create_task(self._receive(), name=f"{name}.receive"),
        ]
        self._stop_listening = self.machine.subscribe(self._on_event)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop_listening()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for future in self._queries.values():
            future.cancel()
        await self.server.__aexit__(exc_type, exc, tb)

    # -- board tracking --------------------------------------------------------------------------

    def _on_event(self, event: MachineEvent) -> None:
        # Machine listeners run synchronously; the messages go out in order from one task.
        if isinstance(event, UnitsArrived):
            self._announced[event.board.board_id] = asyncio.Event()
            self._outgoing.put_nowait(self.arrived(event.board))
        elif isinstance(event, UnitsDeparted):
            self._announced.pop(event.board.board_id, None)  # never gated (no board_gate wired)
            self._outgoing.put_nowait(self.departed(event.board))
        elif isinstance(event, WorkCompleted) and not event.passed:
            self.book.mark_failed(event.board.board_id)

    def arrived(self, board: Board) -> BoardArrived:
        """The BoardArrived for ``board`` (BoardTransfer 1 Transferred, reference §2.4)."""
        return BoardArrived(
            machine_id=self.machine.machine_id,
            upstream_lane_id=self.upstream_lane_id,
            board_transfer=BoardArrivedTransfer.TRANSFERRED,
            **_board_fields(self.book.describe(board)),  # type: ignore[arg-type]
        )

    def departed(self, board: Board) -> BoardDeparted:
        """The BoardDeparted for ``board`` (BoardTransfer 1 Transferred, reference §2.4)."""
        return BoardDeparted(
            machine_id=self.machine.machine_id,
            downstream_lane_id=self.downstream_lane_id,
            board_transfer=BoardDepartedTransfer.TRANSFERRED,
            **_board_fields(self.book.describe(board)),  # type: ignore[arg-type]
        )

    async def _publish(self) -> None:
        while True:
            message = await self._outgoing.get()
            await self.server.publish(message)
            self.reported += 1
            if isinstance(message, BoardArrived):
                announced = self._announced.get(message.board_id)
                if announced is not None:
                    announced.set()

    # -- work orders -----------------------------------------------------------------------------

    async def _receive(self) -> None:
        while True:
            session, message = await self.server.receive()
            await self._handle(session, message)

    async def _handle(self, session: VerticalSession, message: Message | UnknownMessage) -> None:
        if not isinstance(message, SendWorkOrderInfo):
            # CheckAlive (a Ping was answered by the connection), Notification, unknown tags.
            self.log.debug("vertical.received", message=type(message).__name__)
            return
        if message.query_id is not None:
            waiting = self._queries.get(message.query_id)
            if waiting is None:
                # The answer to a query we gave up on (and asked again): not a new work order.
                self.log.info("work_order.late_answer", query_id=message.query_id)
            elif not waiting.done():
                waiting.set_result(message)
            return
        self.queued_work_orders.append(message)
        if message.work_order_id is not None and session.connection.peer_supports(ReplyWorkOrderInfo):
            reply = ReplyWorkOrderInfo(
                work_order_id=message.work_order_id,
                status=ReplyWorkOrderInfoStatus.ACCEPTED_AND_QUEUED,
                batch_id=message.batch_id,
            )
            with contextlib.suppress(ProtocolError, HermesConnectionClosed):
                await session.send(reply)

    async def query_work_order(
        self, *, barcode: str | None = None, work_order_id: str | None = None
    ) -> SendWorkOrderInfo | None:
        """Ask the supervisory clients which work order a board belongs to.

        Sends QueryWorkOrderInfo (with a fresh QueryId) to every client that announced
        FeatureSendWorkOrderInfo and returns the first SendWorkOrderInfo with that QueryId.

        Returns:
            the answer, or None if no client can answer or none did within ``query_timeout``.
        """
        _, answer = await self._ask(barcode=barcode, work_order_id=work_order_id)
        return answer

    def takes_queries(self) -> bool:
        """Whether a connected client announced that it answers QueryWorkOrderInfo."""
        return any(s.connection.peer_supports(QueryWorkOrderInfo) for s in self.server.sessions)

    async def _ask(
        self, *, barcode: str | None, work_order_id: str | None
    ) -> tuple[int, SendWorkOrderInfo | None]:
        """Send one QueryWorkOrderInfo; return (clients asked, the answer or None on timeout)."""
        query_id = f"{self.machine.machine_id}-{next(self._query_ids)}"
        query = QueryWorkOrderInfo(
            machine_id=self.machine.machine_id,
            query_id=query_id,
            barcode=barcode,
            work_order_id=work_order_id,
        )
        answer: asyncio.Future[SendWorkOrderInfo] = asyncio.get_running_loop().create_future()
        self._queries[query_id] = answer
        asked = 0
        try:
            for session in list(self.server.sessions):
                if session.connection.peer_supports(QueryWorkOrderInfo):
                    with contextlib.suppress(ProtocolError, HermesConnectionClosed):
                        await session.send(query)
                        asked += 1
            if not asked:
                return 0, None
            async with asyncio.timeout(self.query_timeout):
                return asked, await answer
        except TimeoutError:
            self.log.warning("work_order.query_timeout", query_id=query_id, barcode=barcode)
            return asked, None
        finally:
            del self._queries[query_id]

    async def admit_board(self, board: Board) -> None:
        """The machine's board gate: return once a supervisory client released ``board``.

        Asks (QueryWorkOrderInfo with the board's barcode and work order) after the board's
        BoardArrived went out, so the client knows the board and its product when the question
        comes. Asks again every ``query_timeout`` while unanswered; returns at once when no
        connected client takes queries.
        """
        announced = self._announced.get(board.board_id)
        try:
            if not self.takes_queries():
                return
            if announced is not None:
                await announced.wait()
        finally:
            self._announced.pop(board.board_id, None)
        self.held.add(board.board_id)
        try:
            while True:
                asked, answer = await self._ask(barcode=board.barcode, work_order_id=board.work_order_id)
                if answer is not None or not asked:
                    self.log.info(
                        "board.released" if answer is not None else "board.released_unasked",
                        board_id=board.board_id,
                        product=board.product_type_id,
                    )
                    return
                self.log.warning("board.held", board_id=board.board_id, product=board.product_type_id)
        finally:
            self.held.discard(board.board_id)

    async def assign_work_order(self, board: Board) -> Board:
        """The upstream lane's arrival hook: give a board without a work order its work order.

        The latest unsolicited work order is used if there is one; otherwise the clients are
        asked by the board's barcode. Boards that already carry a work order pass unchanged.
        """
        if board.work_order_id is not None:
            return board
        info = self.queued_work_orders[-1] if self.queued_work_orders else None
        if info is None:
            info = await self.query_work_order(barcode=board.barcode)
        if info is None or info.work_order_id is None:
            return board
        return dataclasses.replace(
            board,
            work_order_id=info.work_order_id,
            product_type_id=info.product_type_id or board.product_type_id,
        )


__all__ = ["MACHINE_CAPABILITIES", "MACHINE_FEATURES", "QUERY_TIMEOUT", "SupervisoryChannel"]
