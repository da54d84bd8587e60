"""Observations become CFX envelopes that link state, faults and work transactions as the reference says."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from adapters import observations as obs
from gateway.normalize import COMMUNICATION_LOST, MachineNormalizer, resource_state
from protocols.cfx import (
    FaultCleared,
    FaultOccurred,
    RecipeActivated,
    ReflowProcessData,
    StationStateChanged,
    UnitsArrived,
    UnitsDeparted,
    UnitsProcessed,
    WorkCompleted,
    WorkStarted,
    decode_envelope,
    encode_envelope,
)
from protocols.cfx.enums import FaultSeverity, ResourceState
from protocols.cfx.validate import validate_bytes

T0 = datetime(2026, 5, 4, 7, 0, 0, tzinfo=UTC)
HANDLE = "Acme.Reflow.1"
BOARD = "6f1c2b8e-1d2a-4c3b-9e8f-0a1b2c3d4e5f"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def bodies(norm: MachineNormalizer, *observations: obs.Observation) -> list[object]:
    out = []
    for o in observations:
        for env in norm.feed(o):
            data = encode_envelope(env)
            assert validate_bytes(data) == [], data  # every envelope is valid SDK output
            assert env.source == HANDLE and env.time_stamp == o.at
            out.append(decode_envelope(data).body)
    return out


def test_state_changes_carry_old_state_and_duration() -> None:
    norm = MachineNormalizer(HANDLE)
    first, second = bodies(
        norm,
        obs.StateChanged(machine_id="oven1", at=at(0), state=2202),
        obs.StateChanged(machine_id="oven1", at=at(0.5), state=2202),  # no change: nothing
        obs.StateChanged(machine_id="oven1", at=at(90.25), state=1100),
    )
    assert isinstance(first, StationStateChanged) and isinstance(second, StationStateChanged)
    assert first.old_state is ResourceState.NST and first.old_state_duration is None
    assert first.new_state is ResourceState.SBY_NO_PRODUCT_STARVED
    assert second.old_state is ResourceState.SBY_NO_PRODUCT_STARVED
    assert second.old_state_duration == timedelta(seconds=90.25)
    assert second.new_state is ResourceState.PRD_REGULAR_WORK


def test_vendor_state_codes_fall_back_to_their_class() -> None:
    assert resource_state(3312) is ResourceState.ENG
    assert resource_state(5310) is ResourceState.USD_REPAIR
    with pytest.raises(ValueError, match="not a SEMI E10 state code"):
        resource_state(9000)


def test_fault_keeps_its_occurrence_id_until_cleared() -> None:
    norm = MachineNormalizer(HANDLE)
    raised = obs.FaultRaised(
        machine_id="oven1",
        at=at(1),
        code="E-231",
        description="Zone 3 over temperature",
        severity=obs.Severity.ALARM,
        cause="ProcessError",
    )
    out = bodies(norm, raised, raised, obs.FaultCleared(machine_id="oven1", at=at(5), code="E-231"))
    assert len(out) == 2  # the repeat (as after a reconnect) is the same occurrence
    occurred, cleared = out
    assert isinstance(occurred, FaultOccurred) and isinstance(cleared, FaultCleared)
    assert occurred.fault is not None and occurred.fault.fault_code == "E-231"
    assert occurred.fault.severity is FaultSeverity.ALARM
    assert cleared.fault_occurrence_id == occurred.fault.fault_occurrence_id
    # A new occurrence of the same code gets a new id.
    (again,) = bodies(norm, raised)
    assert isinstance(again, FaultOccurred) and again.fault is not None
    assert again.fault.fault_occurrence_id != occurred.fault.fault_occurrence_id


def test_clearing_an_unknown_fault_emits_nothing() -> None:
    assert bodies(MachineNormalizer(HANDLE), obs.FaultCleared(machine_id="oven1", at=at(0), code="E-9")) == []


def test_a_board_shares_one_transaction_across_work_and_process_data() -> None:
    norm = MachineNormalizer(HANDLE)
    out = bodies(
        norm,
        obs.BoardArrived(machine_id="oven1", at=at(0), board_id=BOARD, barcode="PCB-0001", lane=1),
        obs.WorkStarted(machine_id="oven1", at=at(1), board_id=BOARD, barcode="PCB-0001", lane=1),
        obs.ReflowProcessData(
            machine_id="oven1",
            at=at(200),
            board_id=BOARD,
            zones=tuple(obs.ZoneReading(z, 200.0 + z, 201.0 + z, 199.5 + z, 200.5 + z) for z in range(1, 9)),
            conveyor_speed=80.0,
            o2_ppm=950.0,
        ),
        obs.WorkFinished(machine_id="oven1", at=at(201), board_id=BOARD, barcode="PCB-0001", lane=1),
        obs.BoardDeparted(machine_id="oven1", at=at(202), board_id=BOARD, barcode="PCB-0001", lane=1),
    )
    arrived, started, processed, completed, departed = out
    assert isinstance(arrived, UnitsArrived) and isinstance(departed, UnitsDeparted)
    assert arrived.hermes_identifier == BOARD and arrived.primary_identifier == "PCB-0001"
    assert arrived.unit_count == 1 and departed.hermes_identifier == BOARD
    assert isinstance(started, WorkStarted) and isinstance(completed, WorkCompleted)
    assert isinstance(processed, UnitsProcessed)
    assert started.transaction_id == processed.transaction_id == completed.transaction_id
    assert started.transaction_id != uuid.UUID(int=0)
    data = processed.common_process_data
    assert isinstance(data, ReflowProcessData)
    assert data.conveyor_speed == 80.0
    assert len(data.zone_data) == 9  # eight zones and the O2 reading
    zone3 = data.zone_data[2]
    assert zone3.zone is not None and zone3.zone.stage_sequence == 3
    assert [r.reading_value for r in zone3.readings] == [202.5, 203.5]


def test_process_data_json_carries_type_names_for_the_sdk() -> None:
    norm = MachineNormalizer(HANDLE)
    norm.feed(obs.WorkStarted(machine_id="oven1", at=at(0), board_id=BOARD))
    (env,) = norm.feed(
        obs.ReflowProcessData(
            machine_id="oven1", at=at(1), board_id=BOARD, zones=(obs.ZoneReading(1, 180.0),)
        )
    )
    body = orjson.loads(encode_envelope(env))["MessageBody"]
    assert body["CommonProcessData"]["$type"] == "CFX.Structures.SolderReflow.ReflowProcessData, CFX"
    assert "TransactionId" in body


def test_two_boards_in_the_machine_keep_their_own_transactions() -> None:
    norm = MachineNormalizer(HANDLE)
    a, b = "a" * 8 + "-0000-4000-8000-" + "0" * 12, "b" * 8 + "-0000-4000-8000-" + "0" * 12
    sa, sb, cb, ca = bodies(
        norm,
        obs.WorkStarted(machine_id="m", at=at(0), board_id=a),
        obs.WorkStarted(machine_id="m", at=at(1), board_id=b),
        obs.WorkFinished(machine_id="m", at=at(2), board_id=b),
        obs.WorkFinished(machine_id="m", at=at(3), board_id=a, result=obs.WorkResult.FAILED),
    )
    assert isinstance(sa, WorkStarted) and isinstance(ca, WorkCompleted)
    assert isinstance(sb, WorkStarted) and isinstance(cb, WorkCompleted)
    assert sa.transaction_id == ca.transaction_id and sb.transaction_id == cb.transaction_id
    assert sa.transaction_id != sb.transaction_id
    assert ca.result.value == "Failed"


def test_recipe_and_faults_appear_in_the_heartbeat() -> None:
    norm = MachineNormalizer(HANDLE)
    (activated,) = bodies(
        norm, obs.RecipeActivated(machine_id="m", at=at(0), recipe="PROFILE-A", revision="2")
    )
    assert isinstance(activated, RecipeActivated) and activated.recipe_name == "PROFILE-A"
    norm.feed(obs.FaultRaised(machine_id="m", at=at(1), code="E-1"))
    hb = norm.heartbeat(timedelta(minutes=1), at(2))
    data = encode_envelope(hb)
    assert validate_bytes(data) == []
    body = orjson.loads(data)["MessageBody"]
    assert body["HeartbeatFrequency"] == "00:01:00"
    assert [f["FaultCode"] for f in body["ActiveFaults"]] == ["E-1"]
    assert body["ActiveRecipes"][0]["RecipeIdentifier"] == {"RecipeName": "PROFILE-A", "Revision": "2"}


def test_work_started_names_the_active_recipe() -> None:
    norm = MachineNormalizer(HANDLE)
    norm.feed(obs.RecipeActivated(machine_id="m", at=at(0), recipe="PROFILE-B", revision="7"))
    (started,) = bodies(norm, obs.WorkStarted(machine_id="m", at=at(1), board_id=BOARD))
    assert isinstance(started, WorkStarted)
    assert (started.recipe_name, started.revision) == ("PROFILE-B", "7")


B1, B2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"


def test_work_synthesized_from_hermes_for_a_machine_that_reports_none() -> None:
    # An oven over Modbus: Hermes says which board came and went; the oven only reports a
    # profile (without an id) as the board leaves, here after Hermes already saw it depart.
    norm = MachineNormalizer(HANDLE, synthesize_work=True)
    out = bodies(
        norm,
        obs.BoardArrived(machine_id="oven", at=at(0), board_id=B1, barcode="SN-1"),
        obs.BoardDeparted(machine_id="oven", at=at(300), board_id=B1, barcode="SN-1"),
        obs.ReflowProcessData(machine_id="oven", at=at(301), zones=(obs.ZoneReading(1, 180.0),)),
    )
    names = [type(b).__name__ for b in out]
    assert names == ["UnitsArrived", "WorkStarted", "WorkCompleted", "UnitsDeparted", "UnitsProcessed"]
    started, completed, processed = out[1], out[2], out[4]
    assert isinstance(started, WorkStarted) and isinstance(completed, WorkCompleted)
    assert isinstance(processed, UnitsProcessed)
    assert started.hermes_identifier == completed.hermes_identifier == B1
    assert started.transaction_id == completed.transaction_id == processed.transaction_id
    assert norm.transactions == {}


def test_anonymous_work_is_matched_to_boards_in_arrival_order() -> None:
    norm = MachineNormalizer(HANDLE)
    out = bodies(
        norm,
        obs.BoardArrived(machine_id="m", at=at(0), board_id=B1),
        obs.BoardArrived(machine_id="m", at=at(1), board_id=B2),
        obs.WorkStarted(machine_id="m", at=at(2)),
        obs.WorkStarted(machine_id="m", at=at(3)),
        obs.WorkFinished(machine_id="m", at=at(4)),
        obs.WorkFinished(machine_id="m", at=at(5)),
    )
    s1, s2, c1, c2 = out[2:]
    assert isinstance(s1, WorkStarted) and isinstance(s2, WorkStarted)
    assert isinstance(c1, WorkCompleted) and isinstance(c2, WorkCompleted)
    assert (s1.hermes_identifier, s2.hermes_identifier) == (B1, B2)
    assert (c1.transaction_id, c2.transaction_id) == (s1.transaction_id, s2.transaction_id)


def test_machine_reported_finish_is_not_repeated_at_departure() -> None:
    # Selective solder over OPC UA: no start signal, but a per-board result with the BoardId.
    norm = MachineNormalizer(HANDLE, synthesize_work=True)
    out = bodies(
        norm,
        obs.BoardArrived(machine_id="s", at=at(0), board_id=B1),
        obs.SelectiveSolderProcessData(machine_id="s", at=at(50), board_id=B1, pot_temperature=260.0),
        obs.WorkFinished(machine_id="s", at=at(50), board_id=B1),
        obs.BoardDeparted(machine_id="s", at=at(60), board_id=B1),
        obs.WorkFinished(machine_id="s", at=at(61), board_id=B1),  # a repeat after a reconnect
    )
    assert [type(b).__name__ for b in out] == [
        "UnitsArrived",
        "WorkStarted",
        "UnitsProcessed",
        "WorkCompleted",
        "UnitsDeparted",
    ]
    assert (
        len({b.transaction_id for b in out if isinstance(b, WorkStarted | WorkCompleted | UnitsProcessed)})
        == 1
    )


def test_anonymous_process_data_goes_to_the_oldest_board_without_data() -> None:
    # The oven's profile of board 1 is polled only after Hermes saw board 1 leave and board 2
    # arrive: it belongs to board 1, not to the board now inside.
    norm = MachineNormalizer(HANDLE, synthesize_work=True)
    out = bodies(
        norm,
        obs.BoardArrived(machine_id="oven", at=at(0), board_id=B1),
        obs.BoardDeparted(machine_id="oven", at=at(50), board_id=B1),
        obs.BoardArrived(machine_id="oven", at=at(51), board_id=B2),
        obs.ReflowProcessData(machine_id="oven", at=at(52), zones=(obs.ZoneReading(1, 180.0),)),
        obs.ReflowProcessData(machine_id="oven", at=at(100), zones=(obs.ZoneReading(1, 180.0),)),
    )
    starts = {b.hermes_identifier: b.transaction_id for b in out if isinstance(b, WorkStarted)}
    processed = [b.transaction_id for b in out if isinstance(b, UnitsProcessed)]
    assert processed == [starts[B1], starts[B2]]


def test_a_lost_link_is_a_fault_and_usd_and_the_machine_state_comes_back() -> None:
    """LinkLost: FaultOccurred CommunicationLost, then StationStateChanged to USD naming it; a
    state reported while lost is held back; LinkRestored: FaultCleared (same occurrence) and the
    machine's latest state. Every envelope validates as the SDK writes it."""
    norm = MachineNormalizer("Acme.Oven.1")
    norm.feed(obs.StateChanged(machine_id="m", at=at(0), state=1100))
    lost = norm.feed(
        obs.LinkLost(machine_id="m", at=at(10), since=at(9), protocol="modbus", reason="timeout")
    )
    for envelope in lost:
        assert validate_bytes(encode_envelope(envelope)) == []
    occurred, down = (e.body for e in lost)
    assert isinstance(occurred, FaultOccurred) and isinstance(down, StationStateChanged)
    assert occurred.fault.fault_code == COMMUNICATION_LOST and occurred.fault.occurred_at == at(9)
    assert (down.old_state, down.new_state) == (ResourceState.PRD_REGULAR_WORK, ResourceState.USD)
    assert down.related_fault == occurred.fault
    assert not norm.reachable
    assert norm.feed(obs.LinkLost(machine_id="m", at=at(11), since=at(9), protocol="modbus")) == []
    assert norm.feed(obs.StateChanged(machine_id="m", at=at(12), state=2200)) == []
    back = norm.feed(obs.LinkRestored(machine_id="m", at=at(15)))
    for envelope in back:
        assert validate_bytes(encode_envelope(envelope)) == []
    cleared, up = (e.body for e in back)
    assert isinstance(cleared, FaultCleared) and isinstance(up, StationStateChanged)
    assert cleared.fault_occurrence_id == occurred.fault.fault_occurrence_id
    assert (up.old_state, up.new_state, up.old_state_duration) == (
        ResourceState.USD,
        ResourceState.SBY_NO_PRODUCT,
        timedelta(seconds=5),
    )
    assert norm.reachable and COMMUNICATION_LOST not in norm.faults
    assert norm.feed(obs.LinkRestored(machine_id="m", at=at(16))) == []


def test_a_machine_that_tells_no_state_gets_one_from_its_work() -> None:
    """A result-file station or a scanner reports no state: it is productive while a board's
    work is open and standby without product otherwise; a lost link is USD as for any machine."""
    norm = MachineNormalizer(HANDLE, synthesize_work=True, derive_state=True)
    arrived = bodies(norm, obs.BoardArrived(machine_id="aoi", at=at(0), board_id=BOARD))
    assert [type(b) for b in arrived] == [UnitsArrived, WorkStarted, StationStateChanged]
    assert arrived[2].new_state == ResourceState.PRD_REGULAR_WORK  # type: ignore[attr-defined]
    assert arrived[2].old_state == ResourceState.NST  # type: ignore[attr-defined]
    departed = bodies(norm, obs.BoardDeparted(machine_id="aoi", at=at(30), board_id=BOARD))
    assert [type(b) for b in departed] == [WorkCompleted, UnitsDeparted, StationStateChanged]
    changed = departed[2]
    assert changed.new_state == ResourceState.SBY_NO_PRODUCT  # type: ignore[attr-defined]
    assert changed.old_state_duration == timedelta(seconds=30)  # type: ignore[attr-defined]
    assert bodies(norm, obs.Reading(machine_id="aoi", at=at(31), name="n", value=1, unit=None)) == []
    lost = bodies(
        norm, obs.LinkLost(machine_id="aoi", at=at(40), since=at(35), protocol="files", reason="gone")
    )
    assert lost[-1].new_state == ResourceState.USD  # type: ignore[attr-defined]
    assert bodies(norm, obs.Reading(machine_id="aoi", at=at(41), name="n", value=2, unit=None)) == []
    back = bodies(norm, obs.LinkRestored(machine_id="aoi", at=at(50)))
    assert [type(b) for b in back] == [FaultCleared, StationStateChanged]
    assert back[1].new_state == ResourceState.SBY_NO_PRODUCT  # type: ignore[attr-defined]


def test_a_state_the_machine_reports_is_not_overridden_by_its_work() -> None:
    norm = MachineNormalizer(HANDLE, synthesize_work=True, derive_state=True)
    bodies(norm, obs.StateChanged(machine_id="aoi", at=at(0), state=int(ResourceState.ENG.value)))
    arrived = bodies(norm, obs.BoardArrived(machine_id="aoi", at=at(1), board_id=BOARD))
    assert [type(b) for b in arrived] == [UnitsArrived, WorkStarted]
    assert norm.state == ResourceState.ENG
