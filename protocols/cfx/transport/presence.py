"""Presence of a CFX endpoint: EndpointConnected, periodic Heartbeat, EndpointShuttingDown.

reference §2.6: the standard requires a ``CFX.Heartbeat`` on every publish channel at least
every 5 minutes; the SDK sends one when a channel is added and then every HeartbeatFrequency
(default 1 min, allowed 1 s - 5 min). The SDK sends neither ``CFX.EndpointConnected`` nor
``CFX.EndpointShuttingDown`` itself; this class does, on entering and on a clean exit.
Heartbeats carry ActiveFaults/ActiveRecipes when the status callback knows them (null means
unknown, ``[]`` known to be empty).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType
from typing import Self

import structlog

from protocols.cfx.envelope import Envelope
from protocols.cfx.messages import ActiveRecipe, EndpointConnected, EndpointShuttingDown, Fault, Heartbeat
from protocols.errors import ConfigError, LinegateError, LocalProtocolError

__all__ = ["HeartbeatStatus", "Presence"]

log = structlog.get_logger("linegate.cfx.presence")

# reference §2.6 / §4: HeartbeatFrequency must lie between 1 s and 5 min.
MIN_INTERVAL = timedelta(seconds=1)
MAX_INTERVAL = timedelta(minutes=5)
DEFAULT_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class HeartbeatStatus:
    """What the next heartbeat reports; None = unknown (omitted as null), [] = known empty."""

    active_faults: list[Fault] | None = None
    active_recipes: list[ActiveRecipe] | None = None


class Presence:
    """Publishes an endpoint's presence messages through any ``publish`` coroutine.

    Args:
        publish: sends one envelope (``CFXPublisher.publish`` or ``AMQP10Publisher.publish``).
        handle: the endpoint's CFX handle (Source of every message).
        request_uri: the ``RequestNetworkUri`` of its listener, for EndpointConnected.
        request_target_address: the ``RequestTargetAddress``; defaults to the handle.
        interval: the heartbeat period, 1 s to 5 min.
        status: returns the ActiveFaults/ActiveRecipes for the next heartbeat.

    Raises:
        ConfigError: ``interval`` is outside 1 s - 5 min.
    """

    def __init__(
        self,
        publish: Callable[[Envelope], Awaitable[None]],
        *,
        handle: str,
        request_uri: str | None = None,
        request_target_address: str | None = None,
        interval: timedelta = DEFAULT_INTERVAL,
        status: Callable[[], HeartbeatStatus | None] | None = None,
    ) -> None:
        if not MIN_INTERVAL <= interval <= MAX_INTERVAL:
            raise ConfigError(
                f"heartbeat interval must be 1 s to 5 min, got {interval}", key="heartbeat_interval"
            )
        self._publish = publish
        self.handle = handle
        self.request_uri = request_uri
        self.request_target_address = request_target_address or handle
        self.interval = interval
        self._status = status
        self._task: asyncio.Task[None] | None = None
        self.heartbeats_sent = 0

    async def __aenter__(self) -> Self:
        """Publish EndpointConnected and start the heartbeat loop (first beat at once)."""
        if self._task is not None:
            raise LocalProtocolError("Presence is not reentrant")
        await self._publish(
            Envelope.create(
                EndpointConnected(
                    cfx_handle=self.handle,
                    request_network_uri=self.request_uri,
                    request_target_address=self.request_target_address,
                ),
                source=self.handle,
            )
        )
        self._task = asyncio.create_task(self._beat(), name=f"presence[{self.handle}].heartbeat")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop the heartbeats; on a clean exit publish EndpointShuttingDown."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if exc_type is None:
            await self._publish(
                Envelope.create(EndpointShuttingDown(cfx_handle=self.handle), source=self.handle)
            )

    def heartbeat(self) -> Envelope:
        """The next CFX.Heartbeat envelope, with the status callback's faults and recipes."""
        status = (self._status() if self._status is not None else None) or HeartbeatStatus()
        return Envelope.create(
            Heartbeat(
                cfx_handle=self.handle,
                heartbeat_frequency=self.interval,
                active_faults=status.active_faults,
                active_recipes=status.active_recipes,
            ),
            source=self.handle,
        )

    async def _beat(self) -> None:
        loop = asyncio.get_running_loop()
        period = self.interval.total_seconds()
        next_at = loop.time()
        while True:
            try:
                await self._publish(self.heartbeat())
                self.heartbeats_sent += 1
            except LinegateError as exc:
                log.warning("heartbeat.failed", handle=self.handle, error=str(exc))
            # Fixed-rate schedule: a slow publish does not stretch the period.
            next_at = max(next_at + period, loop.time())
            await asyncio.sleep(next_at - loop.time())
