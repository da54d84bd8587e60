"""Inspection results → CFX ``UnitsInspected``, as the SDK writes it (CFX 2.1).

One ``UnitsInspected`` per inspected board (or panel); each panel position is one
``InspectedUnit`` with one ``Inspection`` that carries the position's defects and measurements.
A defect's verification says whether an operator confirmed it (``DefectConfirmed``) or cleared it
as a false call (``DefectRejected``); a position whose every defect is a false call passed.

The board's work transaction links the message to the machine's WorkStarted/WorkCompleted when
the gateway knows the board; a result for a board the gateway never saw still goes out, with the
nil TransactionId (all zeros) as its flag, and the normalizer logs and counts it.

Pure: no I/O and no clock.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from adapters import observations as obs
from protocols.cfx.messages.enums import ActorType, InspectionMethod, TestResult, VerificationResult
from protocols.cfx.messages.production_test_and_inspection import UnitsInspected
from protocols.cfx.messages.structures import (
    ComponentDesignator,
    Defect,
    InspectedUnit,
    Inspection,
    NumericMeasurement,
    NumericValue,
    Operator,
)

_RESULT = {
    obs.Outcome.PASSED: TestResult.PASSED,
    obs.Outcome.FAILED: TestResult.FAILED,
    obs.Outcome.ERROR: TestResult.ERROR,
    obs.Outcome.SKIPPED: TestResult.SKIPPED,
}
_VERIFICATION = {
    obs.Verification.UNVERIFIED: VerificationResult.NOT_VERIFIED_YET,
    obs.Verification.CONFIRMED: VerificationResult.DEFECT_CONFIRMED,
    obs.Verification.FALSE_CALL: VerificationResult.DEFECT_REJECTED,
}
_METHODS = {method.value: method for method in InspectionMethod}


def cfx_defect(d: obs.FoundDefect) -> Defect:
    component = (
        ComponentDesignator(reference_designator=d.refdes, part_number=d.part_number)
        if d.refdes or d.part_number
        else None
    )
    return Defect(
        unique_identifier=str(uuid.uuid4()),
        defect_code=d.code,
        defect_category=d.category,
        description=d.description,
        component_of_interest=component,
        verification=_VERIFICATION[d.verification],
    )


def _measured_result(m: obs.Measured) -> TestResult:
    if m.outcome is not None:
        return _RESULT[m.outcome]
    inside = (m.low is None or m.value >= m.low) and (m.high is None or m.value <= m.high)
    return TestResult.PASSED if inside else TestResult.FAILED


def cfx_measurement(m: obs.Measured, sequence: int, at: datetime | None) -> NumericMeasurement:
    return NumericMeasurement(
        measured_value=NumericValue(
            value=m.value,
            value_units=m.unit,
            minimum_acceptable_value=m.low,
            minimum_acceptable_value_units=m.unit if m.low is not None else None,
            maximum_acceptable_value=m.high,
            maximum_acceptable_value_units=m.unit if m.high is not None else None,
        ),
        unique_identifier=str(uuid.uuid4()),
        measurement_name=m.name,
        time_recorded=at,
        sequence=sequence,
        result=_measured_result(m),
        crds=m.refdes,
    )


def position_result(p: obs.InspectedPosition) -> TestResult:
    """The position's result: as the station said, else failed if any defect is not a false call
    or any measurement is out of its limits."""
    if p.outcome is not None:
        return _RESULT[p.outcome]
    real = any(d.verification is not obs.Verification.FALSE_CALL for d in p.defects)
    out_of_limits = any(_measured_result(m) is not TestResult.PASSED for m in p.measurements)
    return TestResult.FAILED if real or out_of_limits else TestResult.PASSED


def _verification(defects: tuple[obs.FoundDefect, ...]) -> VerificationResult:
    states = {d.verification for d in defects}
    if obs.Verification.CONFIRMED in states:
        return VerificationResult.DEFECT_CONFIRMED
    if states == {obs.Verification.FALSE_CALL}:
        return VerificationResult.DEFECT_REJECTED
    return VerificationResult.NOT_VERIFIED_YET


def _unit(o: obs.InspectionResult, p: obs.InspectedPosition) -> InspectedUnit:
    result = position_result(p)
    verification = _verification(p.defects)
    at = o.ended or o.at
    inspection = Inspection(
        unique_identifier=str(uuid.uuid4()),
        inspection_name=f"{o.method} inspection",
        inspection_start_time=o.started,
        inspection_end_time=o.ended,
        result=result,
        verification=verification,
        defects_found=[cfx_defect(d) for d in p.defects],
        measurements=[cfx_measurement(m, i, at) for i, m in enumerate(p.measurements, 1)],
    )
    return InspectedUnit(
        unit_identifier=p.barcode or o.barcode or o.board_id,
        unit_position_number=p.position,
        overall_result=result,
        inspections=[inspection],
        verification=verification,
        total_inspection_count=1,
    )


def operator_of(o: obs.InspectionResult) -> Operator:
    """The inspector or tester a result file names, as CFX's Operator. The SDK's constructor
    makes an empty Operator, so an unnamed one is empty rather than missing."""
    if o.inspector:
        return Operator(operator_identifier=o.inspector, actor_type=ActorType.HUMAN)
    return Operator()


def units_inspected(o: obs.InspectionResult, transaction_id: uuid.UUID | None) -> UnitsInspected:
    """The ``UnitsInspected`` of one board's result; ``transaction_id`` None: a board the
    gateway never saw (the nil TransactionId flags it).

    Raises:
        ValueError: ``o.method`` is not a CFX InspectionMethod.
    """
    method = _METHODS.get(o.method)
    if method is None:
        raise ValueError(f"{o.method!r} is not a CFX InspectionMethod ({', '.join(_METHODS)})")
    return UnitsInspected(
        transaction_id=transaction_id or uuid.UUID(int=0),
        inspection_method=method,
        inspector=operator_of(o),
        recipe_name=o.recipe,
        inspected_units=[_unit(o, p) for p in o.positions],
    )
