"""``CFX.ResourcePerformance`` messages: states, faults, logs, energy, placement counts (cfx.md §3.4).

StationStateChanged and StageStateChanged are OptIn in the SDK: the helper properties
``OldE58State``/``NewE58State`` are not serialized and are not modelled as fields here.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from protocols.cfx.enums import LogImportance, ResourceState
from protocols.cfx.messages.base import CFXMessage, CFXStruct, coerce_times, message, structure, type_tag
from protocols.cfx.messages.processing import AnyProcessData
from protocols.cfx.messages.structures import AnyFault, Fault, Operator, RequestResult, Stage

if TYPE_CHECKING:
    Span = timedelta
else:
    from protocols.cfx.timefmt import TimeSpan as Span  # runtime type: written in .NET "c" format

RawObject = dict[str, Any]


def _min_time() -> datetime:
    # DateTime.MinValue, what a C# reader leaves in a missing DateTime; UTC so it can be written.
    return datetime(1, 1, 1, tzinfo=UTC)


@message
class StationStateChanged(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.ResourcePerformance.StationStateChanged")
):
    """The station's SEMI E10/E58 state changed; ``old_state_duration`` None means unknown."""

    old_state: ResourceState = ResourceState.NST
    old_state_duration: Span | None = None
    new_state: ResourceState = ResourceState.NST
    related_fault: Fault | None = None

    def __post_init__(self) -> None:
        coerce_times(self, "old_state_duration")


@message
class StageStateChanged(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.ResourcePerformance.StageStateChanged")
):
    """One stage's state changed."""

    stage: Stage | None = None
    lane: int | None = None
    old_state: ResourceState = ResourceState.NST
    old_state_duration: Span | None = None
    new_state: ResourceState = ResourceState.NST
    related_fault: Fault | None = None

    def __post_init__(self) -> None:
        coerce_times(self, "old_state_duration")


@message
class FaultOccurred(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.ResourcePerformance.FaultOccurred")
):
    """A fault occurred; a subclass fault (ReflowOvenFault, SMTPlacementFault) carries ``$type``."""

    fault: AnyFault | None = None


@message
class FaultAcknowledged(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.ResourcePerformance.FaultAcknowledged")
):
    """An operator acknowledged a fault."""

    fault_occurrence_id: uuid.UUID = msgspec.field(default_factory=lambda: uuid.UUID(int=0))
    operator: Operator | None = None


@message
class FaultCleared(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.ResourcePerformance.FaultCleared")
):
    """A fault was cleared; ``FaultOccurrenceId`` with "Id"."""

    fault_occurrence_id: uuid.UUID = msgspec.field(default_factory=lambda: uuid.UUID(int=0))
    operator: Operator | None = None


@message
class GetActiveFaultsRequest(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.ResourcePerformance.GetActiveFaultsRequest")
):
    """Asks for the active faults (REQ); the body is empty."""


@message
class GetActiveFaultsResponse(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.ResourcePerformance.GetActiveFaultsResponse")
):
    """Answer to GetActiveFaultsRequest."""

    result: RequestResult = msgspec.field(default_factory=RequestResult)
    active_faults: list[Fault] | None = msgspec.field(default_factory=list)


@message
class LogEntryRecorded(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.ResourcePerformance.LogEntryRecorded")
):
    """A log entry; ``additional_data`` (polymorphic, v1.4) is kept as a raw JSON object."""

    information_id: str | None = None
    message: str | None = None
    importance: LogImportance = LogImportance.DEBUG
    lane: int | None = None
    stage: Stage | None = None
    additional_data: RawObject | None = None


@message
class StationOffline(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.ResourcePerformance.StationOffline")
):
    """The station goes offline (empty body)."""


@message
class StationOnline(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.ResourcePerformance.StationOnline")
):
    """The station is back online after ``offline_duration``."""

    offline_duration: Span | None = None

    def __post_init__(self) -> None:
        coerce_times(self, "offline_duration")


@structure("CFX.ResourcePerformance.ConsumptionDetail")
class ConsumptionDetail(CFXStruct, frozen=True, kw_only=True):
    """Energy of one subsystem [v2.1]: ``SubsystemName`` first, then the EnergyConsumed members."""

    subsystem_name: str | None = None
    start_time: datetime = msgspec.field(default_factory=_min_time)
    end_time: datetime = msgspec.field(default_factory=_min_time)
    energy_used: float = 0.0
    peak_power: float = 0.0
    minimum_power: float = 0.0
    mean_power: float = 0.0
    power_now: float = 0.0
    power_factor_now: float = 0.0
    peak_current: float = 0.0
    minimum_current: float = 0.0
    mean_current: float = 0.0
    current_now: float = 0.0
    peak_voltage: float = 0.0
    minimum_voltage: float = 0.0
    mean_voltage: float = 0.0
    voltage_now: float = 0.0
    peak_frequency: float = 0.0
    minimum_frequency: float = 0.0
    mean_frequency: float = 0.0
    frequency_now: float = 0.0
    peak_power_ryb: list[float] | None = None
    minimum_power_ryb: list[float] | None = None
    mean_power_ryb: list[float] | None = None
    power_now_ryb: list[float] | None = None
    power_factor_now_ryb: list[float] | None = None
    peak_current_ryb: list[float] | None = None
    minimum_current_ryb: list[float] | None = None
    mean_current_ryb: list[float] | None = None
    current_now_ryb: list[float] | None = None
    peak_voltage_ryb: list[float] | None = None
    minimum_voltage_ryb: list[float] | None = None
    mean_voltage_ryb: list[float] | None = None
    voltage_now_ryb: list[float] | None = None
    three_phase_neutral_current_now: float = 0.0
    consumption_details: list[ConsumptionDetail] | None = None

    def __post_init__(self) -> None:
        coerce_times(self, "start_time", "end_time")


@message
class EnergyConsumed(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.ResourcePerformance.EnergyConsumed")
):
    """Energy used over an interval: kWh, W, A, V, Hz; ``...RYB`` lists per phase [v1.3]."""

    start_time: datetime = msgspec.field(default_factory=_min_time)
    end_time: datetime = msgspec.field(default_factory=_min_time)
    energy_used: float = 0.0
    peak_power: float = 0.0
    minimum_power: float = 0.0
    mean_power: float = 0.0
    power_now: float = 0.0
    power_factor_now: float = 0.0
    peak_current: float = 0.0
    minimum_current: float = 0.0
    mean_current: float = 0.0
    current_now: float = 0.0
    peak_voltage: float = 0.0
    minimum_voltage: float = 0.0
    mean_voltage: float = 0.0
    voltage_now: float = 0.0
    peak_frequency: float = 0.0
    minimum_frequency: float = 0.0
    mean_frequency: float = 0.0
    frequency_now: float = 0.0
    peak_power_ryb: list[float] | None = None
    minimum_power_ryb: list[float] | None = None
    mean_power_ryb: list[float] | None = None
    power_now_ryb: list[float] | None = None
    power_factor_now_ryb: list[float] | None = None
    peak_current_ryb: list[float] | None = None
    minimum_current_ryb: list[float] | None = None
    mean_current_ryb: list[float] | None = None
    current_now_ryb: list[float] | None = None
    peak_voltage_ryb: list[float] | None = None
    minimum_voltage_ryb: list[float] | None = None
    mean_voltage_ryb: list[float] | None = None
    voltage_now_ryb: list[float] | None = None
    three_phase_neutral_current_now: float = 0.0
    consumption_details: list[ConsumptionDetail] | None = None

    def __post_init__(self) -> None:
        coerce_times(self, "start_time", "end_time")


@message
class ProcessDataRecorded(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.ResourcePerformance.ProcessDataRecorded")
):
    """Process data not tied to a unit [v1.5]."""

    process_data: AnyProcessData | None = None


@message
class ComponentsPlaced(
    CFXMessage,
    frozen=True,
    kw_only=True,
    tag=type_tag("CFX.ResourcePerformance.SMTPlacement.ComponentsPlaced"),
):
    """Placement counts over an interval."""

    start_time: datetime = msgspec.field(default_factory=_min_time)
    end_time: datetime = msgspec.field(default_factory=_min_time)
    total_components_placed: int = 0
    total_components_not_placed: int = 0

    def __post_init__(self) -> None:
        coerce_times(self, "start_time", "end_time")


__all__ = [
    "ComponentsPlaced",
    "ConsumptionDetail",
    "EnergyConsumed",
    "FaultAcknowledged",
    "FaultCleared",
    "FaultOccurred",
    "GetActiveFaultsRequest",
    "GetActiveFaultsResponse",
    "LogEntryRecorded",
    "ProcessDataRecorded",
    "StageStateChanged",
    "StationOffline",
    "StationOnline",
    "StationStateChanged",
]
