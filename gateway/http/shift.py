"""The shift at a glance: what a supervisor reads off the dashboard besides the live line.

Per machine: boards completed and failed, cycle time, first-pass yield of its inspections or
tests (each unit's verdict counted once per transaction: a result written again after the repair
station's review replaces the first, so false calls cleared there do not count as failures),
time in each SEMI E10 class and the availability and OEE that follow; for the line: boards out
and the rolled throughput yield; and the alarm history with each alarm's acknowledgement.

Everything is followed from the normalized event stream (the SSE sink feeds ``LineTracker``,
which hands each event on). Durations are measured on the gateway's clock, the time each event
was accepted (``StoredEvent.created``), not on the machines' stamps: a simulated machine on an
accelerated clock, or a machine whose clock drifts, would otherwise bend every figure.

OEE here is availability times performance times quality, where performance compares the mean cycle
with the shortest cycle seen in the shift (no ideal cycle time is configured): a usual stand-in
for the "demonstrated best rate" where a line has no engineered standard.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.outbox import StoredEvent

# SEMI E10 classes (the first digit of a ResourceState code; reference cfx.md §3.4).
CATEGORIES = {
    "1": "productive",
    "2": "standby",
    "3": "engineering",
    "4": "scheduled_downtime",
    "5": "unscheduled_downtime",
    "6": "nonscheduled",
}
_UPTIME = {"1", "2", "3"}  # productive, standby, engineering: the equipment could work
_DOWNTIME = {"4", "5"}  # scheduled and unscheduled downtime

#: Alarms kept in the history (oldest forgotten first), and cycle times kept per machine.
MAX_ALARMS = 500
MAX_CYCLES = 200
# Work started but never seen completing (a lost event, a machine restart) is forgotten past this.
_MAX_OPEN_WORK = 256
# Units whose verdict a later result may still replace (a re-inspection), per machine.
_MAX_VERDICTS = 1024

_STATE = "CFX.ResourcePerformance.StationStateChanged"
_STARTED = "CFX.Production.WorkStarted"
_COMPLETED = "CFX.Production.WorkCompleted"
_INSPECTED = "CFX.Production.TestAndInspection.UnitsInspected"
_TESTED = "CFX.Production.TestAndInspection.UnitsTested"
_OCCURRED = "CFX.ResourcePerformance.FaultOccurred"
_ACKNOWLEDGED = "CFX.ResourcePerformance.FaultAcknowledged"
_CLEARED = "CFX.ResourcePerformance.FaultCleared"
_FOLLOWED = {_STATE, _STARTED, _COMPLETED, _INSPECTED, _TESTED, _OCCURRED, _ACKNOWLEDGED, _CLEARED}


@dataclass(slots=True)
class MachineShift:
    """One machine's figures since the shift started."""

    completed: int = 0
    failed: int = 0
    units_passed: int = 0
    units_failed: int = 0
    cycles: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=MAX_CYCLES))
    best_cycle: float | None = None
    open_work: collections.OrderedDict[str, float] = field(default_factory=collections.OrderedDict)
    seconds: dict[str, float] = field(default_factory=lambda: collections.defaultdict(float))
    state_class: str | None = None  # the class the machine is in now (None: never reported)
    state_since: float | None = None
    work_order: str | None = None
    # (transaction, unit, position) -> passed, for the units counted in units_passed/units_failed.
    verdicts: collections.OrderedDict[tuple[str, str, int], bool] = field(
        default_factory=collections.OrderedDict
    )

    def verdict(self, key: tuple[str, str, int], passed: bool) -> None:
        """Count one unit's verdict; a later verdict for the same unit in the same transaction
        (the result written again after the repair station's review) replaces the earlier."""
        earlier = self.verdicts.pop(key, None) if key[0] else None
        if earlier is not None:
            if earlier:
                self.units_passed -= 1
            else:
                self.units_failed -= 1
        if passed:
            self.units_passed += 1
        else:
            self.units_failed += 1
        if key[0]:
            self.verdicts[key] = passed
            while len(self.verdicts) > _MAX_VERDICTS:
                self.verdicts.popitem(last=False)

    def enter(self, state_class: str, at: float) -> None:
        self.settle(at)
        self.state_class = state_class
        self.state_since = at

    def settle(self, now: float) -> None:
        """Book the time spent in the current class up to ``now``."""
        if self.state_class is not None and self.state_since is not None and now > self.state_since:
            self.seconds[self.state_class] += now - self.state_since
            self.state_since = now

    def view(self, now: float) -> dict[str, Any]:
        self.settle(now)
        up = sum(self.seconds.get(c, 0.0) for c in _UPTIME)
        down = sum(self.seconds.get(c, 0.0) for c in _DOWNTIME)
        availability = up / (up + down) if up + down > 0 else None
        inspected = self.units_passed + self.units_failed
        first_pass_yield = self.units_passed / inspected if inspected else None
        mean_cycle = sum(self.cycles) / len(self.cycles) if self.cycles else None
        performance = (
            min(1.0, self.best_cycle / mean_cycle) if mean_cycle and self.best_cycle is not None else None
        )
        quality = (self.completed - self.failed) / self.completed if self.completed else None
        if first_pass_yield is not None:
            quality = first_pass_yield
        oee = (
            availability * performance * quality
            if availability is not None and performance is not None and quality is not None
            else None
        )
        return {
            "boards_completed": self.completed,
            "boards_failed": self.failed,
            "units_passed": self.units_passed,
            "units_failed": self.units_failed,
            "first_pass_yield": _ratio(first_pass_yield),
            "cycle_seconds": {
                "last": _round(self.cycles[-1]) if self.cycles else None,
                "mean": _round(mean_cycle),
                "best": _round(self.best_cycle),
            },
            "seconds_by_class": {CATEGORIES[c]: round(self.seconds[c], 3) for c in sorted(self.seconds)},
            "availability": _ratio(availability),
            "oee": _ratio(oee),
            "work_order": self.work_order,
        }


@dataclass(slots=True)
class Alarm:
    """One fault occurrence as the alarm list shows it."""

    source: str
    occurrence_id: str
    code: str | None
    severity: str | None
    description: str | None
    occurred_at: float
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    cleared_at: float | None = None

    def view(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "occurrence_id": self.occurrence_id,
            "code": self.code,
            "severity": self.severity,
            "description": self.description,
            "occurred_at": _iso(self.occurred_at),
            "acknowledged": self.acknowledged_at is not None,
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": _iso(self.acknowledged_at),
            "cleared_at": _iso(self.cleared_at),
            "active": self.cleared_at is None,
        }


class ShiftTracker:
    """Shift figures and the alarm history, followed from stored envelopes.

    Args:
        started: the shift's start, seconds since the epoch (the gateway's clock).
    """

    def __init__(self, started: float) -> None:
        self.started = started
        self.machines: dict[str, MachineShift] = collections.defaultdict(MachineShift)
        self.alarms: collections.OrderedDict[str, Alarm] = collections.OrderedDict()

    @property
    def started_at(self) -> str:
        """The shift's start as an ISO 8601 time."""
        return datetime.fromtimestamp(self.started, UTC).isoformat()

    def restart(self, at: float) -> None:
        """Start a new shift at ``at``: figures start from zero; machines keep their current state
        class (timed from ``at``) and active alarms stay in the list."""
        current = {source: (m.state_class, m.work_order) for source, m in self.machines.items()}
        self.started = at
        self.machines.clear()
        for source, (state_class, work_order) in current.items():
            shift = self.machines[source]
            shift.work_order = work_order
            if state_class is not None:
                shift.enter(state_class, at)
        for key in [k for k, alarm in self.alarms.items() if alarm.cleared_at is not None]:
            del self.alarms[key]

    def feed(self, event: StoredEvent) -> None:
        """Update the figures from one stored envelope (other message names cost no parsing)."""
        name = event.message_name
        if name not in _FOLLOWED:
            return
        body = orjson.loads(event.payload).get("MessageBody") or {}
        at = event.created
        if name in (_OCCURRED, _ACKNOWLEDGED, _CLEARED):
            self._alarm(name, event.source, body, at)
            return
        shift = self.machines[event.source]
        if name == _STATE:
            state = str(body.get("NewState") or "")
            if state[:1] in CATEGORIES:
                shift.enter(state[:1], at)
        elif name == _STARTED:
            tx = str(body.get("TransactionID") or "")
            if tx:
                shift.open_work[tx] = at
                while len(shift.open_work) > _MAX_OPEN_WORK:
                    shift.open_work.popitem(last=False)
            order = body.get("WorkOrderIdentifier") or {}
            if isinstance(order, dict) and order.get("WorkOrderId"):
                shift.work_order = str(order["WorkOrderId"])
        elif name == _COMPLETED:
            shift.completed += 1
            if body.get("Result") == "Failed":
                shift.failed += 1
            started = shift.open_work.pop(str(body.get("TransactionID") or ""), None)
            if started is not None and at >= started:
                cycle = at - started
                shift.cycles.append(cycle)
                shift.best_cycle = cycle if shift.best_cycle is None else min(shift.best_cycle, cycle)
        else:  # inspected or tested: one verdict per unit and transaction
            units = body.get("InspectedUnits" if name == _INSPECTED else "TestedUnits") or []
            tx = str(body.get("TransactionId") or body.get("TransactionID") or "")
            tx = tx if tx.strip("0-") else ""  # the nil UUID: no transaction to match a re-result by
            for unit in units:
                if not isinstance(unit, dict) or unit.get("OverallResult") not in ("Passed", "Failed"):
                    continue
                position = unit.get("UnitPositionNumber")
                key = (
                    tx,
                    str(unit.get("UnitIdentifier") or ""),
                    position if isinstance(position, int) else 0,
                )
                shift.verdict(key, unit["OverallResult"] == "Passed")

    def _alarm(self, name: str, source: str, body: dict[str, Any], at: float) -> None:
        if name == _OCCURRED:
            fault = body.get("Fault") or {}
            occurrence = str(fault.get("FaultOccurrenceId") or "")
            if not occurrence or occurrence in self.alarms:
                return
            self.alarms[occurrence] = Alarm(
                source=source,
                occurrence_id=occurrence,
                code=fault.get("FaultCode"),
                severity=fault.get("Severity"),
                description=fault.get("Description"),
                occurred_at=at,
            )
            while len(self.alarms) > MAX_ALARMS:
                self.alarms.popitem(last=False)
            return
        alarm = self.alarms.get(str(body.get("FaultOccurrenceId") or ""))
        if alarm is None:
            return  # raised before the shift's history began, or forgotten
        if name == _ACKNOWLEDGED and alarm.acknowledged_at is None:
            operator = body.get("Operator") or {}
            alarm.acknowledged_at = at
            alarm.acknowledged_by = operator.get("LoginName") or operator.get("OperatorIdentifier")
        elif name == _CLEARED and alarm.cleared_at is None:
            alarm.cleared_at = at

    def machine_view(self, source: str, now: float) -> dict[str, Any]:
        """The figures of one machine (by its CFX handle)."""
        return self.machines[source].view(now)

    def alarm_list(self) -> list[dict[str, Any]]:
        """The alarm history, newest first."""
        return [alarm.view() for alarm in reversed(self.alarms.values())]

    def line_view(self, sources: list[str], now: float) -> dict[str, Any]:
        """The line's figures: boards out of its last machine and the rolled throughput yield
        (the product of every inspecting machine's first-pass yield)."""
        views = [self.machine_view(source, now) for source in sources]
        rolled: float | None = None
        for view in views:
            fpy = view["first_pass_yield"]
            if fpy is not None:
                rolled = fpy if rolled is None else rolled * fpy
        return {
            "started": self.started_at,
            "boards_out": views[-1]["boards_completed"] if views else 0,
            "rolled_throughput_yield": _ratio(rolled),
            "active_alarms": sum(1 for alarm in self.alarms.values() if alarm.cleared_at is None),
            "unacknowledged_alarms": sum(
                1 for a in self.alarms.values() if a.cleared_at is None and a.acknowledged_at is None
            ),
        }


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _iso(at: float | None) -> str | None:
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).isoformat()


__all__ = ["CATEGORIES", "MAX_ALARMS", "Alarm", "MachineShift", "ShiftTracker"]
