"""The clock every simulator takes: real time, accelerated real time, or time stepped by a test.

Simulators never call ``asyncio.sleep`` or read the wall clock themselves; they ask their
:class:`Clock`. Three behaviours share one interface:

- ``ScaledClock()``: real time (``time_scale=1.0``), the default for ``linegate simulate``.
- ``ScaledClock(time_scale=60)``: one real second is a simulated minute.
- ``SteppedClock()``: time stands still until a test moves it with :meth:`SteppedClock.advance`
  or :meth:`SteppedClock.run_for`, so a ten-minute oven warm-up takes milliseconds and no test
  sleeps for real.

``now()`` is simulated seconds since the clock's epoch (a float, monotonic); ``wall()`` is the
matching aware UTC datetime, for timestamps a machine reports.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

_T = TypeVar("_T")

# How many times run_for/run_until yield to the event loop after waking sleepers, so that the
# woken tasks run, and register their next sleep, before time moves on. Woken simulator tasks
# only do in-memory work and non-blocking transport writes between two sleeps, so a few
# passes suffice; the number is generous to cover a short chain of futures.
_SETTLE_PASSES = 8


class Clock(ABC):
    """Simulated time.

    Args:
        epoch: the wall-clock moment that ``now() == 0`` stands for; defaults to the moment the
            clock is made.
    """

    def __init__(self, epoch: datetime | None = None) -> None:
        self._epoch = epoch or datetime.now(UTC)

    @abstractmethod
    def now(self) -> float:
        """Return simulated seconds since the epoch."""

    @abstractmethod
    async def sleep(self, seconds: float) -> None:
        """Wait until ``seconds`` of simulated time have passed (at once for ``seconds <= 0``)."""

    async def sleep_until(self, deadline: float) -> None:
        """Wait until ``now() >= deadline``."""
        await self.sleep(deadline - self.now())

    def wall(self) -> datetime:
        """Return the simulated moment as an aware UTC datetime."""
        return self._epoch + timedelta(seconds=self.now())

    async def wait_for(self, awaitable: asyncio.Future[_T], seconds: float) -> _T:
        """Wait for ``awaitable`` at most ``seconds`` of simulated time.

        Raises:
            TimeoutError: the simulated time ran out first (the awaitable is cancelled).
        """
        timer = asyncio.ensure_future(self.sleep(seconds))
        try:
            waiting: set[asyncio.Future[Any]] = {awaitable, timer}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if awaitable.done():
                return awaitable.result()
            awaitable.cancel()
            raise TimeoutError(f"no result within {seconds} simulated seconds")
        finally:
            timer.cancel()


class ScaledClock(Clock):
    """Real time, optionally accelerated: ``time_scale`` simulated seconds per real second.

    Args:
        time_scale: simulated seconds per real second (> 0); 1.0 is real time.
        epoch: see :class:`Clock`.

    Raises:
        ValueError: ``time_scale`` is not positive.
    """

    def __init__(self, time_scale: float = 1.0, epoch: datetime | None = None) -> None:
        if not time_scale > 0:
            raise ValueError(f"time_scale must be > 0, not {time_scale!r}")
        super().__init__(epoch)
        self.time_scale = time_scale
        self._origin: float | None = None

    def _loop_time(self) -> float:
        return asyncio.get_running_loop().time()

    def now(self) -> float:
        """Return simulated seconds since the first call (the clock starts when first read)."""
        loop_now = self._loop_time()
        if self._origin is None:
            self._origin = loop_now
        return (loop_now - self._origin) * self.time_scale

    def wall(self) -> datetime:
        """Return the epoch plus the *real* seconds since the clock started, as an aware UTC datetime.

        Acceleration speeds up the machine's process, not its calendar: a machine's timestamps
        (CFX TimeStamp, OccurredAt) stay beside the gateway's and the host's wall clock, as a
        real machine's do, instead of running ahead ``time_scale`` times as fast.
        """
        return self._epoch + timedelta(seconds=self.now() / self.time_scale)

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds / time_scale`` real seconds."""
        self.now()  # start the clock no later than the first sleep
        await asyncio.sleep(max(seconds, 0.0) / self.time_scale)


class SteppedClock(Clock):
    """Time that moves only when a test moves it.

    Sleepers are kept in a heap by deadline; :meth:`advance` and :meth:`run_for` wake them in
    deadline order. Nothing here sleeps for real.
    """

    def __init__(self, epoch: datetime | None = None) -> None:
        super().__init__(epoch)
        self._now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._new_sleeper = asyncio.Event()

    def now(self) -> float:
        """Return simulated seconds since the epoch."""
        return self._now

    def next_deadline(self) -> float | None:
        """Return the earliest pending sleeper's deadline, or None if nobody sleeps."""
        self._discard_cancelled()
        return self._sleepers[0][0] if self._sleepers else None

    async def sleep(self, seconds: float) -> None:
        """Wait until the test has moved time ``seconds`` forward."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), future))
        self._new_sleeper.set()
        await future

    async def wait_for_sleeper(self, deadline: float) -> None:
        """Wait, in real time, until some task sleeps until ``deadline`` (simulated seconds).

        This is how a test knows a request that travelled over a real socket or pty has
        reached the simulator and is now waiting on the clock, so that moving time is
        meaningful. Wrap it in ``asyncio.wait_for`` to bound the real wait.
        """
        while not any(
            abs(when - deadline) < 1e-9 and not future.done() for when, _, future in self._sleepers
        ):
            self._new_sleeper.clear()
            await self._new_sleeper.wait()

    def advance(self, seconds: float) -> None:
        """Jump ``seconds`` forward at once and wake every sleeper due by then.

        The woken tasks run when the caller next yields to the loop and all see the final time.
        Use :meth:`run_for` when sleeps chain (a loop that sleeps again after waking).

        Raises:
            ValueError: ``seconds`` is negative.
        """
        if seconds < 0:
            raise ValueError("time does not go backwards")
        self._now += seconds
        self._wake_due()

    async def run_for(self, seconds: float) -> None:
        """Move time ``seconds`` forward deadline by deadline, letting woken tasks run at each.

        Raises:
            ValueError: ``seconds`` is negative.
        """
        if seconds < 0:
            raise ValueError("time does not go backwards")
        await self._settle()
        end = self._now + seconds
        while (deadline := self.next_deadline()) is not None and deadline <= end:
            self._now = max(self._now, deadline)
            self._wake_due()
            await self._settle()
        self._now = end
        await self._settle()

    async def run_until(self, condition: Callable[[], bool], *, within: float, step: float = 0.5) -> float:
        """Move time forward until ``condition()`` holds; return the simulated time it took.

        Time moves to the next sleeper's deadline, or by ``step`` when nobody sleeps (the
        condition may depend on a peer that is doing real I/O, such as a client request).

        Args:
            condition: checked after every step.
            within: the most simulated seconds to spend.
            step: how far to move when no sleeper is pending.

        Raises:
            TimeoutError: ``within`` simulated seconds passed and the condition still fails.
        """
        start = self._now
        await self._settle()
        while not condition():
            if self._now - start >= within:
                raise TimeoutError(f"condition still false after {within} simulated seconds")
            deadline = self.next_deadline()
            target = deadline if deadline is not None and deadline - self._now <= step else self._now + step
            self._now = min(max(target, self._now), start + within)
            self._wake_due()
            await self._settle()
        return self._now - start

    def _discard_cancelled(self) -> None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)

    def _wake_due(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    async def _settle(self) -> None:
        for _ in range(_SETTLE_PASSES):
            await asyncio.sleep(0)


__all__ = ["Clock", "ScaledClock", "SteppedClock"]
