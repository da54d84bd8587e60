"""The Hermes supervisory adapter against a machine's vertical channel (protocols' VerticalServer).

The machine side is the other role of the same Hermes stack over real loopback TCP; where a
machine must misbehave (say nothing, send garbage), a raw asyncio server plays it.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from structlog.testing import capture_logs

from adapters.base import CommandError, ReconnectPolicy
from adapters.hermes_supervisory import HermesSupervisoryAdapter, WorkOrder, WorkOrderPlan, WorkOrderQuery
from adapters.observations import BoardArrived, BoardDeparted, Observation
from protocols.hermes import messages as m
from protocols.hermes.codec import encode
from protocols.hermes.transport import VerticalServer, VerticalSession

WAIT = 10.0
OVEN = m.SupervisoryServiceDescription("REFLOW-1", "1.6", m.SupervisoryFeatures.all())
QUIET = ReconnectPolicy(base=0.02, cap=0.1, healthy_after=60.0, liveness_timeout=30.0)


class Sessions(HermesSupervisoryAdapter):
    """The adapter, reporting each established session and every observation to the test."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.sessions: asyncio.Queue[int] = asyncio.Queue()
        self.seen: asyncio.Queue[Observation] = asyncio.Queue()

    def connected(self) -> None:
        super().connected()
        self.sessions.put_nowait(self.health.connects)

    async def next_session(self) -> int:
        return await asyncio.wait_for(self.sessions.get(), WAIT)

    async def next_observation(self) -> Observation:
        return await asyncio.wait_for(self.seen.get(), WAIT)


@contextlib.asynccontextmanager
async def running(adapter: Sessions) -> AsyncIterator[Sessions]:
    """Run the adapter until the block ends; the first session is established on entry."""
    task = asyncio.create_task(adapter.run(adapter.seen.put))
    try:
        assert await adapter.next_session() == 1
        yield adapter
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@contextlib.asynccontextmanager
async def machine(
    description: m.SupervisoryServiceDescription = OVEN,
    port: int = 0,
    check_alive_period: float | None = None,
) -> AsyncIterator[VerticalServer]:
    async with VerticalServer(
        description, host="127.0.0.1", port=port, check_alive_period=check_alive_period
    ) as server:
        yield server


async def next_from_client(server: VerticalServer) -> tuple[VerticalSession, m.Message | m.UnknownMessage]:
    """The next message the adapter sent, other than its CheckAlive probes."""
    while True:
        session, message = await asyncio.wait_for(server.receive(), WAIT)
        if not isinstance(message, m.CheckAlive):
            return session, message


def arrived(board_id: str, **fields: object) -> m.BoardArrived:
    return m.BoardArrived(
        "REFLOW-1",
        1,
        m.BoardArrivedTransfer.TRANSFERRED,
        board_id,
        "PRINTER-1",
        m.BoardQuality.GOOD,
        m.FlippedBoard.TOP_SIDE_IS_UP,
        **fields,  # type: ignore[arg-type]
    )


def departed(board_id: str) -> m.BoardDeparted:
    return m.BoardDeparted(
        "REFLOW-1",
        2,
        m.BoardDepartedTransfer.TRANSFERRED,
        board_id,
        "PRINTER-1",
        m.BoardQuality.GOOD,
        m.FlippedBoard.TOP_SIDE_IS_UP,
        bottom_barcode="PCB-0001-B",
    )


# --- board tracking -------------------------------------------------------------------------


async def test_board_tracking_becomes_observations() -> None:
    board = str(uuid.uuid4())
    async with machine() as server:
        adapter = Sessions("oven1", host="127.0.0.1", port=server.port, policy=QUIET)
        async with running(adapter):
            await asyncio.wait_for(server.wait_for_clients(1), WAIT)
            # The adapter announced FeatureBoardTracking, so the machine sends it board tracking.
            assert (
                await server.publish(arrived(board, product_type_id="BOARD-A", top_barcode="PCB-0001")) == 1
            )
            assert await server.publish(departed(board)) == 1
            came = await adapter.next_observation()
            went = await adapter.next_observation()
    assert isinstance(came, BoardArrived)
    assert (came.machine_id, came.board_id, came.barcode, came.lane, came.product) == (
        "oven1",
        board,
        "PCB-0001",
        1,
        "BOARD-A",
    )
    assert came.at.tzinfo is not None
    assert isinstance(went, BoardDeparted)
    assert (went.board_id, went.barcode, went.lane) == (board, "PCB-0001-B", 2)
    assert (adapter.stats.boards_arrived, adapter.stats.boards_departed) == (1, 1)


async def test_handshake_announces_what_we_take() -> None:
    async with machine() as server:
        adapter = Sessions("oven1", host="127.0.0.1", port=server.port, policy=QUIET, system_id="MES-7")
        async with running(adapter):
            await asyncio.wait_for(server.wait_for_clients(1), WAIT)
            [session] = server.sessions
            assert adapter.peer == OVEN
    assert session.description is not None
    assert session.description.system_id == "MES-7"
    features = session.description.supported_features
    assert features.feature_board_tracking is not None
    assert features.feature_check_alive_response is not None
    assert features.feature_query_work_order_info is None  # no plan given: we take no queries


# --- work orders ----------------------------------------------------------------------------


async def test_work_order_query_is_answered_from_the_plan() -> None:
    asked: list[WorkOrderQuery] = []
    board = str(uuid.uuid4())

    async def plan(query: WorkOrderQuery) -> WorkOrder | None:
        asked.append(query)
        return WorkOrder(
            work_order_id="WO-7", batch_id="B-2", product="BOARD-A", board_id=board, length=160.0
        )

    async with machine() as server:
        adapter = Sessions("oven1", host="127.0.0.1", port=server.port, policy=QUIET, work_orders=plan)
        async with running(adapter):
            await asyncio.wait_for(server.wait_for_clients(1), WAIT)
            [session] = server.sessions
            await session.send(
                m.QueryWorkOrderInfo("REFLOW-1", query_id="Q-1", barcode="PCB-0001", slot_id=4)
            )
            _, answer = await next_from_client(server)
    assert asked == [
        WorkOrderQuery(
            machine_id="oven1", hermes_machine_id="REFLOW-1", query_id="Q-1", barcode="PCB-0001", slot_id=4
        )
    ]
    assert answer == m.SendWorkOrderInfo(
        query_id="Q-1",
        work_order_id="WO-7",
        batch_id="B-2",
        board_id=board,
        board_id_created_by="linegate",
        product_type_id="BOARD-A",
        length=160.0,
    )
    assert adapter.stats.answered == 1


async def _hang(query: WorkOrderQuery) -> WorkOrder | None:
    await asyncio.Event().wait()
    return None


async def _fail(query: WorkOrderQuery) -> WorkOrder | None:
    raise RuntimeError("MES unreachable")


async def _nothing(query: WorkOrderQuery) -> WorkOrder | None:
    return None


@pytest.mark.parametrize(
    ("plan", "logged"),
    [(_nothing, None), (_fail, "workorder.plan_failed"), (_hang, "workorder.plan_timeout")],
    ids=["nothing-planned", "plan-fails", "plan-hangs"],
)
async def test_machine_always_gets_an_answer(plan: WorkOrderPlan, logged: str | None) -> None:
    """No plan, a failing plan or a slow one: the machine still gets its QueryId back."""
    async with machine() as server:
        adapter = Sessions(
            "oven1", host="127.0.0.1", port=server.port, policy=QUIET, work_orders=plan, plan_timeout=0.2
        )
        with capture_logs() as logs:
            async with running(adapter):
                await asyncio.wait_for(server.wait_for_clients(1), WAIT)
                [session] = server.sessions
                await session.send(m.QueryWorkOrderInfo("REFLOW-1", query_id="Q-9"))
                _, answer = await next_from_client(server)
                # Board tracking still flows while (and after) the plan is consulted.
                await server.publish(arrived(str(uuid.uuid4())))
                assert isinstance(await adapter.next_observation(), BoardArrived)
    assert answer == m.SendWorkOrderInfo(query_id="Q-9")
    assert adapter.stats.answered_empty == 1
    if logged is not None:
        assert next(e for e in logs if e["event"] == logged)["query_id"] == "Q-9"


async def test_query_is_not_answered_when_the_machine_takes_no_work_order_info() -> None:
    """hermes.md §2.5: no SendWorkOrderInfo unless the machine announced FeatureSendWorkOrderInfo."""
    features = m.SupervisoryFeatures(
        feature_board_tracking=m.FeatureBoardTracking(),
        feature_query_work_order_info=m.FeatureQueryWorkOrderInfo(),
    )
    async with machine(m.SupervisoryServiceDescription("REFLOW-1", "1.6", features)) as server:
        adapter = Sessions("oven1", host="127.0.0.1", port=server.port, policy=QUIET, work_orders=_nothing)
        with capture_logs() as logs:
            async with running(adapter):
                await asyncio.wait_for(server.wait_for_clients(1), WAIT)
                [session] = server.sessions
                await session.send(m.QueryWorkOrderInfo("REFLOW-1", query_id="Q-3"))
                # The board sent after the query is observed, so the query was handled by then.
                await server.publish(arrived(str(uuid.uuid4())))
                # The board came after the query; its answer task, scheduled first, has run.
                await adapter.next_observation()
    assert adapter.stats.unanswerable == 1 and adapter.stats.answered_empty == 0
    assert [e["query_id"] for e in logs if e["event"] == "workorder.unanswerable"] == ["Q-3"]


# --- liveness and reconnects ----------------------------------------------------------------


async def test_quiet_machine_is_pinged_and_stays_connected() -> None:
    """CheckAlive Pings keep a quiet session alive: the machine answers each with a Pong."""
    policy = ReconnectPolicy(base=0.02, cap=0.1, healthy_after=60.0, liveness_timeout=0.6)
    async with machine() as server:
        adapter = Sessions("oven1", host="127.0.0.1", port=server.port, policy=policy)
        async with running(adapter):
            loop = asyncio.get_running_loop()
            started, pings = loop.time(), 0
            while loop.time() - started < 2 * policy.liveness_timeout:
                _, message = await asyncio.wait_for(server.receive(), WAIT)
                assert isinstance(message, m.CheckAlive) and message.type is m.CheckAliveType.PING
                pings += 1
            assert pings >= 3
            assert adapter.sessions.empty() and adapter.health.failures == 0


async def test_silent_machine_is_detected_and_reconnected() -> None:
    """A machine that announces no CheckAlive answer and says nothing: the watchdog ends it."""
    mute = m.SupervisoryServiceDescription("REFLOW-1", "1.6", m.SupervisoryFeatures())
    policy = ReconnectPolicy(base=0.02, cap=0.05, healthy_after=60.0, liveness_timeout=0.4)
    async with machine(mute) as server:
        adapter = Sessions("oven1", host="127.0.0.1", port=server.port, policy=policy)
        with capture_logs() as logs:
            async with running(adapter):
                assert await adapter.next_session() == 2
    failed = next(e for e in logs if e["event"] == "connect.failed")
    assert "no answer from the machine for 0.4 s" in failed["error"]
    handshake = next(e for e in logs if e["event"] == "hermes.handshake.complete")
    assert (handshake["system_id"], handshake["features"]) == ("REFLOW-1", [])


async def test_reconnects_after_the_machine_restarts() -> None:
    """The machine stops (MachineShutdown, close) and comes back on the same port."""
    first = VerticalServer(OVEN, host="127.0.0.1", port=0, check_alive_period=None)
    await first.__aenter__()
    adapter = Sessions("oven1", host="127.0.0.1", port=first.port, policy=QUIET)
    async with running(adapter):
        await asyncio.wait_for(first.wait_for_clients(1), WAIT)
        await first.__aexit__(None, None, None)
        async with machine(port=first.port) as again:
            assert await adapter.next_session() == 2
            await asyncio.wait_for(again.wait_for_clients(1), WAIT)
            board = str(uuid.uuid4())
            await again.publish(arrived(board))
            came = await adapter.next_observation()
    assert isinstance(came, BoardArrived) and came.board_id == board
    assert adapter.health.failures >= 1


async def test_handshake_that_never_completes_times_out() -> None:
    """A peer that accepts TCP and never answers our SupervisoryServiceDescription."""
    held: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await held.put(writer)

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    policy = ReconnectPolicy(base=0.02, cap=0.05, healthy_after=60.0, liveness_timeout=5.0)
    adapter = Sessions("oven1", host="127.0.0.1", port=port, policy=policy, connect_timeout=0.2)
    task = asyncio.create_task(adapter.run(adapter.seen.put))
    writers = []
    try:
        with capture_logs() as logs:
            writers.append(await asyncio.wait_for(held.get(), WAIT))
            # It connects again after the first handshake timed out.
            writers.append(await asyncio.wait_for(held.get(), WAIT))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        server.close()
        for writer in writers:
            writer.close()
    failed = next(e for e in logs if e["event"] == "connect.failed")
    assert failed["error"] == f"vertical handshake with 127.0.0.1:{port} timed out"
    assert adapter.health.connects == 0


async def test_garbage_from_the_machine_is_a_broken_link() -> None:
    """A message that breaks the standard ends the session as a link failure; we reconnect."""
    connections: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await connections.put((reader, writer))

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    adapter = Sessions("oven1", host="127.0.0.1", port=port, policy=QUIET)
    task = asyncio.create_task(adapter.run(adapter.seen.put))
    writers = []
    try:
        with capture_logs() as logs:
            reader, writer = await asyncio.wait_for(connections.get(), WAIT)
            writers.append(writer)
            assert b"SupervisoryServiceDescription" in await asyncio.wait_for(
                reader.readuntil(b"</Hermes>"), WAIT
            )
            writer.write(encode(OVEN))
            assert await adapter.next_session() == 1
            writer.write(
                b'<Hermes Timestamp="2026-05-04T07:01:12.117"><BoardArrived MachineId="X"/></Hermes>'
            )
            # We answer with the standard's Notification (ProtocolError) and close ...
            notice = await asyncio.wait_for(reader.readuntil(b"</Hermes>"), WAIT)
            assert b"<Notification" in notice and b'NotificationCode="1"' in notice
            # ... and connect again.
            _, writer2 = await asyncio.wait_for(connections.get(), WAIT)
            writers.append(writer2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        server.close()
        for w in writers:
            w.close()
    failed = next(e for e in logs if e["event"] == "connect.failed")
    assert failed["error"].startswith("the machine broke the vertical protocol")


# --- commands -------------------------------------------------------------------------------


async def test_recipe_commands_are_refused() -> None:
    adapter = HermesSupervisoryAdapter("oven1", host="127.0.0.1", port=1)
    with pytest.raises(CommandError) as refused:
        await adapter.activate_recipe("PROD-A")
    assert refused.value.refused
    assert await adapter.active_recipe() is None
    assert await adapter.available_recipes() == []


# --- cancellation ---------------------------------------------------------------------------


async def test_cancelled_session_says_goodbye_and_closes() -> None:
    async with machine() as server:
        adapter = Sessions("oven1", host="127.0.0.1", port=server.port, policy=QUIET)
        async with running(adapter):
            await asyncio.wait_for(server.wait_for_clients(1), WAIT)
        # The close ran to its end under cancellation: the machine got the closing Notification.
        _, message = await next_from_client(server)
    assert isinstance(message, m.Notification)  # (VerticalClient's closing Notification, code 5)


async def test_cancel_during_a_stalled_handshake_releases_the_socket() -> None:
    accepted: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accepted.put((reader, writer))

    server = await asyncio.start_server(stall, "127.0.0.1", 0)
    adapter = Sessions("oven1", host="127.0.0.1", port=server.sockets[0].getsockname()[1], policy=QUIET)
    task = asyncio.create_task(adapter.run(adapter.seen.put))
    try:
        reader, writer = await asyncio.wait_for(accepted.get(), WAIT)
        assert b"SupervisoryServiceDescription" in await asyncio.wait_for(
            reader.readuntil(b"</Hermes>"), WAIT
        )
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.wait_for(reader.read(), WAIT)  # returns at EOF: our side closed the socket
        assert reader.at_eof()
        writer.close()
    finally:
        task.cancel()
        server.close()
    assert adapter.health.connects == 0
