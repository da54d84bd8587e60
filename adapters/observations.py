"""Observations: the small, protocol-free facts an adapter reports about its machine.

An adapter turns what its protocol says (a register changed, an OPC UA event, a serial frame, a
Hermes message) into these; the gateway's normalizer turns them into CFX. Each carries the
machine id and the time the machine (or the adapter, when the machine gives none) saw it.
Nothing here names a protocol or a library type.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


class Severity(enum.Enum):
    """How bad a fault is, in the machine's own terms mapped to four levels."""

    INFORMATION = "information"
    WARNING = "warning"
    ERROR = "error"
    ALARM = "alarm"


class WorkResult(enum.Enum):
    """How the machine's work on a board ended."""

    COMPLETED = "completed"
    FAILED = "failed"
    ABORTED = "aborted"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """Base of every observation: which machine, and when."""

    machine_id: str
    at: datetime

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError(f"{type(self).__name__}.at must be timezone-aware")


@dataclass(frozen=True, slots=True, kw_only=True)
class StateChanged(Observation):
    """The machine's state is now ``state`` (a SEMI E10/E58 code as CFX's ResourceState uses)."""

    state: int
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultRaised(Observation):
    """A fault became active. ``code`` identifies it stably across reconnects."""

    code: str
    description: str = ""
    severity: Severity = Severity.ERROR
    cause: str | None = None  # CFX FaultCause name when the map knows it (e.g. "ProcessError")
    lane: int | None = None
    stage: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultCleared(Observation):
    """The fault ``code`` is no longer active."""

    code: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultAcknowledged(Observation):
    """An operator acknowledged the active fault ``code`` (it stays active until cleared)."""

    code: str
    operator: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BoardArrived(Observation):
    """A board entered the machine (Hermes BoardId and barcode where known)."""

    board_id: str | None = None
    barcode: str | None = None
    lane: int | None = None
    product: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BoardDeparted(Observation):
    """A board left the machine."""

    board_id: str | None = None
    barcode: str | None = None
    lane: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkStarted(Observation):
    """The machine started working on a board."""

    board_id: str | None = None
    barcode: str | None = None
    lane: int | None = None
    recipe: str | None = None
    revision: str | None = None
    # The work order (and batch) the board belongs to, where the gateway or the machine knows it.
    work_order: str | None = None
    batch: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkFinished(Observation):
    """The machine finished working on a board."""

    board_id: str | None = None
    barcode: str | None = None
    lane: int | None = None
    result: WorkResult = WorkResult.COMPLETED


@dataclass(frozen=True, slots=True)
class ZoneReading:
    """One reflow zone: setpoints and actual temperatures in °C (top and bottom heaters)."""

    zone: int
    setpoint_top: float | None = None
    setpoint_bottom: float | None = None
    actual_top: float | None = None
    actual_bottom: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReflowProcessData(Observation):
    """Reflow process data for one board: zones, conveyor speed (mm/s) and O2 (ppm)."""

    board_id: str | None = None
    zones: tuple[ZoneReading, ...] = ()
    conveyor_speed: float | None = None
    o2_ppm: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SelectiveSolderProcessData(Observation):
    """Selective solder process data for one board."""

    board_id: str | None = None
    preheat_temperature: float | None = None
    pot_temperature: float | None = None
    wave_height: float | None = None
    nitrogen_flow: float | None = None
    process_time: float | None = None  # seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class CoatingProcessData(Observation):
    """Conformal coating measurements for one board."""

    board_id: str | None = None
    measurements: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading(Observation):
    """A named value that belongs to no board (a zone temperature between boards, a pressure)."""

    name: str
    value: float | int | bool | str
    unit: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RecipeActivated(Observation):
    """The machine confirmed (by read-back) that ``recipe`` at ``revision`` is active."""

    recipe: str
    revision: str | None = None
    lane: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkLost(Observation):
    """Nothing has been heard from the machine since ``since`` (link down, or up but silent):
    what the gateway knows of it is stale. ``reason`` is the adapter's last error."""

    since: datetime
    protocol: str
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkRestored(Observation):
    """The machine answers again after a ``LinkLost``."""


class Outcome(enum.Enum):
    """An inspection's or a measurement's result."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"


class Verification(enum.Enum):
    """What an operator decided about a defect the station flagged (at a repair station)."""

    UNVERIFIED = "unverified"
    CONFIRMED = "confirmed"  # a real defect
    FALSE_CALL = "false_call"  # cleared: the station was wrong


@dataclass(frozen=True, slots=True)
class FoundDefect:
    """One defect on a component (``refdes``) or a region of the board."""

    code: str
    refdes: str | None = None
    verification: Verification = Verification.UNVERIFIED
    description: str | None = None
    category: str | None = None
    part_number: str | None = None


@dataclass(frozen=True, slots=True)
class Measured:
    """One measurement with its limits where known; ``outcome`` None: judged by the limits."""

    name: str
    value: float
    unit: str | None = None
    low: float | None = None
    high: float | None = None
    outcome: Outcome | None = None
    refdes: str | None = None


@dataclass(frozen=True, slots=True)
class InspectedPosition:
    """One panel position of an inspected board; ``outcome`` None: failed if any defect is not a
    false call, else passed."""

    position: int = 1
    barcode: str | None = None
    outcome: Outcome | None = None
    defects: tuple[FoundDefect, ...] = ()
    measurements: tuple[Measured, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class InspectionResult(Observation):
    """An inspection station's or a tester's result for one board (or panel), named by barcode.

    ``method`` is the CFX InspectionMethod name (``AOI``, ``AXI``, ``SPI``, ``Human``): an
    inspection; or a CFX TestMethod name (``ICT``, ``FPT``, ``FCT``, ``BST``, ``Automated``): a
    test, each measurement one test step.
    """

    barcode: str | None = None
    board_id: str | None = None
    outcome: Outcome | None = None
    method: str = "AOI"
    recipe: str | None = None
    inspector: str | None = None
    started: datetime | None = None
    ended: datetime | None = None
    positions: tuple[InspectedPosition, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentifierRead(Observation):
    """A scanner (or a marker's verifier) read a board's code; ``symbology`` from its AIM
    identifier where it sent one (``code128``, ``datamatrix``)."""

    barcode: str
    symbology: str | None = None
    position: int | None = None  # the panel position of a unit's own code, where known


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentifierNotRead(Observation):
    """A scanner saw a board but could not read its code (``NOREAD``)."""

    positions: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ResultFile:
    """A result file as the station left it: name, size, mtime and a SHA-256 of its content."""

    name: str
    size: int
    mtime_ns: int
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResultFileRead(Observation):
    """Every result in one file. The gateway commits their events together with the file's
    journal entry, in one transaction, before the adapter disposes of the file: each file
    counts exactly once, across restarts and kill -9."""

    file: ResultFile
    results: tuple[InspectionResult, ...] = ()


ProcessData = ReflowProcessData | SelectiveSolderProcessData | CoatingProcessData

__all__ = [
    "BoardArrived",
    "BoardDeparted",
    "CoatingProcessData",
    "FaultCleared",
    "FaultRaised",
    "FoundDefect",
    "IdentifierNotRead",
    "IdentifierRead",
    "InspectedPosition",
    "InspectionResult",
    "LinkLost",
    "LinkRestored",
    "Measured",
    "Observation",
    "Outcome",
    "ProcessData",
    "Reading",
    "RecipeActivated",
    "ReflowProcessData",
    "ResultFile",
    "ResultFileRead",
    "SelectiveSolderProcessData",
    "Severity",
    "StateChanged",
    "Verification",
    "WorkFinished",
    "WorkResult",
    "WorkStarted",
    "ZoneReading",
]
