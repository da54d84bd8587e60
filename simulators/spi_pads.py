"""The SPI's inspection programs and its measurements, as CFX values (pure: no clock, no I/O).

An inspection program is a list of :class:`Pad` (component, pad number, position, aperture);
:func:`measure` draws one deposit per pad, :func:`inspection` turns it into a CFX ``Inspection``
with a ``SolderPasteMeasurement`` (the deposit as the SDK models it, with its expected values)
and one ``NumericMeasurement`` per judged quantity carrying its limits (``spi.md`` §3).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import protocols.cfx as cfx
from simulators.placement_material import RECIPES

#: Pad geometry per package: (pads, pad length X mm, pad width Y mm, pitch mm).
PACKAGES: dict[str, tuple[int, float, float, float]] = {
    "0402": (2, 0.50, 0.55, 1.00),
    "0603": (2, 0.80, 0.90, 1.60),
    "0805": (2, 1.00, 1.30, 2.00),
    "1210": (2, 1.40, 2.60, 3.20),
    "SO8": (8, 1.50, 0.60, 1.27),
    "QFN48": (48, 0.80, 0.25, 0.50),
}


@dataclass(frozen=True, slots=True)
class Limits:
    """Acceptance limits of one inspection program (``spi.md`` §3)."""

    volume_pct: tuple[float, float] = (70.0, 150.0)  # % of the aperture's volume
    area_pct: tuple[float, float] = (70.0, 140.0)  # % of the aperture's area
    height_um: tuple[float, float] = (80.0, 180.0)  # µm
    offset_mm: float = 0.10  # |X| and |Y| offset from the pad centre, mm


@dataclass(frozen=True, slots=True)
class Pad:
    """One pad to inspect: ``name`` is ``<designator>.<pad number>`` (``R1.2``)."""

    designator: str
    number: int
    part_number: str
    x: float  # pad centre, mm from the board origin
    y: float
    size_x: float  # aperture, mm
    size_y: float

    @property
    def name(self) -> str:
        """``R1.2``: the designator and the pad number."""
        return f"{self.designator}.{self.number}"


@dataclass(frozen=True, slots=True)
class Deposit:
    """What the SPI measured on one pad."""

    pad: Pad
    volume_pct: float
    area_pct: float
    height_um: float
    offset_x: float
    offset_y: float

    def failures(self, limits: Limits) -> list[str]:
        """The names of the quantities outside ``limits`` (empty: the pad passes)."""
        checks = (
            ("Volume", self.volume_pct, limits.volume_pct),
            ("Area", self.area_pct, limits.area_pct),
            ("Height", self.height_um, limits.height_um),
            ("OffsetX", self.offset_x, (-limits.offset_mm, limits.offset_mm)),
            ("OffsetY", self.offset_y, (-limits.offset_mm, limits.offset_mm)),
        )
        return [name for name, value, (low, high) in checks if not low <= value <= high]


def _package(part_number: str) -> str:
    return next((p for p in PACKAGES if part_number.endswith(p)), "0402")


def pads_for(components: Sequence[tuple[str, str]]) -> tuple[Pad, ...]:
    """The pads of ``components`` ((designator, part number), placement's recipe form), laid out
    on a grid in the order given, 8 mm apart."""
    pads: list[Pad] = []
    for index, (designator, part) in enumerate(components):
        count, size_x, size_y, pitch = PACKAGES[_package(part)]
        origin_x, origin_y = 10.0 + 8.0 * (index % 12), 10.0 + 8.0 * (index // 12)
        for number in range(1, count + 1):
            offset = (number - 1 - (count - 1) / 2) * pitch
            pads.append(Pad(designator, number, part, round(origin_x + offset, 3), origin_y, size_x, size_y))
    return tuple(pads)


#: Inspection programs: name, cycle time (s), pads. One per placement program, same names.
INSPECTION_PROGRAMS: tuple[tuple[str, float, tuple[Pad, ...]], ...] = tuple(
    (name, 20.0, pads_for(components)) for name, _, components in RECIPES
)


def measure(rng: random.Random, pad: Pad, *, defect: str | None = None) -> Deposit:
    """Draw the deposit on ``pad``: a good print, or one with ``defect`` (``insufficient``,
    ``excess`` or ``offset``), whose values lie well outside the default limits."""
    volume = rng.gauss(100.0, 6.0)
    area = rng.gauss(100.0, 4.0)
    height = rng.gauss(125.0, 6.0)
    dx, dy = rng.gauss(0.0, 0.015), rng.gauss(0.0, 0.015)
    if defect == "insufficient":
        volume, area, height = rng.uniform(25.0, 45.0), rng.uniform(40.0, 60.0), rng.uniform(45.0, 70.0)
    elif defect == "excess":
        volume, height = rng.uniform(170.0, 220.0), rng.uniform(195.0, 240.0)
    elif defect == "offset":
        dx = rng.choice((-1.0, 1.0)) * rng.uniform(0.15, 0.25)
    return Deposit(pad, round(volume, 2), round(area, 2), round(height, 1), round(dx, 4), round(dy, 4))


def _defect_code(deposit: Deposit, failed: list[str]) -> str:
    """The defect a failed pad shows: too much paste, too little, or paste off the pad."""
    if {"Volume", "Height"} & set(failed) and deposit.volume_pct > 100.0:
        return "ExcessSolder"
    if {"Volume", "Area", "Height"} & set(failed):
        return "InsufficientSolder"
    return "SolderPasteOffset"


def _numeric(
    name: str, value: float, units: str, expected: float, low: float, high: float, sequence: int, pad: Pad
) -> cfx.NumericMeasurement:
    return cfx.NumericMeasurement(
        measured_value=cfx.NumericValue(
            value=value,
            value_units=units,
            expected_value=expected,
            expected_value_units=units,
            minimum_acceptable_value=low,
            minimum_acceptable_value_units=units,
            maximum_acceptable_value=high,
            maximum_acceptable_value_units=units,
        ),
        unique_identifier=str(uuid.uuid4()),
        measurement_name=name,
        sequence=sequence,
        result=cfx.TestResult.PASSED if low <= value <= high else cfx.TestResult.FAILED,
        crds=pad.designator,
    )


def inspection(deposit: Deposit, limits: Limits, ref_no: int, at: datetime) -> cfx.Inspection:
    """The CFX ``Inspection`` of one pad: its deposit, its judged quantities with limits, defects."""
    pad = deposit.pad
    failed = deposit.failures(limits)
    result = cfx.TestResult.FAILED if failed else cfx.TestResult.PASSED
    area = pad.size_x * pad.size_y  # mm²
    expected_height = 0.125  # mm: the stencil foil
    deposit_model = cfx.SolderPasteMeasurement(
        x=round(pad.x + deposit.offset_x, 4),
        ex=pad.x,
        y=round(pad.y + deposit.offset_y, 4),
        ey=pad.y,
        z=round(deposit.height_um / 1000.0, 4),
        ez=expected_height,
        dx=deposit.offset_x,
        dy=deposit.offset_y,
        vol=round(area * expected_height * deposit.volume_pct / 100.0, 5),
        e_vol=round(area * expected_height, 5),
        a=round(area * deposit.area_pct / 100.0, 5),
        ea=round(area, 5),
        px=pad.size_x,
        py=pad.size_y,
        ar=round(deposit.area_pct, 2),
        unique_identifier=str(uuid.uuid4()),
        measurement_name=pad.name,
        time_recorded=at,
        sequence=1,
        result=result,
        crds=pad.designator,
    )
    judged = [
        _numeric("Volume", deposit.volume_pct, "%", 100.0, *limits.volume_pct, 2, pad),
        _numeric("Area", deposit.area_pct, "%", 100.0, *limits.area_pct, 3, pad),
        _numeric("Height", deposit.height_um, "um", 125.0, *limits.height_um, 4, pad),
        _numeric("OffsetX", deposit.offset_x, "mm", 0.0, -limits.offset_mm, limits.offset_mm, 5, pad),
        _numeric("OffsetY", deposit.offset_y, "mm", 0.0, -limits.offset_mm, limits.offset_mm, 6, pad),
    ]
    defects = []
    if failed:
        defects.append(
            cfx.Defect(
                unique_identifier=str(uuid.uuid4()),
                defect_code=_defect_code(deposit, failed),
                defect_category="SolderPaste",
                description=f"pad {pad.name}: {', '.join(failed)} out of limits",
                component_of_interest=cfx.ComponentDesignator(
                    reference_designator=pad.designator, part_number=pad.part_number
                ),
                related_measurements=[m for m in judged if m.result == cfx.TestResult.FAILED],
            )
        )
    return cfx.Inspection(
        unique_identifier=str(uuid.uuid4()),
        inspection_name=pad.name,
        inspection_start_time=at,
        inspection_end_time=at,
        test_procedure="SolderPaste3D",
        result=result,
        defects_found=defects,
        measurements=[deposit_model, *judged],
        ref_no=ref_no,
    )


__all__ = [
    "INSPECTION_PROGRAMS",
    "PACKAGES",
    "Deposit",
    "Limits",
    "Pad",
    "inspection",
    "measure",
    "pads_for",
]
