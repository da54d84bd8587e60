"""Reconnect delays grow to a cap, never spin, and are jittered."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from protocols.backoff import full_jitter, half_jitter


@given(st.integers(min_value=-3, max_value=10_000), st.floats(0.01, 5.0), st.floats(5.0, 300.0))
def test_delay_is_bounded_and_never_spins(failures: int, base: float, cap: float) -> None:
    delay = full_jitter(failures, base, cap, random.Random(failures))
    assert base / 4 <= delay <= max(cap, base / 4)


def test_first_delays_stay_near_base_later_ones_reach_the_cap() -> None:
    rng = random.Random(3)
    assert max(full_jitter(1, 0.5, 30.0, rng) for _ in range(200)) <= 0.5
    assert max(full_jitter(12, 0.5, 30.0, rng) for _ in range(200)) > 20.0


def test_floor_can_be_set() -> None:
    assert full_jitter(1, 1.0, 10.0, random.Random(0), floor=0.9) >= 0.9


@given(st.integers(min_value=-3, max_value=10_000), st.floats(0.01, 5.0), st.floats(5.0, 300.0))
def test_half_jitter_stays_between_half_and_all_of_its_step(attempt: int, base: float, cap: float) -> None:
    """The Hermes receiver's delay: within [step/2, step], step = min(cap, base * 2**attempt)."""
    step = min(cap, base * 2.0 ** min(max(attempt, 0), 64))
    delay = half_jitter(attempt, base, cap, random.Random(attempt))
    assert step / 2 <= delay <= step
