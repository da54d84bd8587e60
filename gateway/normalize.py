"""The normalizer: observations in, CFX envelopes out, one ``MachineNormalizer`` per machine.

It keeps, per machine, what CFX needs to link events (reference cfx.md §3):

- the current ResourceState and since when, for StationStateChanged's OldState/OldStateDuration;
- the active faults, each with one FaultOccurrenceId for as long as it is active, so a fault
  reported again (after an adapter reconnect) is not a new occurrence, and FaultCleared carries
  the same id;
- the open work transaction per board, so WorkStarted, UnitsProcessed and WorkCompleted share one
  TransactionID (``TransactionID`` on the Work messages, ``TransactionId`` on UnitsProcessed —
  the codec knows the spelling);
- the active recipe, for Heartbeat's ActiveRecipes;
- whether the machine is reachable: a ``LinkLost`` raises the fault ``CommunicationLost`` and
  moves the published state to USD (unscheduled downtime); while it lasts, the states the machine
  reports are remembered but not published, and ``LinkRestored`` clears the fault and publishes
  the machine's own state again (docs/liveness.md says why these messages).

Pure: no I/O and no clock; every envelope is stamped with its observation's time.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from adapters import observations as obs
from gateway.board_identity import BoardIdentities
from gateway.normalize_inspection import units_inspected
from gateway.normalize_repair import ReviewTracker
from gateway.normalize_test import is_test, units_tested
from protocols.cfx import (
    ActiveRecipe,
    CoatingMeasurement,
    CoatingProcessData,
    Envelope,
    Fault,
    FaultAcknowledged,
    FaultCleared,
    FaultOccurred,
    Heartbeat,
    Operator,
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
    WorkOrderIdentifier,
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
from protocols.cfx.messages import AnyProcessData, CFXMessage
from protocols.cfx.messages.sensor_identification import IdentifiersNotRead, IdentifiersRead

log = structlog.get_logger("linegate.normalize")
# Work orders remembered for boards not started yet; a machine holds a few boards at most.
_WORK_ORDERS_KEPT = 256

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
#: FaultCode of the fault a lost link raises (docs/liveness.md).
COMMUNICATION_LOST = "CommunicationLost"
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
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None


@dataclass(slots=True)
class _Transaction:
    transaction_id: uuid.UUID
    board_id: str | None
    barcode: str | None
    lane: int | None


@dataclass(slots=True)
class _Board:
    board_id: str | None
    barcode: str | None
    lane: int | None
    tx: _Transaction | None = None
    finished: bool = False
    processed: bool = False

    @property
    def key(self) -> str:
        return self.board_id or self.barcode or f"lane:{self.lane}:{id(self)}"


@dataclass(frozen=True, slots=True)
class LatestReading:
    """A reading's latest value, its unit (None: none) and when it was observed."""

    value: bool | int | float | str
    unit: str | None
    at: datetime


@dataclass(slots=True)
class MachineNormalizer:
    """Turns one machine's observations into CFX envelopes with ``handle`` as Source.

    Args:
        handle: the machine's CFX handle.
        synthesize_work: start work when a board arrives and complete it when it leaves, for
            machines whose protocol reports no work of its own.
        defer_work_start: with ``synthesize_work``, start the work when a WorkStarted
            observation says so (the product-boundary gate releases the board then, after any
            recipe switch, so WorkStarted names the recipe it is built on) instead of on
            arrival; a board that leaves without one gets its work started as it leaves.
        state: the state before the first observation; ``None`` = unknown (the first
            StationStateChanged then says NST with an unknown OldStateDuration).
        derive_state: the machine's protocol tells no state (result files, a scanner) and its
            boards are tracked: after each observation the state is derived from its work, productive
            (PRD_REGULAR_WORK) while a board's work is open, standby without product
            (SBY_NO_PRODUCT) otherwise; a lost link is USD as for any machine.
    """

    handle: str
    synthesize_work: bool = False
    defer_work_start: bool = False
    derive_state: bool = False
    state: ResourceState | None = None
    state_since: datetime | None = None
    faults: dict[str, _ActiveFault] = field(default_factory=dict)
    transactions: dict[str, _Transaction] = field(default_factory=dict)
    present: list[_Board] = field(default_factory=list)
    departed: deque[_Board] = field(default_factory=lambda: deque(maxlen=16))
    active_recipe: RecipeIdentifier | None = None
    recipe_lane: int | None = None
    # BoardId or barcode -> the work order the gateway told the machine for that board (its
    # answer to QueryWorkOrderInfo), for the board's WorkStarted, whoever reports the work.
    work_orders: dict[str, WorkOrderIdentifier] = field(default_factory=dict)
    # The latest value of each plain reading ([readings] of a map), for /metrics and the dashboard.
    readings: dict[str, LatestReading] = field(default_factory=dict)
    reachable: bool = True
    machine_state: ResourceState | None = None  # as the machine last reported it
    # Results for boards the gateway never saw (published with the nil TransactionId), for /metrics.
    unknown_boards: int = 0
    # The line's link of barcodes, BoardIds and transactions (gateway.board_identity), shared by
    # every machine's normalizer; None: this machine's own boards only.
    identity: BoardIdentities | None = None
    # Defects published unverified, per board, until a later result settles them (UnitsRepaired).
    reviews: ReviewTracker = field(default_factory=ReviewTracker)

    def feed(self, observation: obs.Observation) -> list[Envelope]:
        """The envelopes this observation produces (possibly none: a repeated state or fault)."""
        handler = _HANDLERS.get(type(observation))
        if handler is None:
            log.warning(
                "normalize.unmapped", machine=observation.machine_id, observation=type(observation).__name__
            )
            return []
        bodies = handler(self, observation)
        if self.derive_state and self.reachable and self.machine_state is None:
            working = ResourceState.PRD_REGULAR_WORK if self.transactions else ResourceState.SBY_NO_PRODUCT
            bodies = [*bodies, *self._enter(working, observation.at)]
        return [Envelope.create(body, source=self.handle, time_stamp=observation.at) for body in bodies]

    # --- state -------------------------------------------------------------------------------

    def _state(self, o: obs.StateChanged) -> list[CFXMessage]:
        self.machine_state = resource_state(o.state)
        if not self.reachable:
            return []  # published when the link is back; until then the MES sees USD
        return self._enter(self.machine_state, o.at)

    def _enter(self, new: ResourceState, at: datetime, related: Fault | None = None) -> list[CFXMessage]:
        if new == self.state:
            return []
        old = self.state if self.state is not None else ResourceState.NST
        duration = at - self.state_since if self.state_since is not None else None
        if duration is not None and duration < timedelta(0):
            duration = None  # clocks disagree: say unknown rather than negative
        self.state, self.state_since = new, at
        if related is None and new.value.startswith(("4", "5")):
            related = self._most_severe_fault()
        return [
            StationStateChanged(
                old_state=old, old_state_duration=duration, new_state=new, related_fault=related
            )
        ]

    # --- reachability ------------------------------------------------------------------------

    def _link_lost(self, o: obs.LinkLost) -> list[CFXMessage]:
        if not self.reachable:
            return []
        self.reachable = False
        reason = f": {o.reason}" if o.reason else ""
        fault = Fault(
            # CFX has no communication cause; ServicesFailure is the one for a supply the
            # station depends on from outside it (docs/liveness.md).
            cause=FaultCause.SERVICES_FAILURE,
            severity=FaultSeverity.ERROR,
            fault_code=COMMUNICATION_LOST,
            fault_occurrence_id=uuid.uuid4(),
            description=f"no answer from the machine over {o.protocol}{reason}",
            occurred_at=o.since,
        )
        self.faults[COMMUNICATION_LOST] = _ActiveFault(fault)
        return [FaultOccurred(fault=fault), *self._enter(ResourceState.USD, o.at, related=fault)]

    def _link_restored(self, o: obs.LinkRestored) -> list[CFXMessage]:
        if self.reachable:
            return []
        self.reachable = True
        out: list[CFXMessage] = []
        active = self.faults.pop(COMMUNICATION_LOST, None)
        if active is not None:
            out.append(FaultCleared(fault_occurrence_id=active.fault.fault_occurrence_id))
        if self.machine_state is not None:
            # What the machine reported last (possibly while unreachable); a machine that never
            # reported one stays USD until it does.
            out.extend(self._enter(self.machine_state, o.at))
        return out

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

    def _fault_acknowledged(self, o: obs.FaultAcknowledged) -> list[CFXMessage]:
        active = self.faults.get(o.code)
        if active is None or active.acknowledged_at is not None:
            return []  # not active (nothing to acknowledge), or acknowledged once already
        active.acknowledged_by = o.operator
        active.acknowledged_at = o.at
        operator = Operator(login_name=o.operator) if o.operator else None
        return [FaultAcknowledged(fault_occurrence_id=active.fault.fault_occurrence_id, operator=operator)]

    # --- boards and work ---------------------------------------------------------------------
    #
    # Board tracking: the Hermes vertical channel says which board arrived and left (with its
    # BoardId); the machine's own protocol often says only "a board started / finished / here is
    # its process data" without an id. Such observations are matched to the boards present in
    # arrival order, so every CFX message carries the board's HermesIdentifier and one
    # TransactionID links its work. For machines whose protocol reports no work at all,
    # ``synthesize_work`` starts the work when the board arrives and completes it when it leaves.

    def assign_work_order(
        self, board_id: str | None, barcode: str | None, work_order: str | None, batch: str | None = None
    ) -> None:
        """Remember the work order a board belongs to, for its WorkStarted (which may come from
        the machine's own protocol, after the gateway answered the machine's query)."""
        key = board_id or barcode
        if key is None or not (work_order or batch):
            return
        self.work_orders.pop(key, None)
        self.work_orders[key] = WorkOrderIdentifier(work_order_id=work_order, batch=batch)
        while len(self.work_orders) > _WORK_ORDERS_KEPT:  # boards whose work we never saw start
            del self.work_orders[next(iter(self.work_orders))]

    @staticmethod
    def _units(board_id: str | None, barcode: str | None) -> list[UnitPosition]:
        return [UnitPosition(unit_identifier=barcode or board_id, position_number=1)]

    def _find(self, board_id: str | None, barcode: str | None, boards: Iterable[_Board]) -> _Board | None:
        for board in boards:
            if (board_id and board.board_id == board_id) or (
                barcode and not board_id and board.barcode == barcode
            ):
                return board
        return None

    def _start(
        self,
        board: _Board,
        at_recipe: tuple[str | None, str | None],
        work_order: WorkOrderIdentifier | None = None,
    ) -> WorkStarted:
        board.tx = _Transaction(uuid.uuid4(), board.board_id, board.barcode, board.lane)
        self.transactions[board.key] = board.tx
        if self.identity is not None:
            self.identity.started(self.handle, board.tx.transaction_id, board.board_id, board.barcode)
        for key in (board.board_id, board.barcode):
            assigned = self.work_orders.pop(key, None) if key else None
            work_order = work_order or assigned
        recipe, revision = at_recipe
        if recipe is None and self.active_recipe is not None:
            recipe, revision = self.active_recipe.recipe_name, self.active_recipe.revision
        return WorkStarted(
            primary_identifier=board.barcode,
            hermes_identifier=board.board_id,
            transaction_id=board.tx.transaction_id,
            lane=board.lane,
            units=self._units(board.board_id, board.barcode),
            recipe_name=recipe,
            revision=revision,
            work_order_identifier=work_order,
        )

    def _complete(self, board: _Board, result: obs.WorkResult) -> WorkCompleted:
        assert board.tx is not None
        self.transactions.pop(board.key, None)
        board.finished = True
        return WorkCompleted(
            transaction_id=board.tx.transaction_id,
            result=_WORK_RESULT[result],
            primary_identifier=board.barcode,
            hermes_identifier=board.board_id,
            units=self._units(board.board_id, board.barcode),
        )

    def _arrived(self, o: obs.BoardArrived) -> list[CFXMessage]:
        board = _Board(o.board_id, o.barcode, o.lane)
        if self.identity is not None:
            known = self.identity.link(o.board_id, o.barcode)
            board.barcode = board.barcode or (known.barcode if known else None)
        self.present.append(board)
        out: list[CFXMessage] = [
            UnitsArrived(
                primary_identifier=o.barcode,
                hermes_identifier=o.board_id,
                units=self._units(o.board_id, o.barcode),
                lane=o.lane,
            )
        ]
        if self.synthesize_work and not self.defer_work_start:
            out.append(self._start(board, (None, None)))
        return out

    def _departed(self, o: obs.BoardDeparted) -> list[CFXMessage]:
        board = self._find(o.board_id, o.barcode, self.present)
        out: list[CFXMessage] = []
        if board is not None:
            self.present.remove(board)
            if board.tx is None and self.synthesize_work and self.defer_work_start:
                # Never released through the gate (it was not asked, or we missed it): the
                # board's work is still reported, as it leaves.
                out.append(self._start(board, (None, None)))
            if board.tx is not None and not board.finished and self.synthesize_work:
                out.append(self._complete(board, obs.WorkResult.COMPLETED))
            self.departed.append(board)
        out.append(
            UnitsDeparted(
                primary_identifier=o.barcode or (board.barcode if board else None),
                hermes_identifier=o.board_id or (board.board_id if board else None),
                units=self._units(o.board_id, o.barcode),
                lane=o.lane,
            )
        )
        return out

    def _work_started(self, o: obs.WorkStarted) -> list[CFXMessage]:
        board = self._find(o.board_id, o.barcode, self.present)
        if board is None and o.board_id is None and o.barcode is None:
            board = next((b for b in self.present if b.tx is None), None)
        if board is None:  # a board Hermes did not announce: track it from here
            board = _Board(o.board_id, o.barcode, o.lane)
            self.present.append(board)
        if board.tx is not None:
            return []  # already started (synthesized at arrival, or reported twice)
        work_order = (
            WorkOrderIdentifier(work_order_id=o.work_order, batch=o.batch)
            if o.work_order or o.batch
            else None
        )
        return [self._start(board, (o.recipe, o.revision), work_order)]

    def _work_finished(self, o: obs.WorkFinished) -> list[CFXMessage]:
        board = self._find(o.board_id, o.barcode, [*self.present, *self.departed])
        if board is None and o.board_id is None and o.barcode is None:
            board = next((b for b in self.present if b.tx is not None and not b.finished), None)
        if board is None:
            # Work we never saw start (the gateway started mid-board): a fresh transaction keeps
            # the message valid; consumers see an unmatched WorkCompleted, as a restarted SDK sends.
            log.info("normalize.unmatched_work", machine=o.machine_id, board_id=o.board_id)
            board = _Board(o.board_id, o.barcode, o.lane)
            board.tx = _Transaction(uuid.uuid4(), o.board_id, o.barcode, o.lane)
        elif board.finished:
            return []  # completed already (when it left the machine)
        elif board.tx is None:
            board.tx = _Transaction(uuid.uuid4(), board.board_id, board.barcode, board.lane)
        return [self._complete(board, o.result)]

    def _board_for_data(self, board_id: str | None) -> _Board | None:
        if board_id:
            return self._find(board_id, None, [*self.present, *self.departed])
        # Without an id: the oldest board that has no data yet. Boards go through in order, so
        # one that already left comes first: an oven reports a board's profile as it exits, and
        # the Hermes departure may reach us before the poll that sees the exit.
        for boards in (self.departed, self.present):
            board = next((b for b in boards if b.tx is not None and not b.processed), None)
            if board is not None:
                return board
        return None

    # --- process data ------------------------------------------------------------------------

    def _processed(self, board_id: str | None, data: AnyProcessData) -> list[CFXMessage]:
        board = self._board_for_data(board_id)
        if board is not None and board.tx is not None:
            board.processed = True
            tx, unit = board.tx.transaction_id, board.barcode or board.board_id
        else:
            log.info("normalize.unmatched_process_data", machine=self.handle, board_id=board_id)
            tx, unit = uuid.UUID(int=0), board_id
        return [
            UnitsProcessed(
                transaction_id=tx,
                overall_result=ProcessingResult.SUCCEEDED,
                common_process_data=data,
                unit_process_data=[ProcessedUnit(unit_identifier=unit, unit_process_data=None)],
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

    # --- inspection results -----------------------------------------------------------------

    def _transaction_of(self, o: obs.InspectionResult) -> uuid.UUID | None:
        keys = {o.board_id, o.barcode, *(p.barcode for p in o.positions)} - {None}
        for board in (*self.present, *self.departed):
            if board.tx is not None and (board.board_id in keys or board.barcode in keys):
                return board.tx.transaction_id
        if self.identity is not None:  # left long ago, or known to this machine by another name
            return self.identity.transaction(self.handle, o.barcode, o.board_id, *keys)
        return None

    # --- identification (a scanner) ----------------------------------------------------------

    def _identifier_read(self, o: obs.IdentifierRead) -> list[CFXMessage]:
        board = next((b for b in self.present if b.barcode == o.barcode), None)
        if board is None:
            # Hermes did not carry the barcode: the read names the oldest board without one.
            board = next((b for b in self.present if b.barcode is None), None)
            if board is not None:
                board.barcode = o.barcode
        board_id = board.board_id if board is not None else None
        known = self.identity.link(board_id, o.barcode) if self.identity is not None else None
        if known is not None and known.board_id:
            board_id = known.board_id
        units = sorted(known.units.items()) if known is not None and known.units else [(1, o.barcode)]
        return [
            IdentifiersRead(
                primary_identifier=o.barcode,
                hermes_identifier=board_id,
                units=[UnitPosition(unit_identifier=name, position_number=n) for n, name in units],
            )
        ]

    def _identifier_not_read(self, o: obs.IdentifierNotRead) -> list[CFXMessage]:
        return [IdentifiersNotRead(positions_not_read=list(o.positions) or [1])]

    def _inspected(self, o: obs.InspectionResult) -> list[CFXMessage]:
        transaction = self._transaction_of(o)
        if self.identity is not None:  # a panel's unit codes, for results that name only those
            known = self.identity.find(o.barcode, o.board_id)
            units = [(p.position, p.barcode) for p in o.positions if p.barcode and p.barcode != o.barcode]
            if known is not None and units:
                self.identity.add_units(known, units)
        if transaction is None:
            # Still published (nothing is dropped), flagged by the nil TransactionId.
            self.unknown_boards += 1
            log.info("normalize.unknown_board", machine=self.handle, barcode=o.barcode, board_id=o.board_id)
        if is_test(o.method):
            return [units_tested(o, transaction)]
        inspected = units_inspected(o, transaction)
        repaired = self.reviews.after(o, inspected, transaction)
        return [inspected] if repaired is None else [inspected, repaired]

    def _result_file(self, o: obs.ResultFileRead) -> list[CFXMessage]:
        out: list[CFXMessage] = []
        for result in o.results:
            out.extend(self._inspected(result))
        return out

    # --- recipes -----------------------------------------------------------------------------

    def _recipe(self, o: obs.RecipeActivated) -> list[CFXMessage]:
        self.active_recipe = RecipeIdentifier(recipe_name=o.recipe, revision=o.revision)
        self.recipe_lane = o.lane
        return [RecipeActivated(recipe_name=o.recipe, revision=o.revision, lane=o.lane)]

    def _reading(self, o: obs.Reading) -> list[CFXMessage]:
        # Readings feed /metrics and the dashboard, not the CFX stream (CFX has no message for
        # an arbitrary named value; process data goes out with its board).
        self.readings[o.name] = LatestReading(o.value, o.unit, o.at)
        return []

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
    obs.FaultAcknowledged: MachineNormalizer._fault_acknowledged,
    obs.BoardArrived: MachineNormalizer._arrived,
    obs.BoardDeparted: MachineNormalizer._departed,
    obs.WorkStarted: MachineNormalizer._work_started,
    obs.WorkFinished: MachineNormalizer._work_finished,
    obs.ReflowProcessData: MachineNormalizer._reflow,
    obs.SelectiveSolderProcessData: MachineNormalizer._solder,
    obs.CoatingProcessData: MachineNormalizer._coating,
    obs.RecipeActivated: MachineNormalizer._recipe,
    obs.Reading: MachineNormalizer._reading,
    obs.InspectionResult: MachineNormalizer._inspected,
    obs.ResultFileRead: MachineNormalizer._result_file,
    obs.IdentifierRead: MachineNormalizer._identifier_read,
    obs.IdentifierNotRead: MachineNormalizer._identifier_not_read,
    obs.LinkLost: MachineNormalizer._link_lost,
    obs.LinkRestored: MachineNormalizer._link_restored,
}
