"""Test helpers shared by the adapter tests: an observation recorder and a bounded wait."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from adapters.base import AdapterState, Health
from adapters.observations import Observation

ObsT = TypeVar("ObsT", bound=Observation)


class Recorder:
    """Collects observations; tests wait for one that matches, without sleeping.

    Args:
        deadline: real seconds a wait may take; it only bounds a broken test.
    """

    def __init__(self, deadline: float = 8.0) -> None:
        self.deadline = deadline
        self.seen: list[Observation] = []
        self._changed = asyncio.Condition()

    async def __call__(self, observation: Observation) -> None:
        async with self._changed:
            self.seen.append(observation)
            self._changed.notify_all()

    async def next(
        self, kind: type[ObsT], where: Callable[[ObsT], bool] = lambda _: True, *, after: int = 0
    ) -> ObsT:
        """The first observation of ``kind`` matching ``where`` at index ``after`` or later."""

        def find() -> ObsT | None:
            return next((o for o in self.seen[after:] if isinstance(o, kind) and where(o)), None)

        async with asyncio.timeout(self.deadline), self._changed:
            await self._changed.wait_for(lambda: find() is not None)
        found = find()
        assert found is not None
        return found


async def eventually(condition: Callable[[], bool], deadline: float = 8.0) -> None:
    """Wait until ``condition()`` holds, or fail after ``deadline`` seconds."""
    # Health is a plain record with no change notification, so it is polled, with a deadline.
    async with asyncio.timeout(deadline):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


class StateHistory(Health):
    """A ``Health`` that remembers every state it entered, so a brief one is not missed."""

    def __init__(self) -> None:
        super().__init__()
        self.states: list[AdapterState] = []

    def enter(self, state: AdapterState) -> None:
        self.states.append(state)
        super().enter(state)
