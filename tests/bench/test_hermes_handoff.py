"""``bench/hermes_handoff.py``'s two-process parts, briefly (the bench itself runs minutes).

The floor must bounce exactly the bytes a lane sends, in a lane's order, or its figure means
nothing; the placements must really pin both processes, and a split run must finish.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    # On the path for the module's tests: the spawned receiving process imports it too.
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("hermes_handoff")
    finally:
        sys.path.remove(str(BENCH))


def test_the_floor_waits_for_exactly_what_the_other_side_sends(bench: ModuleType) -> None:
    parts = bench._floor_parts()
    sender = bench._floor_steps("sender", parts, 3)
    receiver = bench._floor_steps("receiver", parts, 3)

    def sent(steps: list[bytes | int]) -> list[int]:
        return [len(step) for step in steps if isinstance(step, bytes)]

    def awaited(steps: list[bytes | int]) -> list[int]:
        return [step for step in steps if isinstance(step, int)]

    # Each side waits for the other's bytes, in the order they are written; the receiver's last
    # MachineReady is the only thing nobody waits for (the sender stops at its StopTransport).
    assert sum(awaited(receiver)) == sum(sent(sender))
    assert sum(awaited(sender)) == sum(sent(receiver)) - len(parts["MR"])
    # A lane's order: BoardAvailable, StartTransport (after the MachineReady), TransportFinished,
    # StopTransport + MachineReady.
    assert receiver[:6] == [
        parts["MR"],
        len(parts["BA"]),
        parts["ST"],
        len(parts["TF"]),
        parts["SP"],
        parts["MR"],
    ]


async def test_the_floor_runs_between_two_processes(bench: ModuleType) -> None:
    assert await bench.floor_split(50) > 0


async def test_a_receiving_process_that_fails_is_reported_not_waited_for(bench: ModuleType) -> None:
    # A CPU that does not exist: the receiving process fails pinning itself, before it connects.
    placement = ({min(os.sched_getaffinity(0))}, {4096})
    with pytest.raises(RuntimeError, match="the receiving process failed"):
        await bench.floor_split(50, placement)
    with pytest.raises(RuntimeError, match="the receiving process failed"):
        await bench.handoffs(1, 5, split=True, placement=placement)


async def test_a_split_run_on_one_shared_core_finishes_and_restores_the_affinity(bench: ModuleType) -> None:
    before = os.sched_getaffinity(0)
    cpu: list[float] = []
    rate, latencies = await bench.handoffs(1, 20, split=True, cpu=cpu, placement=bench.PLACEMENTS["shared"])
    assert rate > 0 and len(latencies) == 20
    assert len(cpu) == 2 and all(seconds > 0 for seconds in cpu)  # the sender's and the receiver's
    assert os.sched_getaffinity(0) == before


def test_pinned_restores_the_affinity_after_an_error(bench: ModuleType) -> None:
    before = os.sched_getaffinity(0)
    with pytest.raises(RuntimeError), bench._pinned({min(before)}):
        assert os.sched_getaffinity(0) == {min(before)}
        raise RuntimeError
    assert os.sched_getaffinity(0) == before
