"""Test results → CFX ``UnitsTested``, as the SDK writes it (CFX 2.1).

A tester's result (ICT, flying probe, functional test) arrives as the same observation as an
inspection (:class:`~adapters.observations.InspectionResult`) with a CFX TestMethod as its
method. One ``UnitsTested`` per tested board (or panel); each panel position is one
``TestedUnit``, and each measured step one ``Test`` holding its ``NumericMeasurement`` with the
limits, judged by the step's own result or else by the limits. A defect the tester names (a
short, an open) goes with the failing step on the same component, else into a test of its own.

As with inspections, the board's work transaction links the message to the machine's
WorkStarted/WorkCompleted; a result for a board the gateway never saw goes out with the nil
TransactionId. Pure: no I/O and no clock.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from adapters import observations as obs
from gateway.normalize_inspection import cfx_defect, cfx_measurement, operator_of, position_result
from protocols.cfx.messages.enums import TestMethod, TestResult
from protocols.cfx.messages.production_test_and_inspection import UnitsTested
from protocols.cfx.messages.structures import Defect, Test, TestedUnit

_METHODS = {method.value: method for method in TestMethod if method is not TestMethod.HUMAN}


def is_test(method: str) -> bool:
    """Whether results of ``method`` are tests (a CFX TestMethod other than Human) rather than
    inspections."""
    return method in _METHODS


def _tests(o: obs.InspectionResult, p: obs.InspectedPosition) -> list[Test]:
    at: datetime | None = o.ended or o.at
    tests: list[Test] = []
    defects = list(p.defects)
    for sequence, m in enumerate(p.measurements, 1):
        measurement = cfx_measurement(m, sequence, at)
        mine: list[Defect] = []
        if measurement.result is not TestResult.PASSED and m.refdes:
            for d in [d for d in defects if d.refdes == m.refdes]:
                defects.remove(d)
                mine.append(cfx_defect(d))
        tests.append(
            Test(
                unique_identifier=str(uuid.uuid4()),
                test_name=m.name,
                test_start_time=o.started,
                test_end_time=o.ended,
                result=measurement.result,
                defects_found=mine,
                measurements=[measurement],
            )
        )
    if defects:  # defects that belong to no measured step
        tests.append(
            Test(
                unique_identifier=str(uuid.uuid4()),
                test_name=f"{o.method} defects",
                test_start_time=o.started,
                test_end_time=o.ended,
                result=TestResult.FAILED,
                defects_found=[cfx_defect(d) for d in defects],
            )
        )
    return tests


def units_tested(o: obs.InspectionResult, transaction_id: uuid.UUID | None) -> UnitsTested:
    """The ``UnitsTested`` of one board's test result; ``transaction_id`` None: a board the
    gateway never saw (the nil TransactionId flags it).

    Raises:
        ValueError: ``o.method`` is not a CFX TestMethod.
    """
    method = _METHODS.get(o.method)
    if method is None:
        raise ValueError(f"{o.method!r} is not a CFX TestMethod ({', '.join(_METHODS)})")
    return UnitsTested(
        transaction_id=transaction_id or uuid.UUID(int=0),
        test_method=method,
        tester=operator_of(o),
        recipe_name=o.recipe,
        tested_units=[
            TestedUnit(
                unit_identifier=p.barcode or o.barcode or o.board_id,
                unit_position_number=p.position,
                overall_result=position_result(p),
                tests=_tests(o, p),
            )
            for p in o.positions
        ],
    )


__all__ = ["is_test", "units_tested"]
