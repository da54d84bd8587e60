"""Jittered, capped exponential backoff for reconnect loops.

"Full jitter": each delay is uniform in ``[0, min(cap, base * factor**attempt)]``, so many
gateways that lost the same broker do not reconnect in lockstep, and none spins while the broker
is down because the expected delay grows until the cap. "Half jitter" (:func:`half_jitter`) keeps
each delay between half and all of its step, for peers that must not come back at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["Backoff", "full_jitter", "half_jitter"]


def full_jitter(
    failures: int, base: float, cap: float, rng: random.Random, floor: float | None = None
) -> float:
    """The delay after ``failures`` consecutive failures (1 for the first): uniform in
    ``[0, min(cap, base * 2**(failures-1))]``, never below ``floor`` (default ``base / 4``), so
    even an unlucky draw does not spin."""
    ceiling = min(cap, base * 2.0 ** min(max(failures, 1) - 1, 64))
    return max(base / 4 if floor is None else floor, rng.uniform(0.0, ceiling))


def half_jitter(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """The delay before retry ``attempt`` (0 for the first): uniform in ``[c/2, c]`` with
    ``c = min(cap, base * 2**attempt)``. Never less than half the step, for peers that must not
    come back at once (a Hermes receiver reconnecting to a restarted sender, lib: 1 s / 10 s)."""
    ceiling = min(cap, base * 2.0 ** min(max(attempt, 0), 64))
    return ceiling * (0.5 + 0.5 * rng.random())


@dataclass(slots=True)
class Backoff:
    """Delays for successive reconnect attempts.

    Args:
        base: the cap of the first delay, in seconds.
        cap: the largest delay, in seconds.
        factor: growth per failed attempt.
        floor: the smallest delay, so even an unlucky draw does not spin.
    """

    base: float = 0.1
    cap: float = 10.0
    factor: float = 2.0
    floor: float = 0.05
    attempt: int = 0
    _random: random.Random = field(default_factory=random.Random, repr=False)

    def next_delay(self) -> float:
        """Return the delay before the next attempt and count the attempt."""
        ceiling = min(self.cap, self.base * self.factor**self.attempt)
        self.attempt = min(self.attempt + 1, 64)  # no float overflow after days of outage
        return max(self.floor, self._random.uniform(0.0, ceiling))

    def reset(self) -> None:
        """Start over after a successful connection."""
        self.attempt = 0
