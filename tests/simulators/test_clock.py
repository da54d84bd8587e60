"""The clocks: stepped time moves only when the test moves it; scaled time runs fast for real."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from simulators import ScaledClock, SteppedClock


async def test_stepped_sleep_wakes_only_when_time_passes() -> None:
    """A sleeper stays asleep until advance() reaches its deadline."""
    clock = SteppedClock()
    sleeper = asyncio.create_task(clock.sleep(10))
    await asyncio.wait_for(clock.wait_for_sleeper(10), 1)
    clock.advance(9.5)
    assert clock.next_deadline() == 10.0  # still asleep: advance() woke nobody
    clock.advance(0.5)
    assert clock.next_deadline() is None  # woken: its turn comes when we yield
    await asyncio.wait_for(sleeper, 1)
    assert clock.now() == 10.0


async def test_run_for_lets_chained_sleeps_fire_at_their_times() -> None:
    """A loop that sleeps 1 s at a time sees each second, not one jump to the end."""
    clock = SteppedClock()
    seen: list[float] = []

    async def ticker() -> None:
        while True:
            await clock.sleep(1.0)
            seen.append(clock.now())

    task = asyncio.create_task(ticker())
    await clock.run_for(5.0)
    task.cancel()
    assert seen == [1.0, 2.0, 3.0, 4.0, 5.0]


async def test_sleepers_wake_in_deadline_order() -> None:
    """Sleepers registered out of order wake in order of deadline."""
    clock = SteppedClock()
    order: list[int] = []

    async def sleep_then_note(seconds: int) -> None:
        await clock.sleep(seconds)
        order.append(seconds)

    tasks = [asyncio.create_task(sleep_then_note(s)) for s in (3, 1, 2)]
    await clock.run_for(3)
    await asyncio.gather(*tasks)
    assert order == [1, 2, 3]


async def test_run_until_returns_elapsed_or_times_out() -> None:
    """run_until reports the simulated time a condition took, and raises when it never holds."""
    clock = SteppedClock()
    flag = asyncio.Event()

    async def later() -> None:
        await clock.sleep(42)
        flag.set()

    task = asyncio.create_task(later())
    assert await clock.run_until(flag.is_set, within=100) == 42
    await task
    with pytest.raises(TimeoutError):
        await clock.run_until(lambda: False, within=3)


async def test_time_does_not_go_backwards() -> None:
    """Negative steps are refused."""
    clock = SteppedClock()
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        await clock.run_for(-1)


async def test_wall_time_follows_the_epoch() -> None:
    """wall() is the epoch plus simulated seconds, timezone-aware."""
    epoch = datetime(2026, 1, 1, tzinfo=UTC)
    clock = SteppedClock(epoch)
    clock.advance(90)
    assert clock.wall() == epoch + timedelta(seconds=90)


async def test_wait_for_uses_simulated_time() -> None:
    """wait_for gives up after simulated seconds, cancelling what it waited for."""
    clock = SteppedClock()
    never: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    waiter = asyncio.create_task(clock.wait_for(never, 5))
    await clock.run_for(5)
    with pytest.raises(TimeoutError):
        await waiter
    assert never.cancelled()
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    done.set_result(7)
    assert await clock.wait_for(done, 5) == 7


async def test_scaled_clock_runs_simulated_time_faster() -> None:
    """At time_scale 10 000, a simulated minute passes in a few real milliseconds."""
    clock = ScaledClock(time_scale=10_000)
    start_real = asyncio.get_running_loop().time()
    await clock.sleep(60)
    assert clock.now() >= 60
    assert asyncio.get_running_loop().time() - start_real < 1.0


def test_scaled_clock_rejects_non_positive_scale() -> None:
    """A zero or negative time scale makes no sense."""
    with pytest.raises(ValueError):
        ScaledClock(time_scale=0)
