"""CFX enumerations with the values the SDK writes (cfx.md §1.2, §3).

Members are UPPER_SNAKE; each value is the wire form. Most SDK enums carry ``StringEnumConverter``
and are written as their C# member name (``"PartialSuccess"``); those without it
(``OperatingSystem``, ``OperatingSystemPlatform``) are ``IntEnum`` and written as integers, their
C# declaration index. ``ResourceState`` is written as its SEMI E10/E58 code inside a string
(``"1100"``); ``resource_state_from_wire`` reads every form senders use.

The lenient reader matches names case-insensitively and also accepts integers (the C# declaration
index), as Newtonsoft's StringEnumConverter does; see ``enum_from_wire``.

String enums are ``StrEnum``: msgspec writes a str-based member about 3x faster than a plain
``Enum`` (it needs no ``.value`` lookup), which matters with ~100 enum values per reflow message.
"""

from __future__ import annotations

from enum import Enum, IntEnum, StrEnum
from typing import Any, TypeVar

E = TypeVar("E", bound=Enum)


class ResourceState(StrEnum):
    """``CFX.Structures.ResourceState``: SEMI E10 class and E58 sub-state, written as ``"<code>"``."""

    PRD = "1000"  # PRD
    PRD_REGULAR_WORK = "1100"  # PRD_RegularWork
    PRD_WORK_FOR_THIRD_PARTIES = "1200"  # PRD_WorkForThirdParties
    PRD_REWORK = "1300"  # PRD_Rework
    PRD_ENGINEERING = "1400"  # PRD_Engineering
    SBY = "2000"  # SBY
    SBY_NO_OPERATOR = "2100"  # SBY_NoOperator
    SBY_NO_PRODUCT = "2200"  # SBY_NoProduct
    SBY_NO_PRODUCT_BLOCKED = "2201"  # SBY_NoProductBlocked
    SBY_NO_PRODUCT_STARVED = "2202"  # SBY_NoProductStarved
    SBY_NO_SUPPORT_TOOL = "2300"  # SBY_NoSupportTool
    SBY_ASSOCIATED_CLUSTER_MODULE_DOWN = "2400"  # SBY_AssociatedClusterModuleDown
    SBY_NO_HOST = "2500"  # SBY_NoHost
    ENG = "3000"  # ENG
    ENG_PROCESS_EXPERIMENTS = "3100"  # ENG_ProcessExperiments
    ENG_EQUIPMENT_EXPERIMENTS = "3200"  # ENG_EquipmentExperiments
    SDT = "4000"  # SDT
    SDT_USER_MAINTENANCE_DELAY = "4100"  # SDT_UserMaintenanceDelay
    SDT_SUPPLIED_MAINTENANCE_DELAY = "4200"  # SDT_SuppliedMaintenanceDelay
    SDT_PREVENTIVE_MAINTENANCE = "4300"  # SDT_PreventiveMaintenance
    SDT_CHANGE_OF_CONSUMABLES = "4400"  # SDT_ChangeOfConsumables
    SDT_SETUP = "4500"  # SDT_Setup
    SDT_PRODUCTION_TEST = "4600"  # SDT_ProductionTest
    SDT_FACILITIES_RELATED = "4700"  # SDT_FacilitiesRelated
    USD = "5000"  # USD
    USD_USER_MAINTENTANCE_DELAY = "5100"  # USD_UserMaintentanceDelay
    USD_SUPPLIED_MAINTENANCE_DELAY = "5200"  # USD_SuppliedMaintenanceDelay
    USD_REPAIR = "5300"  # USD_Repair
    USD_OUT_OF_SPEC_INPUT_MATERIAL = "5400"  # USD_OutOfSpecInputMaterial
    USD_CHANGE_OF_CONSUMABLES = "5500"  # USD_ChangeOfConsumables
    USD_FACILITIES_RELATED = "5600"  # USD_FacilitiesRelated
    NST = "6000"  # NST
    NST_UNWORKED_SHIFTS = "6100"  # NST_UnworkedShifts
    NST_EQUIPMENT_INSTALLATION = "6200"  # NST_EquipmentInstallation
    NST_EQUIPMENT_MODIFICATIONS = "6300"  # NST_EquipmentModifications
    NST_OFFLINE_TRAINING = "6400"  # NST_OfflineTraining
    NST_SHUTDOWN_AND_STARTUP = "6500"  # NST_ShutdownAndStartup

    @property
    def code(self) -> int:
        """The numeric SEMI code (1100)."""
        return int(self.value)

    @property
    def sdk_name(self) -> str:
        """The C# member name (``PRD_RegularWork``)."""
        return _RESOURCE_STATE_NAMES[self]

    @property
    def e10_class(self) -> ResourceState:
        """The SEMI E10 class (code rounded down to thousands)."""
        return ResourceState(str(self.code // 1000 * 1000))


class AccessType(StrEnum):
    """``CFX.Structures.AccessType``."""

    UNKNOWN = "Unknown"
    IGNORE = "Ignore"
    LOCAL = "Local"
    REMOTE = "Remote"


class ActorType(StrEnum):
    """``CFX.Structures.ActorType``."""

    HUMAN = "Human"
    ROBOT = "Robot"
    REMOTE_SYSTEM = "RemoteSystem"


class CoatingMeasurementType(StrEnum):
    """``CFX.Structures.Coating.CoatingMeasurementType``."""

    FLUID_PRESSURE = "FluidPressure"
    FLUID_VOLUME = "FluidVolume"
    HEATER = "Heater"
    MONITOR = "Monitor"
    AXIS = "Axis"
    FLUIDWEIGHT = "Fluidweight"
    MATERIAL_LEVEL = "MaterialLevel"
    NOZZLE_WIDTH = "NozzleWidth"


class CoatingNozzleType(StrEnum):
    """``CFX.Structures.Coating.CoatingNozzleType``."""

    JETTER = "Jetter"
    DISPENSING = "Dispensing"
    CURTAIN = "Curtain"
    SPRAY = "Spray"
    DOSER = "Doser"


class OperatingSystem(IntEnum):
    """``CFX.Structures.OperatingSystem`` (no StringEnumConverter: written as an integer)."""

    OTHER = 0
    OTHER_EMBEDDED = 1
    WINDOWS_XP = 2
    WINDOWS7 = 3
    WINDOWS_VISTA = 4
    WINDOWS8 = 5
    WINDOWS10 = 6
    WINDOWS_SERVER2008 = 7
    WINDOWS_SERVER2008_R2 = 8
    WINDOWS_SERVER2012 = 9
    WINDOWS_SERVER2016 = 10
    WINDOWS_CE = 11
    WINDOWS_EMBEDDED = 12
    WINDOWS_COMPACT = 13
    WINDOWS_IO_T_CORE = 14
    UBUNTU_LINUX = 15
    FEDORA_LINUX = 16
    LINUX_MINT = 17
    OPEN_SUSE_LINUX = 18
    PC_LINUX_OS = 19
    DEBIAN_LINUX = 20
    OTHER_LINUX = 21
    APPLE_MAC_OS = 22
    APPLE_IOS = 23
    RASPBIAN = 24
    WINDOWS11 = 25


class OperatingSystemPlatform(IntEnum):
    """``CFX.Structures.OperatingSystemPlatform`` (no StringEnumConverter: written as an integer)."""

    OTHER = 0
    PLATFORM32BIT = 1
    PLATFORM64BIT = 2
    ARM32 = 3
    ARM64 = 4


class FaultCause(StrEnum):
    """``CFX.Structures.FaultCause``."""

    LOAD_ERROR = "LoadError"
    UNLOAD_ERROR = "UnloadError"
    AUTO_SAFETY_STOP = "AutoSafetyStop"
    SAFETY_STOP = "SafetyStop"
    QUALITY_CHECK = "QualityCheck"
    REMOTE_STOP = "RemoteStop"
    MECHANICAL_FAILURE = "MechanicalFailure"
    SOFTWARE_FAILURE = "SoftwareFailure"
    POWER_FAILURE = "PowerFailure"
    MISSING_DOCUMENTATION = "MissingDocumentation"
    REFILL = "Refill"
    MSD_EXPIRED = "MsdExpired"
    MATERIAL_EXPIRED = "MaterialExpired"
    MISSING_COMPONENT = "MissingComponent"
    ELECTRICAL_FAILURE = "ElectricalFailure"
    SERVICES_FAILURE = "ServicesFailure"
    PROCESS_ERROR = "ProcessError"
    REJECTED_COMPONENT = "RejectedComponent"


class FaultSeverity(StrEnum):
    """``CFX.Structures.FaultSeverity``."""

    INFORMATION = "Information"
    WARNING = "Warning"
    ERROR = "Error"
    ALARM = "Alarm"


class LogImportance(StrEnum):
    """``CFX.Structures.LogImportance``."""

    DEBUG = "Debug"
    INFORMATION = "Information"
    WARNING = "Warning"
    ERROR = "Error"
    FATAL = "Fatal"


class MaterialStatus(StrEnum):
    """``CFX.Structures.MaterialStatus``."""

    ACTIVE = "Active"
    BLOCKED = "Blocked"
    DEPLETED = "Depleted"


class PerformanceImpactCause(StrEnum):
    """``CFX.Structures.PerformanceImpactCause``."""

    ALTERNATIVE_TRACK_USED = "AlternativeTrackUsed"
    DEACTIVATED_SEGMENT_ON_HEAD = "DeactivatedSegmentOnHead"
    VISION_SYSTEM_DUMP_ALWAYS_ACTIVATED = "VisionSystemDumpAlwaysActivated"
    ADDITIONAL_IMAGE_ACQUISITION = "AdditionalImageAcquisition"
    LOW_FEEDER_SPEED = "LowFeederSpeed"
    GANG_PICK_NO_PARALLEL_PICK = "GangPickNoParallelPick"


class ProcessingResult(StrEnum):
    """``CFX.Structures.ProcessingResult``."""

    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ERROR = "Error"
    ABORTED = "Aborted"
    SKIPPED = "Skipped"


class RecipeModificationReason(StrEnum):
    """``CFX.Structures.RecipeModificationReason``."""

    UNSPECIFIED = "Unspecified"
    NEW_RECIPE = "NewRecipe"
    NEW_REVISION = "NewRevision"
    UPDATED_GEOMETRY = "UpdatedGeometry"
    UPDATED_BOM = "UpdatedBOM"
    POSITIONAL_CORRECTION = "PositionalCorrection"
    ROTATIONAL_CORRECTION = "RotationalCorrection"
    VISION_SYSTEM_CORRECTION = "VisionSystemCorrection"
    RECIPE_DELETED = "RecipeDeleted"


class SideLocation(StrEnum):
    """``CFX.Structures.SideLocation``."""

    UNKNOWN = "Unknown"
    RIGHT = "Right"
    LEFT = "Left"
    BOTH = "Both"


class ReflowOvenFaultType(StrEnum):
    """``CFX.Structures.SolderReflow.ReflowOvenFaultType``."""

    LOW_BELT_SPEED = "LowBeltSpeed"
    HIGH_BELT_SPEED = "HighBeltSpeed"


class ReflowReadingType(StrEnum):
    """``CFX.Structures.SolderReflow.ReflowReadingType``."""

    TEMPERATURE = "Temperature"
    O2 = "O2"
    POWER = "Power"
    POWER_LEVEL = "PowerLevel"
    VACUUM = "Vacuum"
    VACUUM_HOLD_TIME = "VacuumHoldTime"
    CONVECTION_RATE = "ConvectionRate"
    HOLD_TIME = "HoldTime"


class ReflowSetpointType(StrEnum):
    """``CFX.Structures.SolderReflow.ReflowSetpointType``."""

    TEMPERATURE = "Temperature"
    O2 = "O2"
    VACUUM = "Vacuum"
    VACUUM_HOLD_TIME = "VacuumHoldTime"
    HOLD_TIME = "HoldTime"
    POWER_LEVEL = "PowerLevel"
    LEVEL = "Level"
    POSITION = "Position"
    SLOPE = "Slope"


class ReflowZoneType(StrEnum):
    """``CFX.Structures.SolderReflow.ReflowZoneType``."""

    PRE_HEAT = "PreHeat"
    SOAK = "Soak"
    REFLOW = "Reflow"
    COOL = "Cool"
    PREPARE = "Prepare"
    VACUUM = "Vacuum"


class ReflowSubZoneType(StrEnum):
    """``CFX.Structures.SolderReflow.ReflowSubZoneType``."""

    WHOLE_ZONE = "WholeZone"
    TOP = "Top"
    BOTTOM = "Bottom"


class StageType(StrEnum):
    """``CFX.Structures.StageType``."""

    WORK = "Work"
    BUFFER = "Buffer"


class StatusResult(StrEnum):
    """``CFX.Structures.StatusResult``."""

    SUCCESS = "Success"
    PARTIAL_SUCCESS = "PartialSuccess"
    FAILED = "Failed"
    WARNING = "Warning"


class SupportedTopicQueryType(StrEnum):
    """``CFX.Structures.SupportedTopicQueryType``."""

    ALL = "All"
    ANY = "Any"
    IGNORE = "Ignore"


class Surface(StrEnum):
    """``CFX.Structures.Surface``."""

    UNSPECIFIED = "Unspecified"
    PRIMARY_SURFACE = "PrimarySurface"
    SECONDARY_SURFACE = "SecondarySurface"


class TestResult(StrEnum):
    """``CFX.Structures.TestResult``."""

    __test__ = False  # not a pytest test class, despite the name

    PASSED = "Passed"
    FAILED = "Failed"
    ERROR = "Error"
    ABORTED = "Aborted"
    SKIPPED = "Skipped"


class TopicSupportType(StrEnum):
    """``CFX.Structures.TopicSupportType``."""

    PUBLISHER = "Publisher"
    CONSUMER = "Consumer"
    PUBLISHER_CONSUMER = "PublisherConsumer"


class UnitStatus(StrEnum):
    """``CFX.Structures.UnitStatus``."""

    PASS = "Pass"
    FAIL = "Fail"
    SCRAP = "Scrap"
    SKIP = "Skip"


class WorkResult(StrEnum):
    """``CFX.Structures.WorkResult``."""

    COMPLETED = "Completed"
    FAILED = "Failed"
    ABORTED = "Aborted"
    SKIPPED = "Skipped"


class SMTPlacementFaultType(StrEnum):
    """``CFX.Structures.SMTPlacement.SMTPlacementFaultType``."""

    VACUUM_ERROR = "VacuumError"
    X_AXIS_ERROR = "XAxisError"
    Y_AXIS_ERROR = "YAxisError"
    Z_AXIS_ERROR = "ZAxisError"
    RECOGNITION_ERROR = "RecognitionError"
    PICKUP_ERROR = "PickupError"
    PLACEMENT_ERROR = "PlacementError"
    LIGHTING_ERROR = "LightingError"
    HEAD_ERROR = "HeadError"
    NOZZLE_ERROR = "NozzleError"
    COMPONENT_DROPPED = "ComponentDropped"
    PARTS_EXHAUST = "PartsExhaust"
    FIDUCIAL_ERROR = "FiducialError"
    PARTS_PARTIALLY_EXHAUST = "PartsPartiallyExhaust"
    LOW_QUANTITY = "LowQuantity"
    FEEDER_ERROR = "FeederError"


class LockReason(StrEnum):
    """``CFX.Structures.LockReason``."""

    QUALITY_ISSUE = "QualityIssue"
    PREVENTATIVE_MAINTENANCE = "PreventativeMaintenance"
    UNSCHEDULED_MAINTENANCE = "UnscheduledMaintenance"
    GENERAL_LOCK = "GeneralLock"


# The C# member names, for reading the name form ("PRD_RegularWork") and for messages.
_RESOURCE_STATE_NAMES: dict[ResourceState, str] = {
    ResourceState.PRD: "PRD",
    ResourceState.PRD_REGULAR_WORK: "PRD_RegularWork",
    ResourceState.PRD_WORK_FOR_THIRD_PARTIES: "PRD_WorkForThirdParties",
    ResourceState.PRD_REWORK: "PRD_Rework",
    ResourceState.PRD_ENGINEERING: "PRD_Engineering",
    ResourceState.SBY: "SBY",
    ResourceState.SBY_NO_OPERATOR: "SBY_NoOperator",
    ResourceState.SBY_NO_PRODUCT: "SBY_NoProduct",
    ResourceState.SBY_NO_PRODUCT_BLOCKED: "SBY_NoProductBlocked",
    ResourceState.SBY_NO_PRODUCT_STARVED: "SBY_NoProductStarved",
    ResourceState.SBY_NO_SUPPORT_TOOL: "SBY_NoSupportTool",
    ResourceState.SBY_ASSOCIATED_CLUSTER_MODULE_DOWN: "SBY_AssociatedClusterModuleDown",
    ResourceState.SBY_NO_HOST: "SBY_NoHost",
    ResourceState.ENG: "ENG",
    ResourceState.ENG_PROCESS_EXPERIMENTS: "ENG_ProcessExperiments",
    ResourceState.ENG_EQUIPMENT_EXPERIMENTS: "ENG_EquipmentExperiments",
    ResourceState.SDT: "SDT",
    ResourceState.SDT_USER_MAINTENANCE_DELAY: "SDT_UserMaintenanceDelay",
    ResourceState.SDT_SUPPLIED_MAINTENANCE_DELAY: "SDT_SuppliedMaintenanceDelay",
    ResourceState.SDT_PREVENTIVE_MAINTENANCE: "SDT_PreventiveMaintenance",
    ResourceState.SDT_CHANGE_OF_CONSUMABLES: "SDT_ChangeOfConsumables",
    ResourceState.SDT_SETUP: "SDT_Setup",
    ResourceState.SDT_PRODUCTION_TEST: "SDT_ProductionTest",
    ResourceState.SDT_FACILITIES_RELATED: "SDT_FacilitiesRelated",
    ResourceState.USD: "USD",
    ResourceState.USD_USER_MAINTENTANCE_DELAY: "USD_UserMaintentanceDelay",
    ResourceState.USD_SUPPLIED_MAINTENANCE_DELAY: "USD_SuppliedMaintenanceDelay",
    ResourceState.USD_REPAIR: "USD_Repair",
    ResourceState.USD_OUT_OF_SPEC_INPUT_MATERIAL: "USD_OutOfSpecInputMaterial",
    ResourceState.USD_CHANGE_OF_CONSUMABLES: "USD_ChangeOfConsumables",
    ResourceState.USD_FACILITIES_RELATED: "USD_FacilitiesRelated",
    ResourceState.NST: "NST",
    ResourceState.NST_UNWORKED_SHIFTS: "NST_UnworkedShifts",
    ResourceState.NST_EQUIPMENT_INSTALLATION: "NST_EquipmentInstallation",
    ResourceState.NST_EQUIPMENT_MODIFICATIONS: "NST_EquipmentModifications",
    ResourceState.NST_OFFLINE_TRAINING: "NST_OfflineTraining",
    ResourceState.NST_SHUTDOWN_AND_STARTUP: "NST_ShutdownAndStartup",
}

# A 2019 SDK mistake wrote these two codes with hex digits (CFX issue #146; cfx.md §1.2).
_LEGACY_STATE_CODES = {"22A0": "2201", "22B0": "2202"}
_STATE_BY_LOWER_NAME = {name.lower(): state for state, name in _RESOURCE_STATE_NAMES.items()}


def resource_state_from_wire(value: Any) -> ResourceState:
    """Read a ResourceState the way senders write it.

    Accepts an integer (``1100``), a numeric string (``"1100"``), the C# name in any case
    (``"PRD_RegularWork"``) and the legacy ``"22A0"``/``"22B0"`` (read as 2201/2202).

    Raises:
        ValueError: not a ResourceState the SDK defines (vendor codes such as 3312 fail in C# too).
    """
    if isinstance(value, bool):
        raise ValueError(f"not a ResourceState: {value!r}")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
        text = _LEGACY_STATE_CODES.get(text.upper(), text)
        by_name = _STATE_BY_LOWER_NAME.get(text.lower())
        if by_name is not None:
            return by_name
    else:
        raise ValueError(f"not a ResourceState: {value!r}")
    try:
        return ResourceState(text)
    except ValueError:
        raise ValueError(f"not a ResourceState: {value!r}") from None


_LOWER_NAMES: dict[type[Enum], dict[str, Enum]] = {}


def enum_from_wire(cls: type[E], value: Any) -> E:
    """Read an enum value leniently, as Newtonsoft's StringEnumConverter does.

    Accepts the wire name in any case, or an integer (the C# declaration index; the value itself for
    IntEnums). ResourceState is delegated to ``resource_state_from_wire``.

    Raises:
        ValueError: an unknown name or index (the SDK treats the message as malformed).
    """
    if cls is ResourceState:
        state: Any = resource_state_from_wire(value)
        return state  # type: ignore[no-any-return]
    if isinstance(value, bool):
        raise ValueError(f"not a {cls.__name__}: {value!r}")
    if isinstance(value, int):
        if issubclass(cls, IntEnum):
            return cls(value)
        members = list(cls)
        if 0 <= value < len(members):
            return members[value]
        raise ValueError(f"not a {cls.__name__} index: {value!r}")
    if isinstance(value, str):
        table = _LOWER_NAMES.get(cls)
        if table is None:
            table = _LOWER_NAMES[cls] = {_wire_text(m).lower(): m for m in cls}
        found = table.get(value.strip().lower())
        if found is not None:
            return found  # type: ignore[return-value]
        if value.strip().lstrip("-").isdigit():
            return enum_from_wire(cls, int(value))
    raise ValueError(f"unknown {cls.__name__} value {value!r}")


def _wire_text(member: Enum) -> str:
    # IntEnums are matched by their C# member name, recovered from the Python name.
    if isinstance(member, IntEnum):
        return member.name.replace("_", "")
    return str(member.value)
