"""The shift figures and alarm list: counts, cycle time, yield, E10 availability, OEE, and
acknowledging an alarm through the API and the CLI (published as CFX FaultAcknowledged)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import aiohttp
import orjson
import pytest

from adapters import observations as obs
from gateway.http.shift import ShiftTracker
from gateway.outbox import Priority, StoredEvent
from protocols.cfx import Envelope, encode_envelope
from protocols.cfx.enums import ResourceState, WorkResult
from protocols.cfx.enums import TestResult as Verdict
from protocols.cfx.messages import (
    CFXMessage,
    Fault,
    FaultAcknowledged,
    FaultCleared,
    FaultOccurred,
    InspectedUnit,
    Operator,
    StationStateChanged,
    UnitsInspected,
    WorkCompleted,
    WorkOrderIdentifier,
    WorkStarted,
)
from tests.gateway.http_support import TOKEN, RunningLine, drive_board, run_cli

T0 = 1_800_000_000.0  # the gateway's clock at the shift's start (seconds since the epoch)


class Feed:
    """Stored envelopes as the SSE sink hands them to the tracker, accepted at chosen times."""

    def __init__(self, tracker: ShiftTracker) -> None:
        self.tracker = tracker
        self.seq = 0

    def __call__(self, source: str, body: CFXMessage, at: float) -> None:
        # The machine's own stamp is years off: the figures must use the gateway's time.
        envelope = Envelope.create(body, source=source, time_stamp=datetime(2001, 1, 1, tzinfo=UTC))
        self.seq += 1
        self.tracker.feed(
            StoredEvent(
                self.seq,
                source,
                envelope.message_name,
                str(envelope.unique_id),
                encode_envelope(envelope),
                Priority.HIGH,
                T0 + at,
            )
        )


def state(new: ResourceState) -> StationStateChanged:
    return StationStateChanged(old_state=ResourceState.NST, new_state=new)


def test_figures_of_a_machine_over_a_shift() -> None:
    tracker = ShiftTracker(T0)
    feed = Feed(tracker)
    aoi = "Acme.aoi.1"
    feed(aoi, state(ResourceState.PRD_REGULAR_WORK), 0)
    for i, (start, end) in enumerate([(0, 10), (10, 22), (22, 32)]):
        tx = uuid.uuid4()
        order = WorkOrderIdentifier(work_order_id="WO-1", batch=None)
        feed(aoi, WorkStarted(transaction_id=tx, work_order_identifier=order), start)
        result = WorkResult.FAILED if i == 1 else WorkResult.COMPLETED
        feed(aoi, WorkCompleted(transaction_id=tx, result=result), end)
    units = [InspectedUnit(unit_identifier=f"U{i}", overall_result=Verdict.PASSED) for i in range(9)]
    units.append(InspectedUnit(unit_identifier="U9", overall_result=Verdict.FAILED))
    feed(aoi, UnitsInspected(inspected_units=units), 32)
    feed(aoi, state(ResourceState.USD_REPAIR), 60)  # 60 s productive
    feed(aoi, state(ResourceState.SBY_NO_PRODUCT_STARVED), 90)  # 30 s down
    feed(aoi, state(ResourceState.NST_UNWORKED_SHIFTS), 100)  # 10 s standby; non-scheduled after

    view = tracker.machine_view(aoi, T0 + 200)
    assert view["boards_completed"] == 3 and view["boards_failed"] == 1
    assert (view["units_passed"], view["units_failed"], view["first_pass_yield"]) == (9, 1, 0.9)
    assert view["cycle_seconds"] == {"last": 10.0, "mean": round(32 / 3, 3), "best": 10.0}
    assert view["seconds_by_class"] == {
        "productive": 60.0,
        "standby": 10.0,
        "unscheduled_downtime": 30.0,
        "nonscheduled": 100.0,
    }
    assert view["availability"] == 0.7  # (60 + 10) / (60 + 10 + 30): non-scheduled time is no loss
    assert view["oee"] == round(0.7 * (10 / (32 / 3)) * 0.9, 4)
    assert view["work_order"] == "WO-1"

    line = tracker.line_view(["Acme.printer.1", aoi], T0 + 200)
    assert line["boards_out"] == 3 and line["rolled_throughput_yield"] == 0.9


def test_a_reinspected_unit_counts_once_with_its_latest_verdict() -> None:
    """An AOI writes a board's result again after the repair station's review: the reviewed
    verdict replaces the first in the same transaction; another transaction is another unit."""
    tracker = ShiftTracker(T0)
    feed = Feed(tracker)
    aoi = "Acme.aoi.1"

    def inspected(tx: uuid.UUID, unit: str, verdict: Verdict, position: int | None = None) -> UnitsInspected:
        found = InspectedUnit(unit_identifier=unit, unit_position_number=position, overall_result=verdict)
        return UnitsInspected(transaction_id=tx, inspected_units=[found])

    first, second = uuid.uuid4(), uuid.uuid4()
    feed(aoi, inspected(first, "PCB1", Verdict.FAILED), 1)  # flagged, not yet reviewed
    feed(aoi, inspected(first, "PCB2", Verdict.FAILED, 1), 2)
    feed(aoi, inspected(first, "PCB2", Verdict.PASSED, 2), 2)  # another position of the panel
    view = tracker.machine_view(aoi, T0 + 3)
    assert (view["units_passed"], view["units_failed"]) == (1, 2)
    feed(aoi, inspected(first, "PCB1", Verdict.PASSED), 3)  # a false call, cleared at repair
    feed(aoi, inspected(first, "PCB2", Verdict.FAILED, 1), 3)  # a real defect, confirmed
    view = tracker.machine_view(aoi, T0 + 4)
    assert (view["units_passed"], view["units_failed"], view["first_pass_yield"]) == (2, 1, round(2 / 3, 4))
    feed(aoi, inspected(second, "PCB1", Verdict.FAILED), 4)  # inspected again in new work
    view = tracker.machine_view(aoi, T0 + 5)
    assert (view["units_passed"], view["units_failed"]) == (2, 2)
    # Without a transaction (the nil id) nothing can be matched: each result counts.
    feed(aoi, UnitsInspected(inspected_units=[InspectedUnit(unit_identifier="PCB9")]), 5)
    feed(aoi, UnitsInspected(inspected_units=[InspectedUnit(unit_identifier="PCB9")]), 6)
    assert tracker.machine_view(aoi, T0 + 7)["units_passed"] == 4


def test_a_machine_that_reported_nothing_has_no_figures() -> None:
    view = ShiftTracker(T0).machine_view("Acme.quiet.1", T0 + 50)
    assert view["boards_completed"] == 0
    assert view["availability"] is None and view["oee"] is None and view["first_pass_yield"] is None


def test_alarm_history_with_acknowledgement_and_a_new_shift() -> None:
    tracker = ShiftTracker(T0)
    feed = Feed(tracker)
    oven = "Acme.oven.1"
    first, second = uuid.uuid4(), uuid.uuid4()
    feed(oven, FaultOccurred(fault=Fault(fault_code="OV-1", fault_occurrence_id=first, description="hot")), 5)
    feed(oven, FaultOccurred(fault=Fault(fault_code="OV-2", fault_occurrence_id=second)), 6)
    feed(
        oven, FaultOccurred(fault=Fault(fault_code="OV-1", fault_occurrence_id=first)), 7
    )  # again: one alarm
    feed(oven, FaultAcknowledged(fault_occurrence_id=first, operator=Operator(login_name="kim")), 8)
    feed(oven, FaultCleared(fault_occurrence_id=first), 9)
    feed(oven, FaultCleared(fault_occurrence_id=uuid.uuid4()), 9)  # never seen raised: ignored
    alarms = tracker.alarm_list()
    assert [a["code"] for a in alarms] == ["OV-2", "OV-1"]  # newest first
    assert alarms[1]["acknowledged_by"] == "kim" and alarms[1]["cleared_at"] is not None
    assert alarms[1]["description"] == "hot" and not alarms[1]["active"]
    assert alarms[0]["active"] and not alarms[0]["acknowledged"]
    assert tracker.line_view([oven], T0 + 10)["unacknowledged_alarms"] == 1

    feed(oven, state(ResourceState.PRD_REGULAR_WORK), 10)
    tracker.restart(T0 + 20)
    assert [a["code"] for a in tracker.alarm_list()] == ["OV-2"]  # the active one stays
    view = tracker.machine_view(oven, T0 + 30)
    assert view["seconds_by_class"] == {"productive": 10.0}  # timed from the new shift's start


pytestmark = pytest.mark.usefixtures("keep_logging_config")


async def test_acknowledging_an_alarm_publishes_who_did_it(
    line: RunningLine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    oven = line.runtime("oven1")
    subscription = line.sse.subscribe(["Acme.oven1.1"])
    try:
        await oven.record(
            obs.FaultRaised(
                machine_id="oven1", at=datetime.now(UTC), code="OV-O2-HIGH", description="O2 high"
            )
        )
        while b"FaultOccurred" not in (await subscription.get(10) or b""):
            pass
    finally:
        line.sse.unsubscribe(subscription)
    occurrence = str(oven.normalizer.faults["OV-O2-HIGH"].fault.fault_occurrence_id)

    status, out, err = await run_cli(capsys, "alarms", "list", "--url", line.url)
    assert status == 0, err
    row = next(r for r in out.splitlines() if "OV-O2-HIGH" in r)
    assert row.split()[0] == "Acme.oven1.1" and occurrence in row and " no " in row

    monkeypatch.setenv("LINEGATE_HTTP_TOKEN", TOKEN)
    status, out, err = await run_cli(
        capsys, "alarms", "ack", "oven1", occurrence, "--operator", "kim", "--url", line.url
    )
    assert status == 0, err
    assert out.startswith("oven1 OV-O2-HIGH: acknowledged by kim at ")
    [acked] = await line.memory.wait_for("CFX.ResourcePerformance.FaultAcknowledged")
    body = orjson.loads(acked.payload)["MessageBody"]
    assert body["FaultOccurrenceId"] == occurrence and body["Operator"]["LoginName"] == "kim"

    # Acknowledged once: a second acknowledgement changes nothing and publishes nothing.
    status, out, _ = await run_cli(
        capsys, "alarms", "ack", "oven1", occurrence, "--operator", "lee", "--url", line.url
    )
    assert status == 0 and "acknowledged by kim" in out
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{line.url}/api/line") as response:
            view = await response.json()
        async with session.post(
            f"{line.url}/api/machines/oven1/faults/{uuid.uuid4()}/acknowledge",
            json={"operator": "kim"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as response:
            assert response.status == 404
            assert "no active fault" in (await response.json())["error"]["message"]
    oven_view = next(m for m in view["machines"] if m["id"] == "oven1")
    assert oven_view["faults"][0]["acknowledged_by"] == "kim"
    assert view["shift"]["unacknowledged_alarms"] == 0 and view["shift"]["active_alarms"] == 1
    assert len([e for e in line.memory.events if e.message_name.endswith("FaultAcknowledged")]) == 1

    status, out, err = await run_cli(capsys, "alarms", "list", "--active", "--url", line.url)
    assert status == 0 and "kim" in out


async def test_the_line_view_names_product_and_changeover(
    line: RunningLine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
        async with session.post(f"{line.url}/api/changeover", json={"product": "PCB-A"}) as response:
            assert response.status == 200
        async with session.get(f"{line.url}/api/line") as response:
            view = await response.json()
    assert {m["id"]: m["product"] for m in view["machines"]} == {
        "printer1": "PCB-A",
        "oven1": "PCB-A",
        "aoi1": "PCB-A",
    }
    assert view["changeover"] is None  # finished
    assert line.gateway.recipes.changeover_progress is None


async def test_an_oven_keeps_each_recent_board_s_profile(line: RunningLine) -> None:
    await drive_board(line, "B-1", step=0)
    await drive_board(line, "B-2", step=3)
    await line.memory.wait_for("CFX.Production.Processing.UnitsProcessed", 2)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{line.url}/api/machines/oven1/reflow") as response:
            listing = await response.json()
        async with session.get(
            f"{line.url}/api/machines/oven1/reflow", params={"board": "SN-B-1"}
        ) as response:
            one = await response.json()
        async with session.get(
            f"{line.url}/api/machines/oven1/reflow", params={"board": "SN-B-9"}
        ) as response:
            assert response.status == 404
            assert "no reflow profile of board 'SN-B-9'" in (await response.json())["error"]["message"]
    assert [p["board"] for p in listing["profiles"]] == ["SN-B-2", "SN-B-1"]  # newest first
    first = one["profiles"][0]
    assert first["board"] == "SN-B-1" and len(first["zones"]) == 8
    assert first["zones"][0]["actual_top"] != listing["profiles"][0]["zones"][0]["actual_top"]  # its own
