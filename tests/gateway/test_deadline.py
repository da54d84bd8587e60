"""A command that does not stop within its deadline ends anyway, naming what was still running."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from gateway.deadline import EXIT_OVERDUE

STUBBORN = textwrap.dedent(
    """
    import asyncio
    from gateway.deadline import arm_stop_deadline

    async def stubborn(waiting: asyncio.Event) -> None:
        while True:  # swallows every cancellation, as the demo's hung publish loop did
            try:
                waiting.set()
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                pass

    async def main() -> None:
        waiting = asyncio.Event()
        task = asyncio.create_task(stubborn(waiting), name="simulator[placement].publish")
        arm_stop_deadline("linegate demo", 0.3)
        await waiting.wait()  # it is inside its loop: a cancel now is one it swallows
        task.cancel()
        await task

    asyncio.run(main())
    """
)


def test_a_stop_that_hangs_ends_at_the_deadline() -> None:
    """The process exits with EXIT_OVERDUE and one line naming the tasks that did not end."""
    done = subprocess.run([sys.executable, "-c", STUBBORN], capture_output=True, text=True, timeout=60)
    assert done.returncode == EXIT_OVERDUE
    assert done.stderr.splitlines() == [
        "linegate demo: did not stop within 0.3 s; still running: Task-1, simulator[placement].publish"
    ]
