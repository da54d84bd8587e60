"""The supervisory adapter as a board gate: queries name the board the machine reported, and a
plan that withholds its answer leaves the machine without one (it keeps the board)."""

from __future__ import annotations

import asyncio
import uuid

from structlog.testing import capture_logs

from adapters.hermes_supervisory import WorkOrder, WorkOrderQuery, WorkOrderWithheld
from adapters.observations import BoardArrived
from protocols.hermes import messages as m
from tests.adapters.test_hermes_supervisory import (
    QUIET,
    WAIT,
    Sessions,
    arrived,
    machine,
    next_from_client,
    running,
)


async def test_a_query_names_the_board_and_product_the_machine_reported() -> None:
    asked: list[WorkOrderQuery] = []
    board = str(uuid.uuid4())

    async def plan(query: WorkOrderQuery) -> WorkOrder | None:
        asked.append(query)
        return WorkOrder(product=query.product)

    async with machine() as server:
        adapter = Sessions("oven1", host="127.0.0.1", port=server.port, policy=QUIET, work_orders=plan)
        async with running(adapter):
            await asyncio.wait_for(server.wait_for_clients(1), WAIT)
            [session] = server.sessions
            await server.publish(arrived(board, product_type_id="BOARD-B", top_barcode="PCB-0002"))
            assert isinstance(await adapter.next_observation(), BoardArrived)
            await session.send(m.QueryWorkOrderInfo("REFLOW-1", query_id="Q-1", barcode="PCB-0002"))
            _, answer = await next_from_client(server)
            # A barcode the machine never reported: nothing is known about its board.
            await session.send(m.QueryWorkOrderInfo("REFLOW-1", query_id="Q-2", barcode="PCB-0009"))
            _, unknown = await next_from_client(server)
    assert [(q.board_id, q.product) for q in asked] == [(board, "BOARD-B"), (None, None)]
    assert answer == m.SendWorkOrderInfo(query_id="Q-1", product_type_id="BOARD-B")
    assert unknown == m.SendWorkOrderInfo(query_id="Q-2")


async def test_a_withheld_answer_is_never_sent() -> None:
    """The plan holds the board: no SendWorkOrderInfo (not even an empty one) goes out."""
    tries = 0

    async def plan(query: WorkOrderQuery) -> WorkOrder | None:
        nonlocal tries
        tries += 1
        if tries == 1:
            raise WorkOrderWithheld("recipe refused")
        return WorkOrder(work_order_id="WO-2")

    async with machine() as server:
        adapter = Sessions(
            "oven1", host="127.0.0.1", port=server.port, policy=QUIET, work_orders=plan, plan_timeout=None
        )
        with capture_logs() as logs:
            async with running(adapter):
                await asyncio.wait_for(server.wait_for_clients(1), WAIT)
                [session] = server.sessions
                await session.send(m.QueryWorkOrderInfo("REFLOW-1", query_id="Q-1", barcode="PCB-1"))
                # The machine asks again; only this second query is answered.
                await session.send(m.QueryWorkOrderInfo("REFLOW-1", query_id="Q-2", barcode="PCB-1"))
                _, answer = await next_from_client(server)
    assert answer == m.SendWorkOrderInfo(query_id="Q-2", work_order_id="WO-2")
    assert (adapter.stats.withheld, adapter.stats.answered, adapter.stats.answered_empty) == (1, 1, 0)
    withheld = next(e for e in logs if e["event"] == "workorder.withheld")
    assert (withheld["query_id"], withheld["reason"]) == ("Q-1", "recipe refused")
