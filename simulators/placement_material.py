"""The placement machine's material: tape feeders with their reels, and the programs it ships with.

Also the CFX messages that speak of material: what a board took from which reel
(MaterialsInstalled) and the fault of a reel running empty (SMTPlacementFault, PartsExhaust).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import protocols.cfx as cfx

LANE = 1  # a single-lane machine; CFX Lane is a plain int (reference §3.1)
# Fault code of a missing-component stop; the feeder slot follows: "FEEDER-EMPTY-1-03".
MISSING_COMPONENT_CODE = "FEEDER-EMPTY"


@dataclass(slots=True)
class Feeder:
    """A tape feeder (CFX ``SMDTapeFeeder``) in a slot, holding one reel of one part number.

    Attributes:
        slot: the location identifier on the machine, ``"<bank>-<position>"``.
        part_number: the internal part number on the reel.
        quantity: components left on the reel.
        reel_id: the reel's unique identifier (CFX MaterialPackage.UniqueIdentifier).
        reel_size: components on a full reel (what :meth:`PlacementMachine.refill` loads).
        tape_width: mm.
        tape_pitch: mm.
        reels_loaded: reels loaded into the slot so far (numbers the reel ids).
    """

    slot: str
    part_number: str
    quantity: int
    reel_id: str = ""
    reel_size: int = 0
    tape_width: float = 8.0
    tape_pitch: float = 4.0
    reels_loaded: int = 1

    def __post_init__(self) -> None:
        self.reel_size = self.reel_size or self.quantity
        self.reel_id = self.reel_id or f"REEL-{self.part_number}-{self.slot}-{self.reels_loaded:04d}"

    def carrier(self) -> cfx.SMDTapeFeeder:
        """The feeder as a CFX material carrier."""
        return cfx.SMDTapeFeeder(
            lane_number=LANE,
            tape_width=self.tape_width,
            tape_pitch=self.tape_pitch,
            unique_identifier=f"FDR-{self.slot}",
            name=f"Feeder {self.slot}",
        )

    def location(self) -> cfx.MaterialLocation:
        """The reel in its feeder, with its current quantity, as CFX MaterialLocation."""
        package = cfx.MaterialPackage(
            unique_identifier=self.reel_id,
            internal_part_number=self.part_number,
            quantity=float(self.quantity),  # a C# double: written 9990.0, as the SDK writes it
        )
        return cfx.MaterialLocation(
            location_identifier=self.slot,
            location_name=f"Feeder {self.slot}",
            material_package=package,
            carrier_information=self.carrier(),
        )


@dataclass(slots=True)
class Installed:
    """Components of one board taken from one reel."""

    feeder: Feeder
    reel_id: str
    remaining: int
    designators: list[tuple[str, datetime]] = field(default_factory=list)


def installed_materials(primary: str, installed: list[Installed]) -> list[cfx.InstalledMaterial]:
    """What one board (PrimaryIdentifier ``primary``) took from each reel, as CFX InstalledMaterial."""
    return [
        cfx.InstalledMaterial(
            unit_identifier=primary,
            unit_position_number=1,
            quantity_installed=float(len(use.designators)),
            material=cfx.MaterialPackage(
                unique_identifier=use.reel_id,
                internal_part_number=use.feeder.part_number,
                quantity=float(use.remaining),
            ),
            carrier_location=cfx.MaterialCarrierLocation(
                location_identifier=use.feeder.slot,
                location_name=f"Feeder {use.feeder.slot}",
                carrier_information=use.feeder.carrier(),
            ),
            installed_components=[
                cfx.SMTInstalledComponent(
                    reference_designator=designator,
                    installed_unit_identifier=primary,
                    installation_time=at,
                )
                for designator, at in use.designators
            ],
            reference_part_number=use.feeder.part_number,
        )
        for use in installed
    ]


def missing_component(
    feeder: Feeder | None, part: str, step: tuple[int, str], primary: str, transaction_id: UUID | None
) -> cfx.SMTPlacementFault:
    """The fault of ``part`` missing at program ``step`` (number, designator), ``feeder`` its empty slot."""
    # reference §3.1: SMTPlacementFault, cause MissingComponent; §3.4: the empty reel's location.
    return cfx.SMTPlacementFault(
        placement_fault_type=cfx.SMTPlacementFaultType.PARTS_EXHAUST,
        program_step=step[0],
        designator=cfx.ComponentDesignator(
            reference_designator=step[1],
            unit_position=cfx.UnitPosition(unit_identifier=primary, position_number=1),
            part_number=part,
        ),
        material_location=feeder.location() if feeder else cfx.MaterialLocation(),
        head_and_nozzle=cfx.SMTHeadAndNozzle(head_id="H1", head_nozzle_number=1, name="Head 1"),
        number_of_tries_before_error=3,
        reference_part_number=part,
        transaction_id=transaction_id,
        cause=cfx.FaultCause.MISSING_COMPONENT,
        severity=cfx.FaultSeverity.ERROR,
        lane=LANE,
        access_type=cfx.AccessType.LOCAL,
    )


def designators(prefix: str, count: int, part: str) -> tuple[tuple[str, str], ...]:
    return tuple((f"{prefix}{n}", part) for n in range(1, count + 1))


# The programs a new machine ships with: name, cycle time (s), (designator, part number) list.
RECIPES: list[tuple[str, float, tuple[tuple[str, str], ...]]] = [
    (
        "PCB-CTRL-A",
        30.0,
        designators("R", 10, "RES-10K-0402")
        + designators("C", 8, "CAP-100N-0402")
        + designators("D", 2, "LED-GRN-0603")
        + designators("U", 1, "IC-MCU-QFN48"),
    ),
    (
        "PCB-PWR-B",
        45.0,
        designators("R", 6, "RES-10K-0402")
        + designators("C", 12, "CAP-10U-0805")
        + designators("Q", 4, "FET-SO8")
        + designators("L", 1, "IND-4U7-1210"),
    ),
]


def default_feeders() -> list[Feeder]:
    """The shipped setup: a reel of every part the shipped recipes use."""
    return [
        Feeder("1-01", "RES-10K-0402", 10000, tape_width=8.0, tape_pitch=2.0),
        Feeder("1-02", "CAP-100N-0402", 10000, tape_width=8.0, tape_pitch=2.0),
        Feeder("1-03", "LED-GRN-0603", 4000, tape_width=8.0, tape_pitch=4.0),
        Feeder("1-04", "CAP-10U-0805", 4000, tape_width=8.0, tape_pitch=4.0),
        Feeder("2-01", "IC-MCU-QFN48", 500, tape_width=16.0, tape_pitch=12.0),
        Feeder("2-02", "FET-SO8", 1000, tape_width=12.0, tape_pitch=8.0),
        Feeder("2-03", "IND-4U7-1210", 1000, tape_width=12.0, tape_pitch=4.0),
    ]


__all__ = [
    "LANE",
    "MISSING_COMPONENT_CODE",
    "RECIPES",
    "Feeder",
    "Installed",
    "default_feeders",
    "designators",
    "installed_materials",
    "missing_component",
]
