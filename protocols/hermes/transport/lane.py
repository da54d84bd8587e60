"""asyncio Hermes lanes with a high-level API that reads like the physical handoff.

Two classes, one per side of a lane (reference §0):

* :class:`SenderLane`, the **board sender's Downstream interface**, a TCP server on
  ``50100 + lane_id`` by default. It takes one receiver at a time: a second connection gets
  Notification code 2 (severity Error) and is closed while the first is kept, and the first
  gets a CheckAlive so that a dead socket shows up (lib does the same, reference §1). That holds
  while the first has not sent its ServiceDescription yet, too; a first connection that is still
  silent at its handshake deadline is dropped, and the next connection gets the lane. A first
  connection whose peer has already closed (as the kernel reports it) no longer holds the lane.
  Application verbs: :meth:`SenderLane.offer_board`, :meth:`SenderLane.wait_for_start`,
  :meth:`SenderLane.finish_transport`, or all three as :meth:`SenderLane.hand_over`.
* :class:`ReceiverLane`, the **board receiver's Upstream interface**, a TCP client that
  reconnects with jittered backoff: fast after a session that worked dropped, slower otherwise
  (lib: 1 s and 10 s, reference §3). Application verbs: :meth:`ReceiverLane.announce_ready`,
  :meth:`ReceiverLane.wait_for_board`, :meth:`ReceiverLane.start_transport`,
  :meth:`ReceiverLane.stop_transport`, or all of them as :meth:`ReceiverLane.take_over`.

Both answer the ServiceDescription handshake themselves, run their background work as named
tasks in one TaskGroup (``hermes[<machine>/lane<n>].receive`` …), and on a clean stop send
Notification code 5 (MachineShutdown) before closing. The state table is never touched by the
application: each verb waits until the lane is in a state where its message is legal.
If the session drops during a handoff, the waiting verb raises :class:`LaneDisconnected`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import Callable
from datetime import datetime
from typing import Self

from protocols.backoff import half_jitter
from protocols.errors import ProtocolError
from protocols.hermes.codec import encode
from protocols.hermes.connection import (
    DEFAULT_CHECK_ALIVE_PERIOD,
    Admission,
    HorizontalConnection,
    admit_connection,
    refusal_notification,
)
from protocols.hermes.messages import (
    BoardAvailable,
    BoardQuality,
    CheckAlive,
    MachineReady,
    Message,
    RevokeBoardAvailable,
    RevokeMachineReady,
    StartTransport,
    StopTransport,
    SupportedFeatures,
    TransferState,
    TransportFinished,
    UnknownMessage,
)
from protocols.hermes.state import Role, State
from protocols.hermes.transport.lane_session import LaneBase, LaneDisconnected, LaneSession
from protocols.hermes.transport.lane_stream import LaneStream
from protocols.hermes.transport.stream import MESSAGE_TIMEOUT, HermesConnectionClosed
from protocols.transport.guard import (
    HANDSHAKE_TIMEOUT,
    PeerGuard,
    PeerLimits,
    create_guarded_server,
    guard_of,
    peer_has_closed,
)

#: Horizontal ports are 50100 + LaneId by default (reference §1, lib ``cBASE_PORT``).
BASE_PORT = 50100

#: The Hermes version we announce (reference §2.5).
HERMES_VERSION = "1.6"


#: The default MachineReady: a board of any quality (messages are immutable: built once).
ANY_BOARD_READY = MachineReady(failed_board=BoardQuality.ANY)

#: The default SupportedFeatures: none announced.
NO_FEATURES = SupportedFeatures()

#: What a lane's server tolerates. One session per lane (reference §1); the rest of the cap is
#: room for refusals in flight. The receiver sends ServiceDescription at once after connecting
#: (reference §3), so 10 s is ample; it is also how long a silent first connection holds the lane
#: against newcomers. No idle deadline: lib peers may run with CheckAlive off, and a quiet lane
#: is normal; a dead one shows when our CheckAlive fails.
LANE_LIMITS = PeerLimits(max_connections=8, handshake_timeout=10.0, idle_timeout=None)


def lane_port(lane_id: int) -> int:
    """The default TCP port of a lane's sender: 50100 + LaneId (reference §1)."""
    return BASE_PORT + lane_id


class SenderLane(LaneBase):
    """The board sender's side of one lane: the Downstream interface, a TCP server.

    Use it as ``async with SenderLane(machine_id="M1", lane_id=1) as lane:``, then hand boards
    over with :meth:`hand_over`, or step by step with :meth:`offer_board`,
    :meth:`wait_for_start` and :meth:`finish_transport`.

    Args:
        machine_id: our MachineId (in our ServiceDescription).
        lane_id: the lane (1, 2, ...).
        host: the address to listen on.
        port: the TCP port; default 50100 + lane_id; 0 picks a free one (see :attr:`port`).
        features: the SupportedFeatures we announce.
        version: the Hermes version we announce.
        interface_id: our InterfaceId, if any.
        client_address: accept connections only from this IP (the ClientAddress setting).
        check_alive_period: seconds between plain CheckAlives on a quiet session (None: off).
        on_message: called with every message the receiver sends (see :attr:`on_message`).
        limits: what the server tolerates from peers (connection cap, handshake deadline,
            write buffer); a peer past them is dropped and logged (``peer.dropped``). The
            handshake deadline is also how long a silent receiver holds the lane against a new
            connection (None: until it closes).
        message_timeout: seconds a peer may take to finish a message it started.
    """

    role = Role.SENDER

    def __init__(
        self,
        *,
        machine_id: str,
        lane_id: int,
        host: str = "0.0.0.0",
        port: int | None = None,
        features: SupportedFeatures = NO_FEATURES,
        version: str = HERMES_VERSION,
        interface_id: str | None = None,
        client_address: str | None = None,
        check_alive_period: float | None = DEFAULT_CHECK_ALIVE_PERIOD,
        on_message: Callable[[Message | UnknownMessage], None] | None = None,
        limits: PeerLimits = LANE_LIMITS,
        message_timeout: float | None = MESSAGE_TIMEOUT,
    ) -> None:
        super().__init__(
            machine_id=machine_id,
            lane_id=lane_id,
            features=features,
            version=version,
            interface_id=interface_id,
            check_alive_period=check_alive_period,
            on_message=on_message,
        )
        self.host = host
        self.port = lane_port(lane_id) if port is None else port
        self.client_address = client_address
        self._server: asyncio.Server | None = None
        self.refused = 0
        self.message_timeout = message_timeout
        #: Enforces ``limits``; its ``dropped`` counts the peers dropped, by reason.
        self.guard = PeerGuard(self.name, "hermes.lane", limits)

    async def __aenter__(self) -> Self:
        await self._open_group()
        try:
            # SO_REUSEADDR: a restarted sender must bind again at once (lib's gotcha, §3).
            self._server = await create_guarded_server(
                self.guard, self._new_stream, self.host, self.port, reuse_address=True, family=socket.AF_INET
            )
        except BaseException as exc:
            assert self._tg is not None
            await self._tg.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def _new_stream(self) -> LaneStream:
        # Made by the guard for an admitted connection only.
        connection = HorizontalConnection(
            Role.SENDER,
            check_alive_period=self.check_alive_period,
            now=asyncio.get_running_loop().time(),
            handshake_timeout=self.guard.limits.handshake_timeout,
        )
        return LaneStream(connection, message_timeout=self.message_timeout, on_connected=self._on_connect)

    def _on_connect(self, stream: LaneStream) -> None:
        if self._closing or self._tg is None:
            assert stream.transport is not None
            stream.transport.close()
            return
        self._spawn(self._accept(stream), "receive")

    async def _accept(self, stream: LaneStream) -> None:
        loop = asyncio.get_running_loop()
        connection = stream.connection
        peer_ip = stream.peer[0] if stream.peer else None
        if self.client_address is not None and peer_ip != self.client_address:
            await stream.aclose()  # the ClientAddress filter (reference §1)
            return
        current = self._session
        if current is not None and self._ended(current):
            self._end(current)
            current = None
        admission = admit_connection(current.connection if current is not None else None, loop.time())
        if admission is Admission.REFUSE:
            assert current is not None
            await self._refuse(stream, current)
            return
        if admission is Admission.REPLACE:
            assert current is not None
            self._end(current, HANDSHAKE_TIMEOUT)
        session = LaneSession(stream, connection)
        self._session = session
        await self._run_session(session)

    def _claim(self, session: LaneSession) -> bool:
        # A session that lost the lane meanwhile (dropped at its deadline) does not answer.
        return self._session is session and session.alive

    @staticmethod
    def _ended(session: LaneSession) -> bool:
        # Over, though its task may not have seen it yet: closing on our side (dropped by the
        # guard, say), or closed by the peer (a quick connect/close; its EOF is still unread).
        transport = session.stream.transport
        assert transport is not None
        return not session.alive or transport.is_closing() or peer_has_closed(transport)

    def _end(self, session: LaneSession, reason: str | None = None) -> None:
        """Take the lane from ``session`` and abort its socket: quietly if it had ended anyway,
        else as a drop (logged and counted by the guard) for ``reason``."""
        session.alive = False
        if self._session is session:
            self._session = None
        transport = session.stream.transport
        assert transport is not None
        guard = guard_of(transport)
        if reason is not None and guard is not None:
            guard.drop(reason, timeout=self.guard.limits.handshake_timeout)
        elif not transport.is_closing():  # (a close under way may still flush its last bytes)
            transport.abort()
        self._notify()

    async def _refuse(self, stream: LaneStream, current: LaneSession) -> None:
        # One connection per lane (reference §1, [acc]): refuse with code 2 / Error, keep the
        # first, and probe it with a CheckAlive so a dead old socket shows up.
        self.refused += 1
        with contextlib.suppress(HermesConnectionClosed):
            await stream.write_raw(encode(refusal_notification(), timestamp=datetime.now()))
        await stream.aclose()
        with contextlib.suppress(ProtocolError, HermesConnectionClosed):
            await current.stream.send(CheckAlive())

    async def _close_all(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._shutdown_session()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._server.wait_closed()

    # -- the handoff, as the sending machine sees it ------------------------------------------

    async def offer_board(self, board: BoardAvailable) -> None:
        """Announce a board ready to leave (BoardAvailable), as soon as the lane allows it.

        Waits for a connected receiver and for the lane to be idle or ready (a board offered
        while the previous one still moves would be forgotten by the receiver, reference §3).

        Raises:
            LaneDisconnected: the session ended or the lane is closing.
        """
        async with self._lock:
            session = await self._wait(
                lambda s: s.state in (State.NOT_AVAILABLE_NOT_READY, State.MACHINE_READY)
            )
            session.start = session.stop = None
            session.board = board
            self._handoff = session
            await self._send(session, board)

    async def revoke_board(self) -> None:
        """Withdraw the offered board (RevokeBoardAvailable) before the transport starts."""
        session = await self._wait(
            lambda s: s.state in (State.BOARD_AVAILABLE, State.AVAILABLE_AND_READY), self._handoff
        )
        session.board = None
        await self._send(session, RevokeBoardAvailable())

    async def wait_for_start(self) -> StartTransport:
        """Wait until the receiver starts taking the board (StartTransport) and return it.

        Raises:
            LaneDisconnected: the session ended meanwhile.
        """
        session = await self._wait(lambda s: s.start is not None, self._handoff)
        assert session.start is not None
        return session.start

    async def finish_transport(
        self, board_id: str | None = None, transfer_state: TransferState = TransferState.COMPLETE
    ) -> StopTransport:
        """Report the board handed over (TransportFinished) and wait for the receiver's StopTransport.

        Args:
            board_id: the board; default the StartTransport's BoardId.
            transfer_state: how the transfer ended (Complete by default).

        Returns:
            the receiver's StopTransport (it may have arrived first, if the receiver stopped).

        Raises:
            LaneDisconnected: the session ended meanwhile.
        """
        session = await self._wait(
            lambda s: s.state in (State.TRANSPORTING, State.TRANSPORT_STOPPED), self._handoff
        )
        assert session.start is not None
        finished = TransportFinished(
            transfer_state=transfer_state, board_id=board_id or session.start.board_id
        )
        await self._send(session, finished)
        session = await self._wait(lambda s: s.stop is not None, session)
        assert session.stop is not None
        stop = session.stop
        session.start = session.stop = session.board = None
        self._handoff = None
        return stop

    async def hand_over(self, board: BoardAvailable) -> StopTransport:
        """One whole handoff: offer the board, wait for the start, finish, return the stop."""
        await self.offer_board(board)
        await self.wait_for_start()
        return await self.finish_transport(board.board_id)


class ReceiverLane(LaneBase):
    """The board receiver's side of one lane: the Upstream interface, a TCP client.

    It connects to the sender and keeps reconnecting while open: ``fast_retry`` seconds after
    a session that completed the handshake dropped, otherwise a backoff that doubles from
    ``fast_retry`` up to ``slow_retry``; each delay is jittered (between half and all of it).

    Args:
        host: the sender's address.
        port: the sender's port; default 50100 + lane_id.
        machine_id: our MachineId.
        lane_id: the lane (1, 2, ...).
        features: the SupportedFeatures we announce.
        version: the Hermes version we announce.
        interface_id: our InterfaceId, if any.
        check_alive_period: seconds between plain CheckAlives on a quiet session (None: off).
        fast_retry: reconnect delay after a working session dropped (lib: 1 s).
        slow_retry: the longest reconnect delay otherwise (lib: 10 s).
        connect_timeout: how long one TCP connect may take.
        on_message: called with every message the sender sends (see :attr:`on_message`).
    """

    role = Role.RECEIVER

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        machine_id: str,
        lane_id: int,
        features: SupportedFeatures = NO_FEATURES,
        version: str = HERMES_VERSION,
        interface_id: str | None = None,
        check_alive_period: float | None = DEFAULT_CHECK_ALIVE_PERIOD,
        fast_retry: float = 1.0,
        slow_retry: float = 10.0,
        connect_timeout: float = 5.0,
        on_message: Callable[[Message | UnknownMessage], None] | None = None,
    ) -> None:
        super().__init__(
            machine_id=machine_id,
            lane_id=lane_id,
            features=features,
            version=version,
            interface_id=interface_id,
            check_alive_period=check_alive_period,
            on_message=on_message,
        )
        self.host = host
        self.port = lane_port(lane_id) if port is None else port
        self.fast_retry = fast_retry
        self.slow_retry = slow_retry
        self.connect_timeout = connect_timeout
        self.sessions = 0
        self._rng = random.Random()

    async def __aenter__(self) -> Self:
        await self._open_group()
        self._spawn(self._connect_loop(), "connect")
        return self

    def _next_delay(self, worked: bool, failures: int) -> float:
        # After a working session: the fast delay (lib's 1 s); else doubling up to the slow one.
        return half_jitter(0 if worked else failures, self.fast_retry, self.slow_retry, self._rng)

    async def _connect_loop(self) -> None:
        failures = 0
        loop = asyncio.get_running_loop()

        def new_stream() -> LaneStream:  # called once the socket is connected
            connection = HorizontalConnection(
                Role.RECEIVER, check_alive_period=self.check_alive_period, now=loop.time()
            )
            return LaneStream(connection)

        while not self._closing:
            worked = False
            try:
                async with asyncio.timeout(self.connect_timeout):
                    _, stream = await loop.create_connection(new_stream, self.host, self.port)
            except (OSError, TimeoutError):
                failures += 1
            else:
                session = LaneSession(stream, stream.connection)
                self._session = session
                self.sessions += 1
                with contextlib.suppress(ProtocolError, HermesConnectionClosed):
                    # The client speaks first (reference §3).
                    await session.stream.send(self.description)
                await self._spawn(self._run_session(session), "receive")
                worked = session.handshaken
                failures = 0 if worked else failures + 1
            if self._closing:
                return
            await asyncio.sleep(self._next_delay(worked, failures))  # backoff timer

    async def _close_all(self) -> None:
        await self._shutdown_session()

    # -- the handoff, as the receiving machine sees it ----------------------------------------

    async def announce_ready(self, ready: MachineReady | None = None) -> None:
        """Say the machine can take a board (MachineReady), as soon as the lane allows it.

        Args:
            ready: the MachineReady to send; default: any board quality.
        """
        async with self._lock:
            session = await self._wait(
                lambda s: s.state in (State.NOT_AVAILABLE_NOT_READY, State.BOARD_AVAILABLE)
            )
            session.start = session.finished = None
            self._handoff = session
            await self._send(session, ready or ANY_BOARD_READY)

    async def revoke_ready(self) -> None:
        """Withdraw readiness (RevokeMachineReady) before the transport starts."""
        session = await self._wait(
            lambda s: s.state in (State.MACHINE_READY, State.AVAILABLE_AND_READY), self._handoff
        )
        await self._send(session, RevokeMachineReady())

    async def wait_for_board(self) -> BoardAvailable:
        """Wait until the sender offers a board (BoardAvailable) and return it."""
        session = await self._wait(
            lambda s: s.board is not None and s.state in (State.BOARD_AVAILABLE, State.AVAILABLE_AND_READY),
            self._handoff,
        )
        assert session.board is not None
        return session.board

    async def start_transport(self, board_id: str | None = None, conveyor_speed: float | None = None) -> None:
        """Start taking the board (StartTransport); the lane must be ready (and usually offered).

        Args:
            board_id: the board; default the offered board's BoardId.
            conveyor_speed: the speed chosen for the handover, if any.
        """
        session = await self._wait(
            lambda s: (
                s.state is State.AVAILABLE_AND_READY
                or (s.state is State.MACHINE_READY and board_id is not None)
            ),
            self._handoff,
        )
        chosen = board_id or (session.board.board_id if session.board is not None else "")
        await self._send(session, StartTransport(board_id=chosen, conveyor_speed=conveyor_speed))

    async def wait_for_finished(self) -> TransportFinished:
        """Wait for the sender's TransportFinished of the transport in progress."""
        session = await self._wait(lambda s: s.finished is not None, self._handoff)
        assert session.finished is not None
        return session.finished

    async def stop_transport(
        self, transfer_state: TransferState = TransferState.COMPLETE
    ) -> TransportFinished:
        """Report the board arrived or the transport stopped (StopTransport); wait for TransportFinished.

        Returns:
            the sender's TransportFinished (often it arrived before the StopTransport).
        """
        session = await self._wait(
            lambda s: s.state in (State.TRANSPORTING, State.TRANSPORT_FINISHED), self._handoff
        )
        board_id = session.connection.start_board_id or ""
        await self._send(session, StopTransport(transfer_state=transfer_state, board_id=board_id))
        session = await self._wait(lambda s: s.finished is not None, session)
        assert session.finished is not None
        finished = session.finished
        session.start = session.finished = None
        # The sender may offer its next board in the same read as TransportFinished; only the
        # offer of the board just transported belongs to this cycle.
        if session.board is not None and session.board.board_id == board_id:
            session.board = None
        self._handoff = None
        return finished

    async def take_over(self, ready: MachineReady | None = None) -> BoardAvailable:
        """One whole handoff: ready, wait for a board, start, wait for the finish, stop.

        Returns:
            the BoardAvailable of the board taken over.
        """
        await self.announce_ready(ready)
        board = await self.wait_for_board()
        await self.start_transport(board.board_id)
        await self.wait_for_finished()
        await self.stop_transport()
        return board


__all__ = ["BASE_PORT", "HERMES_VERSION", "LaneDisconnected", "ReceiverLane", "SenderLane", "lane_port"]
