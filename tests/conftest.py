"""Shared test configuration."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# CI runs the bounded profile; LINEGATE_HYPOTHESIS_PROFILE=long digs deeper locally.
settings.register_profile("ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("LINEGATE_HYPOTHESIS_PROFILE", "ci"))
