"""Hardware-free machines and lines; they use ``protocols`` only, never ``gateway`` or ``adapters``.

The public surface is what ``__all__`` lists; the modules themselves are implementation.
"""

from simulators.clock import Clock, ScaledClock, SteppedClock
from simulators.coater import Coater
from simulators.machine import (
    Board,
    BoardIn,
    BoardOut,
    Conveyor,
    Fault,
    FaultCleared,
    FaultOccurred,
    FaultSeverity,
    FirstOrder,
    Handoff,
    Machine,
    MachineEvent,
    Process,
    Recipe,
    RecipeActivated,
    RecipeRefused,
    RecipeStore,
    ResourceState,
    StationStateChanged,
    UnitsArrived,
    UnitsDeparted,
    WorkCompleted,
    WorkStarted,
)
from simulators.placement import Feeder, PlacementMachine
from simulators.reflow_oven import ReflowOven
from simulators.selective_solder import SelectiveSolder

__all__ = [
    "Board",
    "BoardIn",
    "BoardOut",
    "Clock",
    "Coater",
    "Conveyor",
    "Fault",
    "FaultCleared",
    "FaultOccurred",
    "FaultSeverity",
    "Feeder",
    "FirstOrder",
    "Handoff",
    "Machine",
    "MachineEvent",
    "PlacementMachine",
    "Process",
    "Recipe",
    "RecipeActivated",
    "RecipeRefused",
    "RecipeStore",
    "ReflowOven",
    "ResourceState",
    "ScaledClock",
    "SelectiveSolder",
    "StationStateChanged",
    "SteppedClock",
    "UnitsArrived",
    "UnitsDeparted",
    "WorkCompleted",
    "WorkStarted",
]
