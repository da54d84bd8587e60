"""Shared test configuration."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import HealthCheck, settings

# CI runs the bounded profile; LINEGATE_HYPOTHESIS_PROFILE=long digs deeper locally.
settings.register_profile("ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("LINEGATE_HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """A test that configures logging (the CLI does) must not leave it pointing at its capture."""
    yield
    structlog.reset_defaults()
