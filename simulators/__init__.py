"""Hardware-free machines and lines; they use ``protocols`` only, never ``gateway`` or ``adapters``.

The public surface is what ``__all__`` lists; the modules themselves are implementation.
"""

from simulators.clock import Clock, ScaledClock, SteppedClock
from simulators.coater import Coater
from simulators.hermes_link import BoardBook, HermesDownstream, HermesUpstream
from simulators.line import Endpoint, HermesEndpoints, Line
from simulators.line_ends import BoardSink, BoardSource
from simulators.line_spec import (
    LineSpec,
    MachineSpec,
    SourceSpec,
    WorkOrder,
    default_line,
    load_line,
    parse_line,
    small_line,
)
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
from simulators.placement import PlacementMachine
from simulators.placement_material import Feeder
from simulators.printer import SolderPastePrinter
from simulators.reflow_oven import ReflowOven
from simulators.scanner import BarcodeScanner
from simulators.scenario import AppliedFault, FaultStep, Scenario, load_scenario, parse_scenario
from simulators.selective_solder import SelectiveSolder
from simulators.spi import SolderPasteInspection
from simulators.supervisory import SupervisoryChannel
from simulators.test_station import FunctionalTester, InCircuitTester

__all__ = [
    "AppliedFault",
    "BarcodeScanner",
    "Board",
    "BoardBook",
    "BoardIn",
    "BoardOut",
    "BoardSink",
    "BoardSource",
    "Clock",
    "Coater",
    "Conveyor",
    "Endpoint",
    "Fault",
    "FaultCleared",
    "FaultOccurred",
    "FaultSeverity",
    "FaultStep",
    "Feeder",
    "FirstOrder",
    "FunctionalTester",
    "Handoff",
    "HermesDownstream",
    "HermesEndpoints",
    "HermesUpstream",
    "InCircuitTester",
    "Line",
    "LineSpec",
    "Machine",
    "MachineEvent",
    "MachineSpec",
    "PlacementMachine",
    "Process",
    "Recipe",
    "RecipeActivated",
    "RecipeRefused",
    "RecipeStore",
    "ReflowOven",
    "ResourceState",
    "ScaledClock",
    "Scenario",
    "SelectiveSolder",
    "SolderPasteInspection",
    "SolderPastePrinter",
    "SourceSpec",
    "StationStateChanged",
    "SteppedClock",
    "SupervisoryChannel",
    "UnitsArrived",
    "UnitsDeparted",
    "WorkCompleted",
    "WorkOrder",
    "WorkStarted",
    "default_line",
    "load_line",
    "load_scenario",
    "parse_line",
    "parse_scenario",
    "small_line",
]
