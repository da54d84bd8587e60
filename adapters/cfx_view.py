"""What a CFX-native machine's own envelopes imply: its state, faults, boards, work and recipe.

:class:`MachineView` is sans-IO; the CFX-native adapter (:mod:`adapters.cfx_native`) feeds it
every envelope it passes through and emits the observations it returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from adapters.observations import (
    BoardArrived,
    BoardDeparted,
    FaultCleared,
    FaultRaised,
    Observation,
    RecipeActivated,
    Severity,
    StateChanged,
    WorkFinished,
    WorkResult,
    WorkStarted,
)
from protocols import cfx
from protocols.cfx import Envelope
from protocols.cfx.enums import FaultSeverity
from protocols.cfx.enums import WorkResult as CFXWorkResult
from protocols.cfx.messages import AnyFault, AnyStage, AnyUnitPosition, UnknownStructure

_SEVERITY = {
    FaultSeverity.INFORMATION: Severity.INFORMATION,
    FaultSeverity.WARNING: Severity.WARNING,
    FaultSeverity.ERROR: Severity.ERROR,
    FaultSeverity.ALARM: Severity.ALARM,
}
_WORK_RESULT = {
    CFXWorkResult.COMPLETED: WorkResult.COMPLETED,
    CFXWorkResult.FAILED: WorkResult.FAILED,
    CFXWorkResult.ABORTED: WorkResult.ABORTED,
    CFXWorkResult.SKIPPED: WorkResult.SKIPPED,
}


@dataclass(slots=True)
class _Board:
    board_id: str | None
    barcode: str | None
    lane: int | None


@dataclass(slots=True)
class MachineView:
    """Turns a CFX machine's own envelopes into observations; sans-IO.

    It remembers what later envelopes refer to by id only: the fault code of each
    FaultOccurrenceId (FaultCleared carries only the id, cfx.md §3.4) and the board of each open
    TransactionID (WorkCompleted has no Lane), so the observations carry the same keys the
    gateway's normalizer links by.
    """

    machine_id: str
    faults: dict[str, str] = field(default_factory=dict)  # FaultOccurrenceId -> fault code
    work: dict[str, _Board] = field(default_factory=dict)  # TransactionID -> board

    def observe(self, envelope: Envelope) -> list[Observation]:
        """The observations one envelope implies (none for most messages)."""
        body, at = envelope.body, envelope.time_stamp
        if isinstance(body, cfx.StationStateChanged):
            return [StateChanged(machine_id=self.machine_id, at=at, state=int(body.new_state.value))]
        if isinstance(body, cfx.FaultOccurred) and body.fault is not None:
            return [self._fault(body.fault, at)]
        if isinstance(body, cfx.FaultCleared):
            occurrence = str(body.fault_occurrence_id)
            code = self.faults.pop(occurrence, occurrence)
            return [FaultCleared(machine_id=self.machine_id, at=at, code=code)]
        if isinstance(body, cfx.RecipeActivated) and body.recipe_name:
            return [
                RecipeActivated(
                    machine_id=self.machine_id,
                    at=at,
                    recipe=body.recipe_name,
                    revision=body.revision,
                    lane=body.lane,
                )
            ]
        if isinstance(body, cfx.UnitsArrived | cfx.UnitsDeparted):
            kind = BoardArrived if isinstance(body, cfx.UnitsArrived) else BoardDeparted
            barcode = body.primary_identifier or _first_unit(body.units)
            return [
                kind(
                    machine_id=self.machine_id,
                    at=at,
                    board_id=body.hermes_identifier,
                    barcode=barcode,
                    lane=body.lane,
                )
            ]
        if isinstance(body, cfx.WorkStarted):
            return [self._work_started(body, at)]
        if isinstance(body, cfx.WorkCompleted):
            return [self._work_completed(body, at)]
        return []

    def _fault(self, slot: AnyFault, at: datetime) -> FaultRaised:
        # A subclass linegate does not know still has the Fault members it is reported by.
        fault = cast(cfx.Fault, slot.as_declared()) if isinstance(slot, UnknownStructure) else slot
        occurrence = str(fault.fault_occurrence_id)
        # The code identifies the fault across reports; without one, the occurrence id does.
        code = fault.fault_code or occurrence
        self.faults[occurrence] = code
        return FaultRaised(
            machine_id=self.machine_id,
            at=at,
            code=code,
            description=fault.description or "",
            severity=_SEVERITY.get(fault.severity, Severity.ERROR),
            cause=str(fault.cause.value),
            lane=fault.lane,
            stage=_stage_name(fault.stage),
        )

    def _work_started(self, body: cfx.WorkStarted, at: datetime) -> WorkStarted:
        board = _Board(body.hermes_identifier, body.primary_identifier or _first_unit(body.units), body.lane)
        self.work[str(body.transaction_id)] = board
        return WorkStarted(
            machine_id=self.machine_id,
            at=at,
            board_id=board.board_id,
            barcode=board.barcode,
            lane=board.lane,
            recipe=body.recipe_name,
            revision=body.revision,
        )

    def _work_completed(self, body: cfx.WorkCompleted, at: datetime) -> WorkFinished:
        board = self.work.pop(str(body.transaction_id), None) or _Board(
            body.hermes_identifier, body.primary_identifier or _first_unit(body.units), None
        )
        return WorkFinished(
            machine_id=self.machine_id,
            at=at,
            board_id=board.board_id,
            barcode=board.barcode,
            lane=board.lane,
            result=_WORK_RESULT.get(body.result, WorkResult.COMPLETED),
        )


def _first_unit(units: Sequence[AnyUnitPosition] | None) -> str | None:
    first = units[0] if units else None
    return first.unit_identifier if first is not None and not isinstance(first, UnknownStructure) else None


def _stage_name(stage: AnyStage | None) -> str | None:
    return stage.stage_name if stage is not None and not isinstance(stage, UnknownStructure) else None


__all__ = ["MachineView"]
