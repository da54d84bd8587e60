"""A bound on how long a command may take to stop once it has been asked to.

The gateway's stop is cooperative: every task must honour its cancellation. One that does not
(a reconnect loop that mistakes a cancellation for a failed attempt) would keep the process
alive for ever, with no summary and no exit status. The deadline turns that into a one-line
report naming the tasks still running and a non-zero exit.
"""

from __future__ import annotations

import asyncio
import os
import sys

# Seconds from the stop request to the process's end. The gateway flushes its sinks for 5 s and
# every listener and client closes within a few more; anything beyond this is stuck.
STOP_DEADLINE = 60.0
# The exit status after the deadline passed (EX_SOFTWARE: an internal error).
EXIT_OVERDUE = 70


def arm_stop_deadline(command: str, seconds: float = STOP_DEADLINE) -> asyncio.TimerHandle:
    """End the process if it has not stopped within ``seconds`` from now.

    Call it in the running loop when the stop begins (a signal, or the work is done); arming it
    again re-arms nothing (each handle fires on its own, the first ends the process).

    Returns:
        The timer, for a caller that wants to cancel it.
    """
    return asyncio.get_running_loop().call_later(seconds, _overdue, command, seconds)


def _overdue(command: str, seconds: float) -> None:
    names = sorted(t.get_name() for t in asyncio.all_tasks() if not t.done())
    print(
        f"{command}: did not stop within {seconds:g} s; still running: {', '.join(names) or 'nothing'}",
        file=sys.stderr,
        flush=True,
    )
    # os._exit: a normal exit would wait for the very tasks that do not end. The outbox commits
    # every event before anything acknowledges it, so nothing accepted is lost.
    os._exit(EXIT_OVERDUE)
