"""``CFX.Production.Processing`` and the process-data structures it carries (cfx.md §3.3).

``UnitsProcessed.CommonProcessData`` and ``ProcessedUnit.UnitProcessData`` are polymorphic
(TypeNameHandling.Auto): a subclass value is written with ``$type`` first; a plain ``ProcessData``
is written without. Reflow zones are declared ``ReflowZone`` in ``ReflowZoneData`` and so carry no
``$type``; their own member (``ReflowZoneType``) comes before the Stage members (C# order).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import msgspec

from protocols.cfx.enums import (
    CoatingMeasurementType,
    CoatingNozzleType,
    ProcessingResult,
    ReflowReadingType,
    ReflowSetpointType,
    ReflowSubZoneType,
    ReflowZoneType,
    StageType,
    TestResult,
)
from protocols.cfx.messages.base import (
    CFXMessage,
    CFXStruct,
    coerce_times,
    message,
    structure,
    subclass_of,
    type_tag,
)
from protocols.cfx.messages.structures import ProcessData

if TYPE_CHECKING:
    Span = timedelta
else:
    from protocols.cfx.timefmt import TimeSpan as Span  # runtime type: written in .NET "c" format


def _zero() -> timedelta:
    return Span(0)


# --- reflow (CFX.Structures.SolderReflow) ---------------------------------------------------


@structure("CFX.Structures.SolderReflow.ReflowZone")
class ReflowZone(CFXStruct, frozen=True, kw_only=True):
    """A reflow oven zone: a Stage with ``ReflowZoneType`` (written first)."""

    reflow_zone_type: ReflowZoneType = ReflowZoneType.PRE_HEAT
    stage_sequence: int = 0
    stage_name: str | None = None
    stage_type: StageType = StageType.WORK


@structure("CFX.Structures.SolderReflow.ReflowSetPoint")
class ReflowSetPoint(CFXStruct, frozen=True, kw_only=True):
    """A zone setpoint (°C for temperatures)."""

    sub_zone: ReflowSubZoneType = ReflowSubZoneType.WHOLE_ZONE
    setpoint_type: ReflowSetpointType = ReflowSetpointType.TEMPERATURE
    setpoint: float | None = None


@structure("CFX.Structures.SolderReflow.ReflowReading")
class ReflowReading(CFXStruct, frozen=True, kw_only=True):
    """A zone reading."""

    sub_zone: ReflowSubZoneType = ReflowSubZoneType.WHOLE_ZONE
    reading_type: ReflowReadingType = ReflowReadingType.TEMPERATURE
    reading_value: float | None = None


@structure("CFX.Structures.SolderReflow.ReflowZoneData")
class ReflowZoneData(CFXStruct, frozen=True, kw_only=True):
    """One zone's setpoints and readings."""

    zone: ReflowZone | None = None
    setpoints: list[ReflowSetPoint] | None = None
    readings: list[ReflowReading] = msgspec.field(default_factory=list)


@subclass_of(ProcessData)
class ReflowProcessData(
    CFXStruct,
    frozen=True,
    kw_only=True,
    tag_field="$type",
    tag=type_tag("CFX.Structures.SolderReflow.ReflowProcessData"),
):
    """Reflow oven process data: conveyor speed and per-zone data."""

    conveyor_speed: float = 0.0
    conveyor_speed_setpoint: float = 0.0
    zone_data: list[ReflowZoneData] = msgspec.field(default_factory=list)


# --- selective solder (CFX.Structures.SolderApplication) ------------------------------------


@structure("CFX.Structures.SolderApplication.ZoneData")
class ZoneData(CFXStruct, frozen=True, kw_only=True):
    """Selective solder per-zone data; the SDK's member names contain underscores."""

    stage_sequence: int = 0
    process_time: Span = msgspec.field(default_factory=_zero)
    bottle1_pressure: float = msgspec.field(default=0.0, name="Bottle1_Pressure")
    bottle2_pressure: float = msgspec.field(default=0.0, name="Bottle2_Pressure")
    flux_volume: float = msgspec.field(default=0.0, name="Flux_Volume")
    top_preheater_power: float = msgspec.field(default=0.0, name="Top_Preheater_Power")
    top_preheater_soak: float = msgspec.field(default=0.0, name="Top_Preheater_Soak")
    top_preheater_temp: float = msgspec.field(default=0.0, name="Top_Preheater_Temp")
    top_preheater_time: Span = msgspec.field(default_factory=_zero, name="Top_Preheater_Time")
    bot_preheater_power: float = msgspec.field(default=0.0, name="Bot_Preheater_Power")
    bot_preheater_soak: float = msgspec.field(default=0.0, name="Bot_Preheater_Soak")
    bot_preheater_temp: float = msgspec.field(default=0.0, name="Bot_Preheater_Temp")
    bot_preheater_time: Span = msgspec.field(default_factory=_zero, name="Bot_Preheater_Time")
    bath_temp: float = msgspec.field(default=0.0, name="Bath_Temp")
    bath_wave_enabled: bool = msgspec.field(default=False, name="Bath_Wave_Enabled")
    bath_wave_hgt: float = msgspec.field(default=0.0, name="Bath_Wave_Hgt")
    solder_quantity_used: float = msgspec.field(default=0.0, name="Solder_Quantity_Used")
    fid_x_correction: float = msgspec.field(default=0.0, name="Fid_XCorrection")
    fid_y_correction: float = msgspec.field(default=0.0, name="Fid_YCorrection")

    def __post_init__(self) -> None:
        coerce_times(self, "process_time", "top_preheater_time", "bot_preheater_time")


@subclass_of(ProcessData)
class SelectiveSolderProcessData(
    CFXStruct,
    frozen=True,
    kw_only=True,
    tag_field="$type",
    tag=type_tag("CFX.Structures.SolderApplication.SelectiveSolderProcessData"),
):
    """Selective solder data common to all units of a transaction."""

    process_status: str | None = msgspec.field(default=None, name="Process_Status")
    recipe_name: str | None = None
    nitrogen_pressure: float = msgspec.field(default=0.0, name="Nitrogen_Pressure")
    air_pressure: float = msgspec.field(default=0.0, name="Air_Pressure")
    cycle_count: int = msgspec.field(default=0, name="Cycle_Count")
    cycle_time: Span = msgspec.field(default_factory=_zero, name="Cycle_Time")
    nitrogen_purity: float = msgspec.field(default=0.0, name="Nitrogen_Purity")
    nitrogen_flow: float = msgspec.field(default=0.0, name="Nitrogen_Flow")
    fiducial_enabled: bool = msgspec.field(default=False, name="Fiducial_Enabled")

    def __post_init__(self) -> None:
        coerce_times(self, "cycle_time")


@subclass_of(ProcessData)
class SelectiveSolderPCBProcessData(
    CFXStruct,
    frozen=True,
    kw_only=True,
    tag_field="$type",
    tag=type_tag("CFX.Structures.SolderApplication.SelectiveSolderPCBProcessData"),
):
    """Selective solder data of one unit."""

    zone_data: list[ZoneData] | None = msgspec.field(default_factory=list)


@structure("CFX.Structures.SolderApplication.SelectiveSolderData")
class SelectiveSolderData(CFXStruct, frozen=True, kw_only=True):
    """Header data of PCBSelectiveSoldered (the members of SelectiveSolderProcessData)."""

    process_status: str | None = msgspec.field(default=None, name="Process_Status")
    recipe_name: str | None = None
    nitrogen_pressure: float = msgspec.field(default=0.0, name="Nitrogen_Pressure")
    air_pressure: float = msgspec.field(default=0.0, name="Air_Pressure")
    cycle_count: int = msgspec.field(default=0, name="Cycle_Count")
    cycle_time: Span = msgspec.field(default_factory=_zero, name="Cycle_Time")
    nitrogen_purity: float = msgspec.field(default=0.0, name="Nitrogen_Purity")
    nitrogen_flow: float = msgspec.field(default=0.0, name="Nitrogen_Flow")
    fiducial_enabled: bool = msgspec.field(default=False, name="Fiducial_Enabled")

    def __post_init__(self) -> None:
        coerce_times(self, "cycle_time")


@structure("CFX.Structures.SolderApplication.SelectiveSolderedPCB")
class SelectiveSolderedPCB(CFXStruct, frozen=True, kw_only=True):
    """One soldered unit of PCBSelectiveSoldered."""

    unit_identifier: str | None = None
    unit_position_number: int | None = None
    zone_data: list[ZoneData] | None = msgspec.field(default_factory=list)


# --- conformal coating (CFX.Structures.Coating) ---------------------------------------------


@structure("CFX.Structures.Coating.CoatingNozzle")
class CoatingNozzle(CFXStruct, frozen=True, kw_only=True):
    """A coating nozzle: a Stage with ``CoatingNozzleType`` (written first)."""

    coating_nozzle_type: CoatingNozzleType = CoatingNozzleType.JETTER
    stage_sequence: int = 0
    stage_name: str | None = None
    stage_type: StageType = StageType.WORK


@structure("CFX.Structures.Coating.CoatingMeasurement")
class CoatingMeasurement(CFXStruct, frozen=True, kw_only=True):
    """A coating measurement: own members first, then the Measurement members."""

    measurement_type: CoatingMeasurementType = CoatingMeasurementType.FLUID_PRESSURE
    actual_value: float | None = None
    expected_value: float | None = None
    min_acceptable_value: float | None = None
    max_acceptable_value: float | None = None
    axis: str | None = None
    fluid_pressure: int = 0
    nozzle_width: int = 0
    unique_identifier: str | None = None
    measurement_name: str | None = None
    time_recorded: datetime | None = None
    sequence: int = 0
    result: TestResult = TestResult.PASSED
    crds: str | None = msgspec.field(default=None, name="CRDs")

    def __post_init__(self) -> None:
        coerce_times(self, "time_recorded")


@structure("CFX.Structures.Coating.CoatingNozzleData")
class CoatingNozzleData(CFXStruct, frozen=True, kw_only=True):
    """Readings of one nozzle [v1.5]."""

    nozzle: CoatingNozzle | None = None
    nozzle_readings: list[CoatingMeasurement] | None = msgspec.field(default_factory=list)


@subclass_of(ProcessData)
class CoatingProcessData(
    CFXStruct,
    frozen=True,
    kw_only=True,
    tag_field="$type",
    tag=type_tag("CFX.Structures.Coating.CoatingProcessData"),
):
    """Conformal coating data of one unit."""

    readings: list[CoatingMeasurement] | None = msgspec.field(default_factory=list)
    nozzle: list[CoatingNozzleData] | None = msgspec.field(default_factory=list)


if TYPE_CHECKING:
    AnyProcessData = (
        ProcessData
        | ReflowProcessData
        | SelectiveSolderProcessData
        | SelectiveSolderPCBProcessData
        | CoatingProcessData
    )
else:
    # msgspec's fast path takes the tagged subclasses; a base ProcessData goes the lenient way.
    AnyProcessData = (
        ReflowProcessData | SelectiveSolderProcessData | SelectiveSolderPCBProcessData | CoatingProcessData
    )


@structure("CFX.Structures.ProcessedUnit")
class ProcessedUnit(CFXStruct, frozen=True, kw_only=True):
    """One unit's result and process data."""

    unit_identifier: str | None = None
    unit_position_number: int | None = None
    unit_result: ProcessingResult = ProcessingResult.SUCCEEDED
    unit_process_data: AnyProcessData | None = None


@message
class UnitsProcessed(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Production.Processing.UnitsProcessed")
):
    """Process data of a work transaction; note ``TransactionId`` with "Id" (cfx.md §1.2)."""

    transaction_id: uuid.UUID = msgspec.field(default_factory=lambda: uuid.UUID(int=0))
    overall_result: ProcessingResult = ProcessingResult.SUCCEEDED
    common_process_data: AnyProcessData | None = None
    unit_process_data: list[ProcessedUnit] = msgspec.field(default_factory=list)


@message
class PCBSelectiveSoldered(
    CFXMessage,
    frozen=True,
    kw_only=True,
    tag=type_tag("CFX.Production.Application.Solder.PCBSelectiveSoldered"),
):
    """Selective soldering of a transaction's units; ``TransactionId`` with "Id"."""

    transaction_id: uuid.UUID = msgspec.field(default_factory=lambda: uuid.UUID(int=0))
    header_data: SelectiveSolderData | None = None
    soldered_pcbs: list[SelectiveSolderedPCB] | None = msgspec.field(default=None, name="SolderedPCBs")


__all__ = [
    "AnyProcessData",
    "CoatingMeasurement",
    "CoatingNozzle",
    "CoatingNozzleData",
    "CoatingProcessData",
    "PCBSelectiveSoldered",
    "ProcessedUnit",
    "ReflowProcessData",
    "ReflowReading",
    "ReflowSetPoint",
    "ReflowZone",
    "ReflowZoneData",
    "SelectiveSolderData",
    "SelectiveSolderPCBProcessData",
    "SelectiveSolderProcessData",
    "SelectiveSolderedPCB",
    "UnitsProcessed",
    "ZoneData",
]
