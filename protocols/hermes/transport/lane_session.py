"""What both sides of a Hermes lane share: the session record, the waiting, the message handler.

:class:`LaneBase` is the common half of :class:`~protocols.hermes.transport.lane.SenderLane`
and :class:`~protocols.hermes.transport.lane.ReceiverLane`: one :class:`LaneSession` at a time,
verbs that wait until the session is in a state where their message is legal, and the handler
that records each transition's message for them, run in the socket's callback. What a message
did comes from the core (``next_event()``'s outcome), looked up in one table here; the lane
re-derives nothing.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any

from protocols.errors import ConnectionClosed, ProtocolError
from protocols.hermes.connection import HorizontalConnection, shutdown_notification
from protocols.hermes.messages import (
    BoardAvailable,
    MachineReady,
    Message,
    RevokeBoardAvailable,
    RevokeMachineReady,
    ServiceDescription,
    StartTransport,
    StopTransport,
    SupportedFeatures,
    TransportFinished,
    UnknownMessage,
)
from protocols.hermes.state import Role, State
from protocols.hermes.table import Outcome
from protocols.hermes.transport.lane_stream import LaneStream
from protocols.hermes.transport.stream import HermesConnectionClosed, run_shielded

#: The lane's session ended (or the lane is closing) while a handoff step waited on it:
#: linegate's one "closed" error (the old name stays an alias).
LaneDisconnected = ConnectionClosed


class LaneSession:
    """One TCP session of a lane and what it has heard in the current handoff cycle."""

    def __init__(self, stream: LaneStream, connection: HorizontalConnection) -> None:
        self.stream = stream
        self.connection = connection
        self.alive = True
        self.handshaken = False
        self.board: BoardAvailable | None = None
        self.ready: MachineReady | None = None
        self.start: StartTransport | None = None
        self.stop: StopTransport | None = None
        self.finished: TransportFinished | None = None

    @property
    def state(self) -> State:
        return self.connection.state


# A transition's message -> (the LaneSession field it sets, whether it is kept or the field cleared).
_CYCLE_FIELDS: dict[type, tuple[str, bool]] = {
    BoardAvailable: ("board", True),
    RevokeBoardAvailable: ("board", False),
    MachineReady: ("ready", True),
    RevokeMachineReady: ("ready", False),
    StartTransport: ("start", True),
    StopTransport: ("stop", True),
    TransportFinished: ("finished", True),
}


class LaneBase:
    """What both sides share: the session, the change condition, the task group, the stop."""

    role: Role

    def __init__(
        self,
        *,
        machine_id: str,
        lane_id: int,
        features: SupportedFeatures,
        version: str,
        interface_id: str | None,
        check_alive_period: float | None,
        on_message: Callable[[Message | UnknownMessage], None] | None,
    ) -> None:
        self.machine_id = machine_id
        #: Called with every message the peer sends (Notifications, Commands, BoardForecasts,
        #: unknown tags, ...), before the lane acts on it; it must not block.
        self.on_message = on_message
        self.lane_id = lane_id
        self.description = ServiceDescription(
            machine_id=machine_id,
            lane_id=lane_id,
            version=version,
            supported_features=features,
            interface_id=interface_id,
        )
        self.check_alive_period = check_alive_period
        self._session: LaneSession | None = None
        # Futures of the verbs waiting for a change; all are woken on every change (a cheap
        # Condition: no lock is needed, everything runs on the loop's thread).
        self._waiters: list[asyncio.Future[None]] = []
        self._tg: asyncio.TaskGroup | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop the lane was entered on
        self._lock = asyncio.Lock()
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._handoff: LaneSession | None = None

    @property
    def name(self) -> str:
        """The prefix of this lane's task names: ``hermes[<machine>/lane<n>]``."""
        return f"hermes[{self.machine_id}/lane{self.lane_id}]"

    @property
    def state(self) -> State:
        """The lane state of the current session (NotConnected when there is none)."""
        session = self._session
        return session.state if session is not None else State.NOT_CONNECTED

    @property
    def connected(self) -> bool:
        """Whether a session has completed the ServiceDescription exchange."""
        session = self._session
        return session is not None and session.alive and session.handshaken

    @property
    def peer_description(self) -> ServiceDescription | None:
        """The peer's ServiceDescription in the current session (its MachineId, features)."""
        session = self._session
        return session.connection.peer_description if session is not None else None

    async def wait_connected(self) -> None:
        """Wait until a session has completed the ServiceDescription exchange."""
        await self._wait(lambda s: True)

    async def send(self, message: Message) -> None:
        """Send any other message on the current session: Notification, Command, BoardForecast,
        QueryBoardInfo, SendBoardInfo, ... (optional ones only if the peer announced them).

        Raises:
            LaneDisconnected: the message is not allowed now (the session is then closed with
                the error's Notification, as the standard asks), or the session is gone.
        """
        session = await self._wait(lambda s: True)
        await self._send(session, message)

    # -- session plumbing --------------------------------------------------------------------

    async def _open_group(self) -> None:
        """Start the lane's task group (the first step of ``__aenter__``)."""
        self._closing = False
        self._loop = asyncio.get_running_loop()
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()

    def _spawn(self, coro: Coroutine[Any, Any, None], suffix: str) -> asyncio.Task[None]:
        assert self._tg is not None, "use the lane as 'async with'"
        task = self._tg.create_task(coro, name=f"{self.name}.{suffix}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _wait(
        self, ready: Callable[[LaneSession], bool], bound: LaneSession | None = None
    ) -> LaneSession:
        """Wait until the (``bound``, else current) handshaken session satisfies ``ready``."""
        while True:
            session = self._session
            if bound is not None and (session is not bound or not bound.alive):
                if self._handoff is bound:
                    self._handoff = None  # the next handoff starts on whatever session comes
                raise LaneDisconnected(f"{self.name}: the session ended during the handoff")
            if session is not None and session.alive and session.handshaken and ready(session):
                return session
            if self._closing:
                raise LaneDisconnected(f"{self.name}: the lane is closing")
            # The lane's loop, not get_running_loop(): that one asks the kernel for the pid.
            assert self._loop is not None, "use the lane as 'async with'"
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                waiter.cancel()  # a cancelled verb leaves no waiter behind

    async def _run_session(self, session: LaneSession) -> None:
        """Run the session until it ends; its messages are handled as they arrive (:meth:`_handle`)."""
        stream = session.stream
        keep_alive = self._spawn(stream.keep_alive(), "check_alive")
        try:
            stream.start(functools.partial(self._handle, session))
            await stream.wait_ended()
        finally:
            # The session is over for the lane at once (a new receiver may connect), even while
            # its socket still closes.
            session.alive = False
            stream.finish()
            keep_alive.cancel()
            if self._session is session:
                self._session = None
            self._notify()
            await stream.aclose()

    def _handle(self, session: LaneSession, message: Message | UnknownMessage) -> None:
        """One received message, in the socket's callback: keep the cycle fields up to date for
        the verbs and wake them (no task in between, issue 19)."""
        if self.on_message is not None:
            self.on_message(message)
        # Only a transition changes what a verb waits on: an ignored early BoardAvailable (§3),
        # Notifications, CheckAlives and unknown tags do not.
        if session.connection.outcome is not Outcome.TRANSITION:
            return
        kind = type(message)
        if kind is ServiceDescription:
            if self.role is Role.SENDER:
                if not self._claim(session):
                    session.stream.finish()
                    return
                # The server answers the receiver's ServiceDescription (reference §3).
                session.stream.send_nowait(self.description)
                session.stream.established()
            session.handshaken = True
        else:
            field, keep = _CYCLE_FIELDS[kind]
            setattr(session, field, message if keep else None)
        self._notify()

    def _claim(self, session: LaneSession) -> bool:
        """The session completed its handshake: may it have the lane? (The sender decides.)"""
        return True

    async def _send(self, session: LaneSession, message: Message) -> None:
        stream = session.stream
        try:
            stream.send_nowait(message)  # (LaneStream.send without its coroutine: one less per message)
            if stream.paused:
                await stream.drained()
        except (ProtocolError, HermesConnectionClosed) as exc:
            raise LaneDisconnected(f"{self.name}: sending {type(message).__name__} failed: {exc}") from exc

    async def _shutdown_session(self) -> None:
        session = self._session
        if session is not None and session.alive:
            await session.stream.aclose(shutdown_notification())

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closing = True
        self._notify()
        await run_shielded(self._close_all())
        for task in list(self._tasks):
            task.cancel()
        assert self._tg is not None
        tg, self._tg = self._tg, None
        # The body's own exception propagates by itself; passing it in would wrap it in a group.
        await tg.__aexit__(None, None, None)

    async def _close_all(self) -> None:
        raise NotImplementedError


__all__ = ["LaneBase", "LaneDisconnected", "LaneSession"]
