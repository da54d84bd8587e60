"""Fixtures every simulator test module shares: a stepped clock and a board handoff."""

from __future__ import annotations

import pytest

from simulators import Handoff, SteppedClock


@pytest.fixture
def clock() -> SteppedClock:
    """Simulated time that moves only when the test advances it."""
    return SteppedClock()


@pytest.fixture
def handoff() -> Handoff:
    """The board handoff into the machine under test."""
    return Handoff()
