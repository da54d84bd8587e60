"""Common CFX structures (``CFX.Structures``; cfx.md §3.1, §3.5, §2.6).

Field order is the SDK's property order; optional members default as a C# receiver fills them
(cfx.md §1.2: 0, false, null, ``Guid.Empty``). Structures linegate does not model member by member
(``ResourceLocation``, ``HermesInformation``, electrical tests, ...) are carried as raw JSON objects.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec

from protocols.cfx.enums import (
    AccessType,
    ActorType,
    FaultCause,
    FaultSeverity,
    OperatingSystem,
    OperatingSystemPlatform,
    PerformanceImpactCause,
    ReflowOvenFaultType,
    SideLocation,
    SMTPlacementFaultType,
    StageType,
    StatusResult,
    TopicSupportType,
    UnitStatus,
)
from protocols.cfx.messages.base import CFXStruct, coerce_times, structure, subclass_of, type_tag

NIL_UUID = uuid.UUID(int=0)  # Guid.Empty, what a C# receiver puts in a missing Guid member
RawObject = dict[str, Any]


def _now() -> datetime:
    # The C# constructor's default (DateTime.Now), which also fills a member missing on input.
    return datetime.now().astimezone()


@structure("CFX.Structures.RequestResult")
class RequestResult(CFXStruct, frozen=True, kw_only=True):
    """Outcome of a request: ``{Result, ResultCode, Message}``."""

    result: StatusResult = StatusResult.SUCCESS
    result_code: int = 0
    message: str | None = None


@structure("CFX.Structures.Stage")
class Stage(CFXStruct, frozen=True, kw_only=True):
    """A stage (zone, module) of a station."""

    stage_sequence: int = 0
    stage_name: str | None = None
    stage_type: StageType = StageType.WORK


@structure("CFX.Structures.WorkOrderIdentifier")
class WorkOrderIdentifier(CFXStruct, frozen=True, kw_only=True):
    """``{WorkOrderId, Batch}``."""

    work_order_id: str | None = None
    batch: str | None = None


@structure("CFX.Structures.Operator")
class Operator(CFXStruct, frozen=True, kw_only=True):
    """A person or system acting on the station."""

    operator_identifier: str | None = None
    actor_type: ActorType = ActorType.HUMAN
    last_name: str | None = None
    first_name: str | None = None
    login_name: str | None = None


@structure("CFX.Structures.UnitPosition")
class UnitPosition(CFXStruct, frozen=True, kw_only=True):
    """A unit (board or panel position) in a transaction; X/Y in mm, rotation in degrees."""

    unit_identifier: str | None = None
    position_number: int = 0
    position_name: str | None = None
    x: float = 0.0
    y: float = 0.0
    z: float | None = None
    rotation: float = 0.0
    flip_x: bool = False
    flip_y: bool = False
    status: UnitStatus = UnitStatus.PASS


@structure("CFX.Structures.PerformanceImpact")
class PerformanceImpact(CFXStruct, frozen=True, kw_only=True):
    """``{Cause}`` of a slower-than-expected transaction."""

    cause: PerformanceImpactCause = PerformanceImpactCause.ALTERNATIVE_TRACK_USED


@structure("CFX.Structures.Fault")
class Fault(CFXStruct, frozen=True, kw_only=True):
    """A fault; ``fault_occurrence_id`` links FaultOccurred, FaultAcknowledged and FaultCleared."""

    transaction_id: uuid.UUID | None = msgspec.field(default=None, name="TransactionID")
    cause: FaultCause = FaultCause.MECHANICAL_FAILURE
    severity: FaultSeverity = FaultSeverity.INFORMATION
    fault_code: str | None = None
    fault_occurrence_id: uuid.UUID = msgspec.field(default_factory=uuid.uuid4)
    lane: int | None = None
    stage: Stage | None = None
    side_location: SideLocation = SideLocation.UNKNOWN
    access_type: AccessType = AccessType.UNKNOWN
    description: str | None = None
    description_translations: dict[str, str] | None = msgspec.field(default_factory=dict)
    occurred_at: datetime = msgspec.field(default_factory=_now)
    due_date_time: datetime | None = None

    def __post_init__(self) -> None:
        coerce_times(self, "occurred_at", "due_date_time")


@subclass_of(Fault)
class ReflowOvenFault(
    CFXStruct,
    frozen=True,
    kw_only=True,
    tag_field="$type",
    tag=type_tag("CFX.Structures.SolderReflow.ReflowOvenFault"),
):
    """A reflow oven fault: ``ReflowOvenFaultType`` first, then the Fault members (C# order)."""

    reflow_oven_fault_type: ReflowOvenFaultType = ReflowOvenFaultType.LOW_BELT_SPEED
    transaction_id: uuid.UUID | None = msgspec.field(default=None, name="TransactionID")
    cause: FaultCause = FaultCause.MECHANICAL_FAILURE
    severity: FaultSeverity = FaultSeverity.INFORMATION
    fault_code: str | None = None
    fault_occurrence_id: uuid.UUID = msgspec.field(default_factory=uuid.uuid4)
    lane: int | None = None
    stage: Stage | None = None
    side_location: SideLocation = SideLocation.UNKNOWN
    access_type: AccessType = AccessType.UNKNOWN
    description: str | None = None
    description_translations: dict[str, str] | None = msgspec.field(default_factory=dict)
    occurred_at: datetime = msgspec.field(default_factory=_now)
    due_date_time: datetime | None = None

    def __post_init__(self) -> None:
        coerce_times(self, "occurred_at", "due_date_time")


@structure("CFX.Structures.ComponentDesignator")
class ComponentDesignator(CFXStruct, frozen=True, kw_only=True):
    """A placed component's reference designator and the unit it belongs to."""

    reference_designator: str | None = None
    unit_position: UnitPosition | None = None
    part_number: str | None = None


@structure("CFX.Structures.SMTPlacement.SMTHeadAndNozzle")
class SMTHeadAndNozzle(CFXStruct, frozen=True, kw_only=True):
    """A placement head and nozzle (a Tool: own members first, then UniqueIdentifier, Name)."""

    head_id: str | None = None
    head_nozzle_number: int | None = None
    nozzle_type: str | None = None
    unique_identifier: str | None = None
    name: str | None = None


@structure("CFX.Structures.MaterialPackage")
class MaterialPackage(CFXStruct, frozen=True, kw_only=True):
    """A package of material (reel, tray, tube, paste jar)."""

    unique_identifier: str | None = None
    internal_part_number: str | None = None
    internal_package_name: str | None = None
    quantity: float = 0.0
    leading_material_package: MaterialPackage | None = None
    batch_id: str | None = None
    batch_material_package: MaterialPackage | None = None
    grey_zone: float = 0.0


@structure("CFX.Structures.MaterialCarrier")
class MaterialCarrier(CFXStruct, frozen=True, kw_only=True):
    """A carrier of material (feeder, tray holder)."""

    unique_identifier: str | None = None
    name: str | None = None
    parent_carrier: MaterialCarrier | None = None


@subclass_of(MaterialCarrier)
class SMDTapeFeeder(
    CFXStruct,
    frozen=True,
    kw_only=True,
    tag_field="$type",
    tag=type_tag("CFX.Structures.SMTPlacement.SMDTapeFeeder"),
):
    """A tape feeder: its own members first, then the MaterialCarrier members (C# order)."""

    base_unique_identifier: str | None = None
    base_name: str | None = None
    lane_number: int = 1
    tape_width: float = 0.0
    tape_pitch: float = 0.0
    unique_identifier: str | None = None
    name: str | None = None
    parent_carrier: MaterialCarrier | None = None


@subclass_of(MaterialCarrier)
class SMDTubeFeeder(
    CFXStruct,
    frozen=True,
    kw_only=True,
    tag_field="$type",
    tag=type_tag("CFX.Structures.SMTPlacement.SMDTubeFeeder"),
):
    """A tube (stick) feeder: its own members first, then the MaterialCarrier members."""

    base_unique_identifier: str | None = None
    base_name: str | None = None
    lane_number: int = 0
    width: float = 0.0
    pitch: float = 0.0
    unique_identifier: str | None = None
    name: str | None = None
    parent_carrier: MaterialCarrier | None = None


if TYPE_CHECKING:
    AnyMaterialCarrier = MaterialCarrier | SMDTapeFeeder | SMDTubeFeeder
else:
    # msgspec's fast path decodes only tagged values in a polymorphic slot (a union of two or more
    # tagged Structs, so "$type" is required); a base value takes the lenient path, which resolves
    # it through POLYMORPHIC_BASE.
    AnyMaterialCarrier = SMDTapeFeeder | SMDTubeFeeder


@structure("CFX.Structures.MaterialLocation")
class MaterialLocation(CFXStruct, frozen=True, kw_only=True):
    """Where a material package sits, and in which carrier (polymorphic, with ``$type``)."""

    resource_location: RawObject | None = None
    location_identifier: str | None = None
    location_name: str | None = None
    material_package: MaterialPackage | None = None
    carrier_information: AnyMaterialCarrier | None = None


@subclass_of(Fault)
class SMTPlacementFault(
    CFXStruct,
    frozen=True,
    kw_only=True,
    tag_field="$type",
    tag=type_tag("CFX.Structures.SMTPlacement.SMTPlacementFault"),
):
    """A placement fault: its own members first, then the Fault members (C# order)."""

    placement_fault_type: SMTPlacementFaultType = SMTPlacementFaultType.PICKUP_ERROR
    program_step: int = 0
    designator: ComponentDesignator | None = msgspec.field(default_factory=ComponentDesignator)
    material_location: MaterialLocation | None = msgspec.field(default_factory=MaterialLocation)
    head_and_nozzle: SMTHeadAndNozzle | None = msgspec.field(default_factory=SMTHeadAndNozzle)
    number_of_tries_before_error: int = 0
    reference_part_number: str | None = None
    transaction_id: uuid.UUID | None = msgspec.field(default=None, name="TransactionID")
    cause: FaultCause = FaultCause.MECHANICAL_FAILURE
    severity: FaultSeverity = FaultSeverity.INFORMATION
    fault_code: str | None = None
    fault_occurrence_id: uuid.UUID = msgspec.field(default_factory=uuid.uuid4)
    lane: int | None = None
    stage: Stage | None = None
    side_location: SideLocation = SideLocation.UNKNOWN
    access_type: AccessType = AccessType.UNKNOWN
    description: str | None = None
    description_translations: dict[str, str] | None = msgspec.field(default_factory=dict)
    occurred_at: datetime = msgspec.field(default_factory=_now)
    due_date_time: datetime | None = None

    def __post_init__(self) -> None:
        coerce_times(self, "occurred_at", "due_date_time")


if TYPE_CHECKING:
    AnyFault = Fault | ReflowOvenFault | SMTPlacementFault
else:
    AnyFault = ReflowOvenFault | SMTPlacementFault


@structure("CFX.Structures.Recipe")
class Recipe(CFXStruct, frozen=True, kw_only=True):
    """A recipe; ``recipe_data`` is written as base64 (a C# ``byte[]``). Times in milliseconds."""

    name: str | None = None
    revision: str | None = None
    expected_cycle_time: float = 0.0
    expected_work_time: float | None = None
    expected_units_per_work_transaction: float = 0.0
    unit_length: float | None = None
    unit_width: float | None = None
    unit_height: float | None = None
    mime_type: str | None = None
    recipe_data: bytes | None = None


@structure("CFX.Structures.RecipeIdentifier")
class RecipeIdentifier(CFXStruct, frozen=True, kw_only=True):
    """``{RecipeName, Revision}``."""

    recipe_name: str | None = None
    revision: str | None = None


@structure("CFX.Structures.ActiveRecipe")
class ActiveRecipe(CFXStruct, frozen=True, kw_only=True):
    """A recipe active on a lane/stage, as listed in Heartbeat [v1.7]."""

    lane: int | None = None
    stage: Stage | None = None
    recipe_identifier: RecipeIdentifier | None = None
    recipe: Recipe | None = None


@structure("CFX.Structures.RecipeStageInformation")
class RecipeStageInformation(CFXStruct, frozen=True, kw_only=True):
    """Per-stage expectations of an activated recipe [v1.2]."""

    stage: Stage | None = None
    expected_cycle_time: float = 0.0
    expected_work_time: float | None = None
    number_of_components_per_unit: float = 0.0


@structure("CFX.Structures.SupportedTopic")
class SupportedTopic(CFXStruct, frozen=True, kw_only=True):
    """A topic an endpoint publishes or consumes."""

    topic_name: str | None = None
    topic_support_type: TopicSupportType = TopicSupportType.PUBLISHER
    supported_messages: list[str] | None = msgspec.field(default_factory=list)


@structure("CFX.Structures.StageInformation")
class StageInformation(CFXStruct, frozen=True, kw_only=True):
    """``{Stage}`` as listed in Endpoint.Stages."""

    stage: Stage | None = None


@structure("CFX.Structures.Endpoint")
class Endpoint(CFXStruct, frozen=True, kw_only=True):
    """Information about an endpoint (GetEndpointInformationResponse)."""

    cfx_handle: str | None = None
    cfx_version: str | None = "2.1"  # CFXEnvelope.CFXVERSION
    request_network_uri: str | None = None
    request_target_address: str | None = None
    unique_identifier: str | None = None
    friendly_name: str | None = None
    vendor: str | None = None
    model_number: str | None = None
    serial_number: str | None = None
    software_version: str | None = None
    firmware_version: str | None = None
    operating_system: OperatingSystem = OperatingSystem.OTHER
    operating_system_platform: OperatingSystemPlatform = OperatingSystemPlatform.OTHER
    operating_system_version: str | None = None
    stages: list[StageInformation] | None = msgspec.field(default_factory=list)
    number_of_lanes: int = 0
    hermes_information: RawObject | None = None
    operating_requirements: RawObject | None = None
    supported_topics: list[SupportedTopic] | None = msgspec.field(default_factory=list)
    supported_pcb_dimensions: RawObject | None = msgspec.field(default=None, name="SupportedPCBDimensions")
    sleep_states: list[RawObject] | None = None


@structure("CFX.Structures.ProcessData")
class ProcessData(CFXStruct, frozen=True, kw_only=True):
    """The (empty) base of all process data; subclasses carry ``$type``."""


@structure("CFX.Structures.MaterialCarrierLocation")
class MaterialCarrierLocation(CFXStruct, frozen=True, kw_only=True):
    """A carrier at a location (polymorphic carrier, with ``$type``)."""

    resource_location: RawObject | None = None
    location_identifier: str | None = None
    location_name: str | None = None
    carrier_information: AnyMaterialCarrier | None = None


@structure("CFX.Structures.InstalledComponent")
class InstalledComponent(CFXStruct, frozen=True, kw_only=True):
    """A component installed on a unit."""

    reference_designator: str | None = None
    installed_unit_identifier: str | None = None
    installation_time: datetime | None = None
    stage: Stage | None = None
    electrical_test: RawObject | None = None
    tests: RawObject | None = None

    def __post_init__(self) -> None:
        coerce_times(self, "installation_time")


@structure("CFX.Structures.InstalledMaterial")
class InstalledMaterial(CFXStruct, frozen=True, kw_only=True):
    """Material installed on a unit (MaterialsInstalled)."""

    unit_identifier: str | None = None
    unit_position_number: int | None = None
    quantity_installed: float = 0.0
    quantity_non_installed: float = 0.0
    material: MaterialPackage | None = None
    carrier_location: MaterialCarrierLocation | None = None
    installed_components: list[InstalledComponent] | None = msgspec.field(default_factory=list)
    non_installed_components: list[RawObject] | None = msgspec.field(default_factory=list)
    reference_part_number: str | None = None


__all__ = [
    "NIL_UUID",
    "ActiveRecipe",
    "AnyFault",
    "AnyMaterialCarrier",
    "ComponentDesignator",
    "Endpoint",
    "Fault",
    "InstalledComponent",
    "InstalledMaterial",
    "MaterialCarrier",
    "MaterialCarrierLocation",
    "MaterialLocation",
    "MaterialPackage",
    "Operator",
    "PerformanceImpact",
    "ProcessData",
    "Recipe",
    "RecipeIdentifier",
    "RecipeStageInformation",
    "ReflowOvenFault",
    "RequestResult",
    "SMDTapeFeeder",
    "SMDTubeFeeder",
    "SMTHeadAndNozzle",
    "SMTPlacementFault",
    "Stage",
    "StageInformation",
    "SupportedTopic",
    "UnitPosition",
    "WorkOrderIdentifier",
]
