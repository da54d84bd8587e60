"""Interlocks enforced where machines ask: CFX ValidateUnitsRequest, the Hermes vertical channel
and the Hermes bridge; each refusal published as CFX FaultOccurred naming the rule."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from adapters.hermes_supervisory import WorkOrder, WorkOrderQuery
from gateway.outbox import Outbox, OutboxItem
from gateway.sinks.base import drain
from gateway.trace import Store
from gateway.trace.control import ControlConfig
from gateway.trace.service import TraceService
from protocols.cfx import Envelope, encode_envelope
from protocols.cfx.messages import ValidateUnitsRequest, ValidateUnitsResponse
from protocols.cfx.messages.enums import StatusResult, ValidationStatus
from protocols.cfx.messages.structures import UnitPosition
from protocols.cfx.requests import new_request
from protocols.cfx.transport import CFXListener
from protocols.cfx.transport.requester import request
from protocols.hermes import messages as m
from tests.adapters.test_hermes_supervisory import QUIET, Sessions, machine, next_from_client, running
from tests.gateway.http_support import MemorySink
from tests.gateway.trace.conftest import visit
from tests.gateway.trace.test_holds import HANDLES, PLACER, RULES, SPI, inspected, line_with

CONTROL = "Linegate.Control.test"


@contextlib.asynccontextmanager
async def enforcing(store: Store, tmp_path: Path) -> AsyncIterator[tuple[TraceService, MemorySink]]:
    """The service over ``store``, fed by a real outbox, with a memory sink watching the events."""
    control = TraceService(store, ControlConfig(handle=CONTROL, rules=RULES), HANDLES)
    memory = MemorySink()
    async with Outbox(tmp_path / "outbox.sqlite", sinks=[control.name, memory.name]) as outbox:
        control.outbox = outbox
        tasks = [asyncio.create_task(drain(outbox, sink)) for sink in (control, memory)]
        try:
            yield control, memory
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def validate(barcode: str, source: str) -> Envelope:
    body = ValidateUnitsRequest(
        primary_identifier=barcode, units=[UnitPosition(unit_identifier=barcode, position_number=1)]
    )
    return new_request(body, source=source, target=CONTROL)


async def test_validate_units_is_answered_failed_naming_the_rule(store: Store, tmp_path: Path) -> None:
    await line_with(store, ("SN-1", "Passed"), ("SN-2", "Failed"))
    async with enforcing(store, tmp_path) as (control, memory), CFXListener("127.0.0.1", 0) as listener:
        listener.add_handle(CONTROL, control.validate_units)
        refused = (await request(listener.uri, validate("SN-2", PLACER), timeout=10)).body
        assert isinstance(refused, ValidateUnitsResponse)
        assert refused.result is not None and refused.result.result is StatusResult.FAILED
        assert refused.primary_result is not None
        assert refused.primary_result.result is ValidationStatus.FAILED
        assert refused.primary_result.message is not None
        assert refused.primary_result.message.startswith("interlock spi-before-placement: ")
        assert refused.primary_result.failure_code == 2
        [unit] = refused.validation_results or []
        assert (unit.unique_identifier, unit.result) == ("SN-2", ValidationStatus.FAILED)
        [fault] = await memory.wait_for("CFX.ResourcePerformance.FaultOccurred")
        wire = orjson.loads(fault.payload)
        assert wire["Source"] == PLACER
        body = wire["MessageBody"]["Fault"]
        assert body["FaultCode"] == "INTERLOCK.spi-before-placement" and body["Cause"] == "QualityCheck"
        assert "board SN-2 refused by interlock spi-before-placement" in body["Description"]

        passed = (await request(listener.uri, validate("SN-1", PLACER), timeout=10)).body
        assert isinstance(passed, ValidateUnitsResponse) and passed.result is not None
        assert passed.result.result is StatusResult.SUCCESS
        assert passed.primary_result is not None and passed.primary_result.result is ValidationStatus.PASSED
        [cleared] = await memory.wait_for("CFX.ResourcePerformance.FaultCleared")
        assert orjson.loads(cleared.payload)["MessageBody"]["FaultOccurrenceId"] == body["FaultOccurrenceId"]

        stranger = (await request(listener.uri, validate("SN-1", "Other.Machine.9"), timeout=10)).body
        assert isinstance(stranger, ValidateUnitsResponse) and stranger.primary_result is not None
        assert stranger.primary_result.failure_code == 5
        assert control.status()["refused"] == 1  # the stranger is no decision of the line


async def test_the_same_board_asked_about_again_is_one_refusal(store: Store, tmp_path: Path) -> None:
    """A bridge asks about the board at its exit every retry_delay: a repeated refusal (same
    board, machine and rule, its fault still open) raises no second fault or entry; another
    board's refusal does, and clears the first one's fault."""
    await line_with(store, ("SN-2", "Failed"), ("SN-3", "Failed"))
    async with enforcing(store, tmp_path) as (control, memory):
        assert control.outbox is not None
        for _ in range(3):
            assert (
                await control.decide("placer", ["SN-2", "H-SN-2"], via="test")
            ).rule == "spi-before-placement"
        assert (control.decisions, control.refused) == (3, 1)
        assert [r["board"] for r in control.status()["refusals"]] == ["SN-2"]
        assert not (await control.decide("placer", ["SN-3"], via="test")).allowed
        assert control.refused == 2
        assert [r["board"] for r in control.status()["refusals"]] == ["SN-3", "SN-2"]
        [open_fault] = control.active_faults("placer")  # what /api/line lists on the placer
        assert open_fault.description is not None and open_fault.description.startswith("board SN-3 ")
        await control.outbox.wait_delivered(memory.name)
        names = [e.message_name.rsplit(".", 1)[1] for e in memory.events]
        assert names == ["FaultOccurred", "FaultCleared", "FaultOccurred"]


async def test_a_result_committed_a_moment_ago_counts(store: Store, tmp_path: Path) -> None:
    """The decision waits for the events already in the outbox to reach the store."""
    await line_with(store, ("SN-3", "Passed"))
    async with enforcing(store, tmp_path) as (control, _memory):
        assert control.outbox is not None
        late = inspected(SPI, "SN-3", "Failed", 50)
        item = OutboxItem(SPI, late.message_name, str(late.unique_id), encode_envelope(late))
        await control.outbox.put(item)
        decision = await control.decide("placer", ["SN-3"], via="test")
        assert decision.rule == "spi-before-placement"


async def test_a_step_whose_events_are_still_on_their_way_is_waited_for(store: Store, tmp_path: Path) -> None:
    """A board whose SPI events reach the gateway after the placement asked is not refused."""
    async with enforcing(store, tmp_path) as (control, _memory):
        assert control.outbox is not None
        deciding = asyncio.create_task(control.decide("placer", ["SN-4"], via="test"))
        for late in [*visit(SPI, "SN-4", "H-SN-4", 0), inspected(SPI, "SN-4", "Passed", 2)]:
            await control.outbox.put(
                OutboxItem(SPI, late.message_name, str(late.unique_id), encode_envelope(late))
            )
        assert (await deciding).allowed
        assert control.refused == 0


async def test_vertical_channel_answers_a_refused_board_with_failed_board(
    store: Store, tmp_path: Path
) -> None:
    await line_with(store, ("SN-1", "Passed"), ("SN-2", "Failed"))
    asked: list[WorkOrderQuery] = []

    async def gate(query: WorkOrderQuery) -> WorkOrder | None:
        asked.append(query)
        return WorkOrder(work_order_id="WO-1")

    async with enforcing(store, tmp_path) as (control, memory), machine() as server:
        adapter = Sessions("placer", host="127.0.0.1", port=server.port, policy=QUIET, work_orders=gate)
        assert control.attach({"placer": [adapter]}, {}) == ["placer:vertical"]
        async with running(adapter):
            await asyncio.wait_for(server.wait_for_clients(1), 10)
            [session] = server.sessions
            await session.send(m.QueryWorkOrderInfo("PLACER-1", query_id="Q-1", barcode="SN-2"))
            _, refused = await next_from_client(server)
            await session.send(m.QueryWorkOrderInfo("PLACER-1", query_id="Q-2", barcode="SN-1"))
            _, passed = await next_from_client(server)
        await memory.wait_for("CFX.ResourcePerformance.FaultOccurred")
    assert isinstance(refused, m.SendWorkOrderInfo) and refused.query_id == "Q-1"
    assert refused.failed_board is m.BoardQuality.FAILED and refused.top_barcode == "SN-2"
    # A board that passes gets the answer of the plan behind the interlock (the changeover gate).
    assert isinstance(passed, m.SendWorkOrderInfo) and passed.work_order_id == "WO-1"
    assert passed.failed_board is None and [q.barcode for q in asked] == ["SN-1"]


@pytest.mark.parametrize("release", [False, True])
async def test_bridge_check_refuses_until_the_hold_is_released(
    store: Store, tmp_path: Path, release: bool
) -> None:
    await line_with(store, ("SN-1", "Passed"))
    async with enforcing(store, tmp_path) as (control, _memory):
        check = control.bridge_check("placer")
        board = m.BoardAvailable(
            "SN-1-id", "SPI-1", m.BoardQuality.GOOD, m.FlippedBoard.TOP_SIDE_IS_UP, top_barcode="SN-1"
        )
        assert await check(board) is None
        await control.hold("board", "SN-1", "x-ray", "OP-1")
        reason = await check(board)
        assert reason is not None and reason.startswith("interlock hold: board SN-1 is on hold")
        if release:
            await control.release("board", "SN-1", "OP-1")
            assert await check(board) is None
