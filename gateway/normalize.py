"""The normalizer: observations in, CFX envelopes out, one ``MachineNormalizer`` per machine.

It keeps, per machine, what CFX needs to link events (reference cfx.md §3):

- the current ResourceState and since when, for StationStateChanged's OldState/OldStateDuration;
- the active faults, each with one FaultOccurrenceId for as long as it is active, so a fault
  reported again (after an adapter reconnect) is not a new occurrence, and FaultCleared carries
  the same id;
- the open work transaction per board, so WorkStarted, UnitsProcessed and WorkCompleted share one
  TransactionID (``TransactionID`` on the Work messages, ``TransactionId`` on UnitsProcessed —
  the codec knows the spelling);
- the active recipe, for Heartbeat's ActiveRecipes.

Pure: no I/O and no clock; every envelope is stamped with its observation's time.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from adapters import observations as obs
from protocols.cfx import (
    ActiveRecipe,
    CoatingMeasurement,
    CoatingProcessData,
    Envelope,
    Fault,
    FaultCleared,
    FaultOccurred,
    Heartbeat,
    ProcessedUnit,
    RecipeActivated,
    RecipeIdentifier,
    ReflowProcessData,
    ReflowReading,
    ReflowSetPoint,
    ReflowZone,
    ReflowZoneData,
    SelectiveSolderProcessData,
    Stage,
    StationStateChanged,
    UnitPosition,
    UnitsArrived,
    UnitsDeparted,
    UnitsProcessed,
    WorkCompleted,
    WorkStarted,
)
from protocols.cfx.enums import (
    FaultCause,
    FaultSeverity,
    ProcessingResult,
    ReflowReadingType,
    ReflowSetpointType,
    ReflowSubZoneType,
    ResourceState,
    WorkResult,
)
from protocols.cfx.messages import CFXMessage
from protocols.cfx.messages.processing import AnyProcessData

log = structlog.get_logger("linegate.normalize")

_SEVERITY = {
    obs.Severity.INFORMATION: FaultSeverity.INFORMATION,
    obs.Severity.WARNING: FaultSeverity.WARNING,
    obs.Severity.ERROR: FaultSeverity.ERROR,
    obs.Severity.ALARM: FaultSeverity.ALARM,
}
_WORK_RESULT = {
    obs.WorkResult.COMPLETED: WorkResult.COMPLETED,
    obs.WorkResult.FAILED: WorkResult.FAILED,
    obs.WorkResult.ABORTED: WorkResult.ABORTED,
    obs.WorkResult.SKIPPED: WorkResult.SKIPPED,
}
_CAUSES = {cause.value: cause for cause in FaultCause}
_STATES = {int(state.value): state for state in ResourceState}


def resource_state(code: int) -> ResourceState:
    """The CFX ResourceState for a SEMI E10/E58 code.

    CFX's enum defines only the standard codes; a vendor code (3312) becomes its E58 state
    (3300) or E10 class (3000), since a C# consumer cannot parse an unknown code (cfx.md §3.4).
    """
    for candidate in (code, code // 100 * 100, code // 1000 * 1000):
        if candidate in _STATES:
            return _STATES[candidate]
    raise ValueError(f"{code} is not a SEMI E10 state code")


@dataclass(slots=True)
class _ActiveFault:
    fault: Fault


@dataclass(slots=True)
class _Transaction:
    transaction_id: uuid.UUID
    board_id: str | None
    barcode: str | None
    lane: int | None


@dataclass(slots=True)
class MachineNormalizer:
    """Turns one machine's observations into CFX envelopes with ``handle`` as Source.

    Args:
        handle: the machine's CFX handle.
        state: the state before the first observation; ``None`` = unknown (the first
            StationStateChanged then says NST with an unknown OldStateDuration).
    """

    handle: str
    state: ResourceState | None = None
    state_since: datetime | None = None
    faults: dict[str, _ActiveFault] = field(default_factory=dict)
    transactions: dict[str, _Transaction] = field(default_factory=dict)
    active_recipe: RecipeIdentifier | None = None
    recipe_lane: int | None = None

    def feed(self, observation: obs.Observation) -> list[Envelope]:
        """The envelopes this observation produces (possibly none: a repeated state or fault)."""
        handler = _HANDLERS.get(type(observation))
        if handler is None:
            log.warning(
                "normalize.unmapped", machine=observation.machine, observation=type(observation).__name__
            )
            return []
        return [
            Envelope.create(body, source=self.handle, time_stamp=observation.at)
            for body in handler(self, observation)
        ]

    # --- state -------------------------------------------------------------------------------

    def _state(self, o: obs.StateChanged) -> list[CFXMessage]:
        new = resource_state(o.state)
        if new == self.state:
            return []
        old = self.state if self.state is not None else ResourceState.NST
        duration = o.at - self.state_since if self.state_since is not None else None
        if duration is not None and duration < timedelta(0):
            duration = None  # clocks disagree: say unknown rather than negative
        self.state, self.state_since = new, o.at
        related = self._most_severe_fault() if new.value.startswith(("4", "5")) else None
        return [
            StationStateChanged(
                old_state=old, old_state_duration=duration, new_state=new, related_fault=related
            )
        ]

    def _most_severe_fault(self) -> Fault | None:
        order = [FaultSeverity.ALARM, FaultSeverity.ERROR, FaultSeverity.WARNING, FaultSeverity.INFORMATION]
        faults = sorted((a.fault for a in self.faults.values()), key=lambda f: order.index(f.severity))
        return faults[0] if faults else None

    # --- faults ------------------------------------------------------------------------------

    def _fault_raised(self, o: obs.FaultRaised) -> list[CFXMessage]:
        if o.code in self.faults:
            return []  # still the same occurrence (e.g. re-read after a reconnect)
        fault = Fault(
            cause=_CAUSES.get(o.cause or "", FaultCause.PROCESS_ERROR),
            severity=_SEVERITY[o.severity],
            fault_code=o.code,
            fault_occurrence_id=uuid.uuid4(),
            lane=o.lane,
            stage=Stage(stage_name=o.stage) if o.stage else None,
            description=o.description or None,
            occurred_at=o.at,
        )
        self.faults[o.code] = _ActiveFault(fault)
        return [FaultOccurred(fault=fault)]

    def _fault_cleared(self, o: obs.FaultCleared) -> list[CFXMessage]:
        active = self.faults.pop(o.code, None)
        if active is None:
            return []  # never raised while we watched: nothing to link a FaultCleared to
        return [FaultCleared(fault_occurrence_id=active.fault.fault_occurrence_id)]

    # --- boards and work ---------------------------------------------------------------------

    @staticmethod
    def _board_key(board_id: str | None, barcode: str | None, lane: int | None) -> str:
        return board_id or barcode or f"lane:{lane}"

    @staticmethod
    def _units(board_id: str | None, barcode: str | None) -> list[UnitPosition]:
        return [UnitPosition(unit_identifier=barcode or board_id, position_number=1)]

    def _arrived(self, o: obs.BoardArrived) -> list[CFXMessage]:
        return [
            UnitsArrived(
                primary_identifier=o.barcode,
                hermes_identifier=o.board_id,
                units=self._units(o.board_id, o.barcode),
                lane=o.lane,
            )
        ]

    def _departed(self, o: obs.BoardDeparted) -> list[CFXMessage]:
        return [
            UnitsDeparted(
                primary_identifier=o.barcode,
                hermes_identifier=o.board_id,
                units=self._units(o.board_id, o.barcode),
                lane=o.lane,
            )
        ]

    def _work_started(self, o: obs.WorkStarted) -> list[CFXMessage]:
        key = self._board_key(o.board_id, o.barcode, o.lane)
        tx = _Transaction(uuid.uuid4(), o.board_id, o.barcode, o.lane)
        self.transactions[key] = tx
        recipe = o.recipe or (self.active_recipe.recipe_name if self.active_recipe else None)
        revision = o.revision or (
            self.active_recipe.revision if self.active_recipe and not o.recipe else None
        )
        return [
            WorkStarted(
                primary_identifier=o.barcode,
                hermes_identifier=o.board_id,
                transaction_id=tx.transaction_id,
                lane=o.lane,
                units=self._units(o.board_id, o.barcode),
                recipe_name=recipe,
                revision=revision,
            )
        ]

    def _work_finished(self, o: obs.WorkFinished) -> list[CFXMessage]:
        tx = self.transactions.pop(self._board_key(o.board_id, o.barcode, o.lane), None)
        if tx is None:
            # Work we never saw start (the gateway started mid-board): a fresh transaction keeps
            # the message valid; consumers see an unmatched WorkCompleted, as a restarted SDK sends.
            log.info("normalize.unmatched_work", machine=o.machine, board_id=o.board_id)
            tx = _Transaction(uuid.uuid4(), o.board_id, o.barcode, o.lane)
        return [
            WorkCompleted(
                transaction_id=tx.transaction_id,
                result=_WORK_RESULT[o.result],
                primary_identifier=o.barcode or tx.barcode,
                hermes_identifier=o.board_id or tx.board_id,
                units=self._units(o.board_id or tx.board_id, o.barcode or tx.barcode),
            )
        ]

    def _transaction_for(self, board_id: str | None) -> uuid.UUID:
        tx = self.transactions.get(board_id or "") if board_id else None
        if tx is None and len(self.transactions) == 1 and board_id is None:
            tx = next(iter(self.transactions.values()))
        return tx.transaction_id if tx else uuid.UUID(int=0)

    # --- process data ------------------------------------------------------------------------

    def _processed(self, board_id: str | None, data: AnyProcessData) -> list[CFXMessage]:
        tx = self._transaction_for(board_id)
        return [
            UnitsProcessed(
                transaction_id=tx,
                overall_result=ProcessingResult.SUCCEEDED,
                common_process_data=data,
                unit_process_data=[ProcessedUnit(unit_identifier=board_id, unit_process_data=None)],
            )
        ]

    def _reflow(self, o: obs.ReflowProcessData) -> list[CFXMessage]:
        zones = [_reflow_zone(z) for z in o.zones]
        if o.o2_ppm is not None:
            zones.append(
                ReflowZoneData(
                    zone=ReflowZone(stage_sequence=0, stage_name="Oven"),
                    readings=[ReflowReading(reading_type=ReflowReadingType.O2, reading_value=o.o2_ppm)],
                )
            )
        data = ReflowProcessData(conveyor_speed=o.conveyor_speed or 0.0, zone_data=zones)
        return self._processed(o.board_id, data)

    def _solder(self, o: obs.SelectiveSolderProcessData) -> list[CFXMessage]:
        data = SelectiveSolderProcessData(
            nitrogen_flow=o.nitrogen_flow or 0.0,
            cycle_time=timedelta(seconds=o.process_time or 0.0),
        )
        return self._processed(o.board_id, data)

    def _coating(self, o: obs.CoatingProcessData) -> list[CFXMessage]:
        readings = [
            CoatingMeasurement(measurement_name=name, actual_value=value, time_recorded=o.at)
            for name, value in sorted(o.measurements.items())
        ]
        return self._processed(o.board_id, CoatingProcessData(readings=readings))

    # --- recipes -----------------------------------------------------------------------------

    def _recipe(self, o: obs.RecipeActivated) -> list[CFXMessage]:
        self.active_recipe = RecipeIdentifier(recipe_name=o.recipe, revision=o.revision)
        self.recipe_lane = o.lane
        return [RecipeActivated(recipe_name=o.recipe, revision=o.revision, lane=o.lane)]

    def _reading(self, o: obs.Reading) -> list[CFXMessage]:
        return []  # readings feed metrics and the dashboard, not the CFX stream

    # --- heartbeat ---------------------------------------------------------------------------

    def heartbeat(self, frequency: timedelta, at: datetime) -> Envelope:
        """A Heartbeat carrying the active faults and the active recipe."""
        recipes = (
            [ActiveRecipe(lane=self.recipe_lane, recipe_identifier=self.active_recipe)]
            if self.active_recipe
            else []
        )
        body = Heartbeat(
            cfx_handle=self.handle,
            heartbeat_frequency=frequency,
            active_faults=[a.fault for a in self.faults.values()],
            active_recipes=recipes,
        )
        return Envelope.create(body, source=self.handle, time_stamp=at)


def _reflow_zone(z: obs.ZoneReading) -> ReflowZoneData:
    setpoints = [
        ReflowSetPoint(sub_zone=sub, setpoint_type=ReflowSetpointType.TEMPERATURE, setpoint=value)
        for sub, value in (
            (ReflowSubZoneType.TOP, z.setpoint_top),
            (ReflowSubZoneType.BOTTOM, z.setpoint_bottom),
        )
        if value is not None
    ]
    readings = [
        ReflowReading(sub_zone=sub, reading_type=ReflowReadingType.TEMPERATURE, reading_value=value)
        for sub, value in ((ReflowSubZoneType.TOP, z.actual_top), (ReflowSubZoneType.BOTTOM, z.actual_bottom))
        if value is not None
    ]
    return ReflowZoneData(
        zone=ReflowZone(stage_sequence=z.zone, stage_name=f"Zone{z.zone}"),
        setpoints=setpoints,
        readings=readings,
    )


_HANDLERS: dict[type[obs.Observation], Callable[[MachineNormalizer, Any], list[CFXMessage]]] = {
    obs.StateChanged: MachineNormalizer._state,
    obs.FaultRaised: MachineNormalizer._fault_raised,
    obs.FaultCleared: MachineNormalizer._fault_cleared,
    obs.BoardArrived: MachineNormalizer._arrived,
    obs.BoardDeparted: MachineNormalizer._departed,
    obs.WorkStarted: MachineNormalizer._work_started,
    obs.WorkFinished: MachineNormalizer._work_finished,
    obs.ReflowProcessData: MachineNormalizer._reflow,
    obs.SelectiveSolderProcessData: MachineNormalizer._solder,
    obs.CoatingProcessData: MachineNormalizer._coating,
    obs.RecipeActivated: MachineNormalizer._recipe,
    obs.Reading: MachineNormalizer._reading,
}
