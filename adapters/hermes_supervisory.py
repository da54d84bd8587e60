"""The Hermes supervisory adapter: linegate as the MES on a machine's vertical channel.

On the vertical channel (hermes.md §2.3) the machine is the TCP server and the supervisory
system the client, which speaks first with its SupervisoryServiceDescription. This adapter is
that client. What the machine says becomes observations or answers:

- ``BoardArrived`` / ``BoardDeparted`` → :class:`~adapters.observations.BoardArrived` /
  :class:`~adapters.observations.BoardDeparted` with the Hermes BoardId, the barcode (top, else
  bottom), the lane and, on arrival, the ProductTypeId;
- ``QueryWorkOrderInfo`` → ``SendWorkOrderInfo`` with the same QueryId, filled from the
  **work-order plan**: an async callable the gateway provides (the line controller's say on
  which product and work order comes next). It gets a :class:`WorkOrderQuery` and returns a
  :class:`WorkOrder`, or None for "nothing planned". A plan that fails or overruns
  ``plan_timeout`` is logged, and the machine still gets an answer with only its QueryId, so it
  never waits forever. A plan that raises :class:`WorkOrderWithheld` gets no answer sent: the
  machine keeps the board until it asks again (linegate holds a board this way while its
  machine cannot run the recipe the board needs). The query carries the BoardId and the
  ProductTypeId the machine reported for that barcode in its BoardArrived, when it did;
- ``Notification`` and ``ReplyWorkOrderInfo`` are logged.

Liveness: every message from the machine is a sign of life. When it has been quiet for a third
of the liveness timeout, the adapter sends a CheckAlive Ping (answered by a Pong) if the machine
announced FeatureCheckAliveResponse, else a plain CheckAlive, which only proves the socket still
takes data; such a machine's own CheckAlive timer (lib: 60 s) must then beat the liveness timeout.
A machine that stops answering is ended by the base class's watchdog and reconnected with backoff.

The vertical channel carries no recipe commands: ``activate_recipe`` is refused, and the recipe
queries report nothing.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from adapters.base import Adapter, CommandError, Emit, RecipeInfo, ReconnectPolicy
from adapters.observations import BoardArrived, BoardDeparted, Observation, RecipeActivated
from protocols.errors import LinegateError, RemoteProtocolError, TransportError
from protocols.hermes import messages as m
from protocols.hermes.enums import BoardQuality
from protocols.hermes.transport import HERMES_VERSION, VerticalClient

__all__ = [
    "HermesSupervisoryAdapter",
    "SupervisoryStats",
    "WorkOrder",
    "WorkOrderPlan",
    "WorkOrderQuery",
    "WorkOrderWithheld",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkOrderQuery:
    """A machine asks which work order a board (or magazine slot) belongs to (QueryWorkOrderInfo).

    Attributes:
        machine_id: the gateway's machine id of the asking machine.
        hermes_machine_id: the MachineId the machine reports.
        query_id: the machine's QueryId, echoed in the answer.
        barcode, magazine_id, slot_id, work_order_id, batch_id: what the machine knows so far.
        board_id, product: the BoardId and ProductTypeId of the board with this barcode, from
            the machine's BoardArrived on this session (None when it reported none).
    """

    machine_id: str
    hermes_machine_id: str
    query_id: str | None = None
    barcode: str | None = None
    magazine_id: str | None = None
    slot_id: int | None = None
    work_order_id: str | None = None
    batch_id: str | None = None
    board_id: str | None = None
    product: str | None = None


class WorkOrderWithheld(LinegateError):
    """Raised by a work-order plan that must not answer yet: the machine keeps the board.

    Args:
        reason: why, for the log.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkOrder:
    """What the plan says about the queried board; every field is optional (SendWorkOrderInfo).

    Attributes:
        work_order_id: the work order (``WorkOrderId``).
        batch_id: the batch (``BatchId``).
        product: the product type (``ProductTypeId``).
        board_id: a Hermes BoardId (lowercase GUID) to give the board.
        board_id_created_by: who created ``board_id``; defaults to our SystemId.
        barcode: the top-side barcode (``TopBarcode``); ``bottom_barcode`` the other side.
        length, width, thickness: board dimensions in mm; ``conveyor_speed`` in mm/s.
        route, action: where the board goes and what the machine does with it (hermes.md §2.4).
        failed_board: ``BoardQuality.FAILED`` marks the board bad: the answer of an interlock
            that refuses it (the machine must not build it).
    """

    work_order_id: str | None = None
    batch_id: str | None = None
    product: str | None = None
    board_id: str | None = None
    board_id_created_by: str | None = None
    barcode: str | None = None
    bottom_barcode: str | None = None
    length: float | None = None
    width: float | None = None
    thickness: float | None = None
    conveyor_speed: float | None = None
    route: int | None = None
    action: int | None = None
    failed_board: BoardQuality | None = None


#: Boards remembered per machine for work-order queries; a machine holds a few at most.
_PRESENT_LIMIT = 64

WorkOrderPlan = Callable[[WorkOrderQuery], Awaitable[WorkOrder | None]]
"""The gateway's hook: the work order for a query, or None when nothing is planned."""


@dataclass(slots=True)
class SupervisoryStats:
    """Counters of the vertical channel, for metrics and tests."""

    boards_arrived: int = 0
    boards_departed: int = 0
    queries: int = 0  # QueryWorkOrderInfo received
    answered: int = 0  # SendWorkOrderInfo sent with a planned work order
    answered_empty: int = 0  # SendWorkOrderInfo sent with only the QueryId (no plan, failure)
    withheld: int = 0  # no answer: the plan holds the board (WorkOrderWithheld)
    unanswerable: int = 0  # the machine did not announce FeatureSendWorkOrderInfo


def _send_work_order_info(
    query_id: str | None, order: WorkOrder | None, created_by: str
) -> m.SendWorkOrderInfo:
    if order is None:
        return m.SendWorkOrderInfo(query_id=query_id)
    return m.SendWorkOrderInfo(
        query_id=query_id,
        work_order_id=order.work_order_id,
        batch_id=order.batch_id,
        board_id=order.board_id,
        board_id_created_by=(order.board_id_created_by or created_by) if order.board_id else None,
        failed_board=order.failed_board,
        product_type_id=order.product,
        top_barcode=order.barcode,
        bottom_barcode=order.bottom_barcode,
        length=order.length,
        width=order.width,
        thickness=order.thickness,
        conveyor_speed=order.conveyor_speed,
        route=order.route,
        action=order.action,
    )


class HermesSupervisoryAdapter(Adapter):
    """A supervisory (MES) client on one machine's Hermes vertical channel.

    Args:
        machine_id: the machine id from the line config.
        host: the machine's address.
        port: its SupervisorySystemPort (the standard fixes no default, hermes.md §1).
        system_id: our SystemId in the SupervisoryServiceDescription.
        work_orders: the work-order plan; None means we do not take QueryWorkOrderInfo
            (FeatureQueryWorkOrderInfo is then not announced).
        plan_timeout: seconds the plan may take before the machine gets an empty answer;
            None for no limit (a plan that switches recipes bounds itself).
        connect_timeout: seconds for the TCP connect plus the handshake.
        policy: reconnect and liveness settings.
    """

    protocol = "hermes"

    def __init__(
        self,
        machine_id: str,
        *,
        host: str,
        port: int,
        system_id: str = "linegate",
        work_orders: WorkOrderPlan | None = None,
        plan_timeout: float | None = 5.0,
        connect_timeout: float = 10.0,
        policy: ReconnectPolicy | None = None,
    ) -> None:
        super().__init__(machine_id, policy=policy)
        self.host = host
        self.port = port
        self.system_id = system_id
        self.work_orders = work_orders
        self.plan_timeout = plan_timeout
        self.connect_timeout = connect_timeout
        self.stats = SupervisoryStats()
        #: The machine's SupervisoryServiceDescription in the current session.
        self.peer: m.SupervisoryServiceDescription | None = None
        self.log = self.log.bind(peer=f"{host}:{port}")
        self._last_heard = 0.0
        # The boards on the machine by barcode, as its BoardArrived described them, so a
        # QueryWorkOrderInfo (which names only the barcode) can say which board and product.
        self._present: collections.OrderedDict[str, m.BoardArrived] = collections.OrderedDict()

    @property
    def description(self) -> m.SupervisoryServiceDescription:
        """Our SupervisoryServiceDescription: the features we take from the machine (hermes.md §2.3)."""
        planned = self.work_orders is not None
        return m.SupervisoryServiceDescription(
            system_id=self.system_id,
            version=HERMES_VERSION,
            supported_features=m.SupervisoryFeatures(
                # The glue answers a Ping with a Pong itself (lib's eAUTO).
                feature_check_alive_response=m.FeatureCheckAliveResponse(),
                feature_board_tracking=m.FeatureBoardTracking(),
                feature_query_work_order_info=m.FeatureQueryWorkOrderInfo() if planned else None,
                feature_reply_work_order_info=m.FeatureReplyWorkOrderInfo() if planned else None,
            ),
        )

    # --- the session -------------------------------------------------------------------------

    async def _session(self, emit: Emit) -> None:
        client = VerticalClient(
            self.host,
            self.port,
            self.description,
            timeout=self.connect_timeout,
            # Our own quiet-time probe below replaces the plain 60 s CheckAlive timer.
            check_alive_period=None,
        )
        answers: set[asyncio.Task[None]] = set()
        try:
            async with client:
                self.peer = client.machine
                self.connected()
                self._heard()
                self._log_features(client.machine)
                keep_alive = asyncio.create_task(
                    self._keep_alive(client), name=f"adapter[{self.machine_id}].check_alive"
                )
                try:
                    while True:
                        message = await client.receive()
                        self._heard()
                        await self._dispatch(message, client, emit, answers)
                finally:
                    for task in (keep_alive, *answers):
                        task.cancel()
                    await asyncio.gather(keep_alive, *answers, return_exceptions=True)
        except RemoteProtocolError as exc:
            # The stream already sent the standard's Notification and closed; reconnecting is
            # what the supervisor does for a broken link, so report it as one.
            raise TransportError(f"the machine broke the vertical protocol: {exc}") from exc
        finally:
            self.peer = None

    def _log_features(self, peer: m.SupervisoryServiceDescription | None) -> None:
        if peer is None:
            return
        features = peer.supported_features
        announced = sorted(
            f.name for f in dataclasses.fields(features) if getattr(features, f.name) is not None
        )
        self.log.info(
            "hermes.handshake.complete", system_id=peer.system_id, version=peer.version, features=announced
        )

    async def _dispatch(
        self,
        message: m.Message | m.UnknownMessage,
        client: VerticalClient,
        emit: Emit,
        answers: set[asyncio.Task[None]],
    ) -> None:
        if isinstance(message, m.BoardArrived | m.BoardDeparted):
            self._remember(message)
            await emit(self._board(message))
        elif isinstance(message, m.QueryWorkOrderInfo):
            # The plan may consult an MES; answer in a task so board tracking keeps flowing.
            task = asyncio.create_task(
                self._answer(message, client), name=f"adapter[{self.machine_id}].work_order"
            )
            answers.add(task)
            task.add_done_callback(answers.discard)
        elif isinstance(message, m.Notification):
            level = "warning" if message.severity in (m.SeverityType.FATAL, m.SeverityType.ERROR) else "info"
            getattr(self.log, level)(
                "hermes.notification",
                code=int(message.notification_code),
                severity=int(message.severity),
                description=message.description,
            )
        elif isinstance(message, m.ReplyWorkOrderInfo):
            level = "warning" if message.status is m.ReplyWorkOrderInfoStatus.REJECTED else "info"
            getattr(self.log, level)(
                "workorder.reply", work_order_id=message.work_order_id, status=message.status.name
            )
        # CheckAlive (the Pong is sent by the glue), unknown messages: signs of life only.

    def _remember(self, message: m.BoardArrived | m.BoardDeparted) -> None:
        barcode = message.top_barcode or message.bottom_barcode
        if barcode is None:
            return
        if isinstance(message, m.BoardDeparted):
            self._present.pop(barcode, None)
            return
        self._present[barcode] = message
        self._present.move_to_end(barcode)
        while len(self._present) > _PRESENT_LIMIT:  # departures we missed (a reconnect)
            self._present.popitem(last=False)

    def _board(self, message: m.BoardArrived | m.BoardDeparted) -> Observation:
        at = datetime.now(UTC)  # the Hermes Timestamp is local time without an offset (hermes.md §1)
        barcode = message.top_barcode or message.bottom_barcode
        if isinstance(message, m.BoardArrived):
            self.stats.boards_arrived += 1
            return BoardArrived(
                machine_id=self.machine_id,
                at=at,
                board_id=message.board_id,
                barcode=barcode,
                lane=message.upstream_lane_id,
                product=message.product_type_id,
            )
        self.stats.boards_departed += 1
        return BoardDeparted(
            machine_id=self.machine_id,
            at=at,
            board_id=message.board_id,
            barcode=barcode,
            lane=message.downstream_lane_id,
        )

    async def _answer(self, query: m.QueryWorkOrderInfo, client: VerticalClient) -> None:
        self.stats.queries += 1
        log = self.log.bind(query_id=query.query_id, barcode=query.barcode)
        features = client.machine.supported_features if client.machine else m.SupervisoryFeatures()
        if features.feature_send_work_order_info is None:
            # hermes.md §2.5: send an optional message only when the peer announced its feature.
            self.stats.unanswerable += 1
            log.warning("workorder.unanswerable", reason="machine did not announce FeatureSendWorkOrderInfo")
            return
        try:
            order = await self._plan(query)
        except WorkOrderWithheld as exc:
            self.stats.withheld += 1
            log.warning("workorder.withheld", reason=exc.reason)
            return
        reply = _send_work_order_info(query.query_id, order, self.system_id)
        with contextlib.suppress(TransportError):  # the session is ending; its receive loop reports why
            await client.send(reply)
            if order is None:
                self.stats.answered_empty += 1
            else:
                self.stats.answered += 1
            log.info("workorder.answered", work_order_id=reply.work_order_id, product=reply.product_type_id)

    async def _plan(self, query: m.QueryWorkOrderInfo) -> WorkOrder | None:
        plan = self.work_orders
        if plan is None:
            return None
        known = self._present.get(query.barcode) if query.barcode else None
        asked = WorkOrderQuery(
            machine_id=self.machine_id,
            hermes_machine_id=query.machine_id,
            query_id=query.query_id,
            barcode=query.barcode,
            magazine_id=query.magazine_id,
            slot_id=query.slot_id,
            work_order_id=query.work_order_id,
            batch_id=query.batch_id,
            board_id=known.board_id if known else None,
            product=known.product_type_id if known else None,
        )
        try:
            async with asyncio.timeout(self.plan_timeout):
                return await plan(asked)
        except WorkOrderWithheld:
            raise
        except TimeoutError:
            self.log.warning("workorder.plan_timeout", query_id=query.query_id, timeout=self.plan_timeout)
        except Exception:  # a failing hook must not take the machine's connection down
            self.log.exception("workorder.plan_failed", query_id=query.query_id)
        return None

    def _heard(self) -> None:
        self._last_heard = asyncio.get_running_loop().time()
        self.alive()

    async def _keep_alive(self, client: VerticalClient) -> None:
        loop = asyncio.get_running_loop()
        quiet = self.policy.liveness_timeout / 3
        while True:
            wait = self._last_heard + quiet - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)  # a timer, not synchronization
                continue
            peer = client.machine
            if peer is not None and peer.supported_features.feature_check_alive_response is not None:
                probe = m.CheckAlive(type=m.CheckAliveType.PING, id=str(uuid.uuid4()))
            else:
                probe = m.CheckAlive()  # unanswered: it only proves the socket still takes data
            try:
                await client.send(probe)
            except TransportError:
                return  # the receive loop sees the broken connection
            # Wait a whole quiet period for the answer before probing again.
            await asyncio.sleep(quiet)  # a timer, not synchronization

    # --- commands ----------------------------------------------------------------------------

    async def activate_recipe(self, name: str, revision: str | None = None) -> RecipeActivated:
        """Always refused: the Hermes vertical channel carries no recipe command.

        Raises:
            CommandError: with ``refused=True``.
        """
        raise CommandError("the Hermes vertical channel has no recipe command", refused=True)

    async def active_recipe(self) -> RecipeInfo | None:
        """None: the vertical channel does not report recipes."""
        return None

    async def available_recipes(self) -> list[RecipeInfo]:
        """Empty: the vertical channel does not list recipes."""
        return []
