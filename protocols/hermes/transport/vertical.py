"""asyncio vertical (supervisory) channel (reference §2.3): the machine's server and the client.

The machine is the TCP server and serves several supervisory clients at once.
:class:`VerticalServer` answers each client's SupervisoryServiceDescription with its own,
answers QueryHermesCapabilities when given capabilities, sends board tracking
(BoardArrived/BoardDeparted) to every client that announced FeatureBoardTracking, and delivers
everything else the clients send through :meth:`VerticalServer.receive`.
:class:`VerticalClient` is the supervisory side: connect, handshake, send, receive.
A clean stop sends Notification code 5 (MachineShutdown) on every session.
"""

from __future__ import annotations

import asyncio
import socket
from types import TracebackType
from typing import Self

from protocols.errors import ProtocolError, RequestTimeout, TransportError
from protocols.hermes.connection import DEFAULT_CHECK_ALIVE_PERIOD, shutdown_notification
from protocols.hermes.messages import (
    BoardArrived,
    BoardDeparted,
    Message,
    QueryHermesCapabilities,
    SendHermesCapabilities,
    SupervisoryServiceDescription,
    UnknownMessage,
)
from protocols.hermes.transport.stream import (
    MESSAGE_TIMEOUT,
    HermesConnectionClosed,
    HermesStream,
    run_shielded,
)
from protocols.hermes.vertical import VerticalConnection, VerticalRole, VerticalState
from protocols.transport.guard import PeerGuard, PeerLimits, start_guarded_server

#: What a vertical server tolerates: several supervisory clients (an MES, a tracker, a tool),
#: each sending its SupervisoryServiceDescription at once (reference §2.3). No idle deadline:
#: a supervisory client may legitimately only listen.
VERTICAL_LIMITS = PeerLimits(max_connections=32, handshake_timeout=10.0, idle_timeout=None)


class VerticalSession:
    """One supervisory client connected to a :class:`VerticalServer`."""

    def __init__(self, stream: HermesStream, connection: VerticalConnection) -> None:
        self.stream = stream
        self.connection = connection

    @property
    def description(self) -> SupervisoryServiceDescription | None:
        """The client's SupervisoryServiceDescription, once received."""
        return self.connection.peer_description

    async def send(self, message: Message) -> None:
        """Send one message to this client (checked against the vertical rules)."""
        await self.stream.send(message)


async def _close_sessions(sessions: list[VerticalSession]) -> None:
    # A clean stop says MachineShutdown on every session (reference §3).
    await asyncio.gather(
        *(s.stream.aclose(shutdown_notification()) for s in sessions), return_exceptions=True
    )


class VerticalServer:
    """The machine's vertical interface: a TCP server for several supervisory clients.

    Args:
        description: our SupervisoryServiceDescription (SystemId = the machine).
        host: the address to listen on.
        port: the SupervisorySystemPort (no fixed default in the standard, reference §1).
        capabilities: if given, QueryHermesCapabilities is answered with it automatically.
        check_alive_period: seconds between plain CheckAlives on a quiet session (None: off).
        limits: what the server tolerates from peers (connection cap, handshake deadline,
            write buffer); a peer past them is dropped and logged (``peer.dropped``).
        message_timeout: seconds a peer may take to finish a message it started.
    """

    def __init__(
        self,
        description: SupervisoryServiceDescription,
        *,
        host: str = "0.0.0.0",
        port: int,
        capabilities: SendHermesCapabilities | None = None,
        check_alive_period: float | None = DEFAULT_CHECK_ALIVE_PERIOD,
        limits: PeerLimits = VERTICAL_LIMITS,
        message_timeout: float | None = MESSAGE_TIMEOUT,
    ) -> None:
        self.description = description
        self.host = host
        self.port = port
        self.capabilities = capabilities
        self.check_alive_period = check_alive_period
        self.sessions: set[VerticalSession] = set()
        self._received: asyncio.Queue[tuple[VerticalSession, Message | UnknownMessage]] = asyncio.Queue()
        self._server: asyncio.Server | None = None
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Condition()
        self.message_timeout = message_timeout
        #: Enforces ``limits``; its ``dropped`` counts the peers dropped, by reason.
        self.guard = PeerGuard(f"hermes[{description.system_id}/vertical]", "hermes.vertical", limits)

    async def __aenter__(self) -> Self:
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()
        self._server = await start_guarded_server(
            self.guard, self._on_connect, self.host, self.port, reuse_address=True, family=socket.AF_INET
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None and self._tg is not None
        self._server.close()
        await run_shielded(_close_sessions(list(self.sessions)))
        for task in list(self._tasks):
            task.cancel()
        tg, self._tg = self._tg, None
        # The body's own exception propagates by itself; passing it in would wrap it in a group.
        await tg.__aexit__(None, None, None)

    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._tg is None:
            writer.close()
            return
        task = self._tg.create_task(
            self._serve(reader, writer), name=f"hermes[{self.description.system_id}/vertical].receive"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        connection = VerticalConnection(
            VerticalRole.MACHINE, check_alive_period=self.check_alive_period, now=loop.time()
        )
        stream = HermesStream(reader, writer, connection, message_timeout=self.message_timeout)
        session = VerticalSession(stream, connection)
        assert self._tg is not None
        keep_alive = self._tg.create_task(
            stream.keep_alive(), name=f"hermes[{self.description.system_id}/vertical].check_alive"
        )
        try:
            while True:
                message = await stream.receive()
                if isinstance(message, SupervisoryServiceDescription):
                    await stream.send(self.description)  # the machine answers (§2.3)
                    stream.established()
                    self.sessions.add(session)
                    async with self._changed:
                        self._changed.notify_all()
                elif isinstance(message, QueryHermesCapabilities) and self.capabilities is not None:
                    await stream.send(self.capabilities)
                else:
                    self._received.put_nowait((session, message))
        except (ProtocolError, HermesConnectionClosed):
            pass
        finally:
            keep_alive.cancel()
            self.sessions.discard(session)
            await stream.aclose()

    async def wait_for_clients(self, count: int) -> None:
        """Wait until at least ``count`` clients completed the handshake."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.sessions) >= count)

    async def receive(self) -> tuple[VerticalSession, Message | UnknownMessage]:
        """The next message any client sent (other than the handshake), with its session."""
        return await self._received.get()

    async def publish(self, message: BoardArrived | BoardDeparted) -> int:
        """Send board tracking to every client that announced FeatureBoardTracking.

        Returns:
            how many clients it was sent to.
        """
        targets = [
            session
            for session in self.sessions
            if session.connection.state is VerticalState.CONNECTED
            and session.connection.peer_supports(type(message))
        ]
        # All at once: the others get the message without queueing behind a client that stopped
        # reading; the call returns once that one is dropped (its drain deadline) at the latest.
        # Each session's messages still go out in publish order.
        outcomes = await asyncio.gather(
            *(session.send(message) for session in targets), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(
                outcome, ProtocolError | HermesConnectionClosed
            ):
                raise outcome
        return sum(1 for outcome in outcomes if not isinstance(outcome, BaseException))


class VerticalClient:
    """The supervisory side of the vertical channel: a TCP client to one machine.

    Args:
        host: the machine's address.
        port: its SupervisorySystemPort.
        description: our SupervisoryServiceDescription.
        timeout: how long the connect and the handshake may take.
    """

    def __init__(
        self,
        host: str,
        port: int,
        description: SupervisoryServiceDescription,
        *,
        timeout: float = 10.0,
        check_alive_period: float | None = DEFAULT_CHECK_ALIVE_PERIOD,
    ) -> None:
        self.host = host
        self.port = port
        self.description = description
        self.timeout = timeout
        self.check_alive_period = check_alive_period
        #: The machine's SupervisoryServiceDescription, after the handshake.
        self.machine: SupervisoryServiceDescription | None = None
        self._stream: HermesStream | None = None

    async def __aenter__(self) -> Self:
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(self.host, self.port)
                connection = VerticalConnection(
                    VerticalRole.SUPERVISORY,
                    check_alive_period=self.check_alive_period,
                    now=asyncio.get_running_loop().time(),
                )
                self._stream = HermesStream(reader, writer, connection)
                await self._stream.send(self.description)  # the client speaks first (§2.3)
                while self.machine is None:
                    message = await self._stream.receive()
                    if isinstance(message, SupervisoryServiceDescription):
                        self.machine = message
        except TimeoutError as exc:
            await self._close()
            raise RequestTimeout(f"vertical handshake with {self.host}:{self.port} timed out") from exc
        except OSError as exc:
            await self._close()
            raise TransportError(f"vertical connection to {self.host}:{self.port}: {exc}") from exc
        except BaseException:
            await self._close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._close()

    async def _close(self) -> None:
        if self._stream is not None:
            await self._stream.aclose(shutdown_notification())

    async def send(self, message: Message) -> None:
        """Send one message to the machine."""
        assert self._stream is not None, "use the client as 'async with'"
        await self._stream.send(message)

    async def receive(self) -> Message | UnknownMessage:
        """The next message from the machine.

        Raises:
            HermesConnectionClosed: the machine closed the connection.
        """
        assert self._stream is not None, "use the client as 'async with'"
        return await self._stream.receive()


__all__ = ["VerticalClient", "VerticalServer", "VerticalSession"]
