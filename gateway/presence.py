"""Presence: a machine that stops answering is reported in CFX, and again when it answers.

One watch per machine (``watch``) compares the adapter's last answer with the line's grace
period (``[line] link_grace``, per machine ``link_grace``). Silence longer than the grace, with
the link down or up but mute, feeds the machine's normalizer a ``LinkLost``: FaultOccurred
``CommunicationLost`` and StationStateChanged to USD go out at the end of the grace period, and
the gateway's Heartbeat for the machine stops. The next answer feeds ``LinkRestored``:
FaultCleared, and the machine's own state again. docs/liveness.md says why these messages.

Pure decision (``silence_deadline``) apart from the loop that waits on it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from adapters.observations import LinkLost, LinkRestored

if TYPE_CHECKING:
    from gateway.runtime import MachineRuntime

log = structlog.get_logger("linegate.presence")

#: the shortest grace accepted: below it a slow poll would count as a loss
MIN_GRACE = 1.0
#: the longest: CFX wants to hear from an endpoint at least every 5 minutes (Heartbeat)
MAX_GRACE = 300.0


def silence_deadline(last_answer: float, watching_since: float, grace: float) -> float:
    """Loop time at which the machine counts as lost if it does not answer before.

    Silence counts from its last answer, or from when the watch began for a machine that has
    not answered yet (a machine down at start is reported after one grace period too).
    """
    return max(last_answer, watching_since) + grace


async def watch(runtime: MachineRuntime, grace: float) -> None:
    """Report ``runtime``'s machine lost after ``grace`` seconds of silence, and back at its
    next answer; runs until cancelled."""
    adapter = runtime.adapter
    loop = asyncio.get_running_loop()
    began = loop.time()
    while True:
        # A timer to the deadline, re-armed while answers move the deadline on: no wake-up per
        # answer (alive() runs on every poll) and none per tick.
        while (remaining := silence_deadline(adapter.last_answer, began, grace) - loop.time()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(remaining)
        last = max(adapter.last_answer, began)
        now = datetime.now(UTC)
        since = now - timedelta(seconds=loop.time() - last)
        reason = adapter.health.last_error
        log.warning("machine.unreachable", machine=runtime.machine_id, silent_s=round(loop.time() - last, 3))
        lost = LinkLost(
            machine_id=runtime.machine_id, at=now, since=since, protocol=adapter.protocol, reason=reason
        )
        await runtime.record(lost)
        await adapter.wait_answer(after=last)
        log.info("machine.reachable", machine=runtime.machine_id, lost_s=round(loop.time() - last, 3))
        await runtime.record(LinkRestored(machine_id=runtime.machine_id, at=datetime.now(UTC)))


__all__ = ["MAX_GRACE", "MIN_GRACE", "silence_deadline", "watch"]
