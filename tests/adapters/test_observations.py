"""Observations are timestamped with aware times and carry no protocol types."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.observations import FaultRaised, ReflowProcessData, Severity, StateChanged, ZoneReading


def test_naive_timestamp_is_refused() -> None:
    with pytest.raises(ValueError, match=r"StateChanged\.at must be timezone-aware"):
        StateChanged(machine_id="oven1", at=datetime(2026, 1, 1), state=1100)


def test_observations_are_frozen_values() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    fault = FaultRaised(machine_id="oven1", at=at, code="E-231", severity=Severity.ALARM)
    assert fault == FaultRaised(machine_id="oven1", at=at, code="E-231", severity=Severity.ALARM)
    with pytest.raises(AttributeError):
        fault.code = "E-232"  # type: ignore[misc]


def test_reflow_process_data_holds_zones() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    data = ReflowProcessData(machine_id="oven1", at=at, zones=(ZoneReading(1, 180.0, 180.0, 179.5, 180.2),))
    assert data.zones[0].actual_top == 179.5
