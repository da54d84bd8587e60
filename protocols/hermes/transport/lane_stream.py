"""A lane's TCP session as an asyncio Protocol: received bytes are handled in the callback.

:class:`~protocols.hermes.transport.stream.HermesStream` reads through a StreamReader in a
receive task, so each message costs two task steps (the read wakes the receive task, which
wakes the waiting verb) and the reader's buffering. A lane only ever records what a message did
and wakes its verbs, which needs no task: :class:`LaneStream` feeds the bytes to the sans-IO
connection in ``data_received`` and hands each message to the lane's handler there and then
(issue 19). It keeps HermesStream's behaviour: the automatic Pong, the error Notification
before the close (and the reset for a peer that keeps talking after it), the message deadline,
the CheckAlive timer, the MachineShutdown on a clean stop, writes bounded by the transport's
high-water mark.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable
from datetime import datetime
from typing import cast

from protocols.errors import ConnectionClosed, ProtocolError
from protocols.hermes.codec import encode
from protocols.hermes.connection import NEED_DATA, HorizontalConnection, Signal
from protocols.hermes.messages import Message, Notification, UnknownMessage
from protocols.hermes.transport.stream import (
    CLOSE_TIMEOUT,
    ERROR_LINGER,
    MESSAGE_TIMEOUT,
    MESSAGE_TIMEOUT_REASON,
    READ_SIZE,
    HermesConnectionClosed,
    HermesPeerTooSlow,
    run_shielded,
    tune_transport,
    wait_acknowledged,
)
from protocols.transport.guard import guard_of

#: What the lane does with each message, in the protocol callback; it must not block.
Handler = Callable[[Message | UnknownMessage], None]


class LaneStream(asyncio.Protocol):
    """One lane session: the asyncio protocol of its socket, driven by a sans-IO connection.

    Received messages wait in the connection until :meth:`start` gives the handler; from then
    on each is handed over as its bytes arrive. :meth:`wait_ended` returns when the session is
    over for reading (the peer closed, the socket failed, a protocol error, the message deadline
    or :meth:`finish`); it raises what the handler raised, other than a protocol error or a
    closed connection.

    Args:
        connection: the sans-IO connection of the session.
        message_timeout: seconds the peer may take to finish a message it started; then the
            connection is dropped (:class:`HermesPeerTooSlow`). None: no deadline.
        on_connected: called with the stream once its socket is connected (the server's accept).
    """

    def __init__(
        self,
        connection: HorizontalConnection,
        *,
        message_timeout: float | None = MESSAGE_TIMEOUT,
        on_connected: Callable[[LaneStream], None] | None = None,
    ) -> None:
        self.connection = connection
        self.message_timeout = message_timeout
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] | None = None
        #: Why reading ended (a closed connection, a protocol error), once it has.
        self.end_reason: BaseException | None = None
        self._on_connected = on_connected
        self._loop = asyncio.get_running_loop()
        self._handler: Handler | None = None
        self._ended = self._loop.create_future()
        self._lost = self._loop.create_future()  # connection_lost ran
        self._eof = False
        self._closed = False
        self._failed = False
        self._after_error: asyncio.Future[bool] | None = None  # True: the peer kept talking
        self._deadline: asyncio.TimerHandle | None = None
        self._paused = False
        self._drain: asyncio.Future[None] | None = None

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` or :meth:`abort` ran."""
        return self._closed

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport by contract (uvloop's is no asyncio.Transport subclass).
        self.transport = cast(asyncio.Transport, transport)
        self.peer = transport.get_extra_info("peername")
        tune_transport(transport)
        if self._on_connected is not None:
            self._on_connected(self)

    def data_received(self, data: bytes) -> None:
        if self._failed:
            self._kept_talking(True)
            return
        try:
            self.connection.receive_data(data)
        except ProtocolError as exc:
            self._error(exc)
            return
        if self._handler is not None:
            self._pump()
        self._watch_partial()

    def eof_received(self) -> bool:
        self._kept_talking(False)
        self._feed_eof()
        return True  # half-closed: we may still write (our close sends the last bytes)

    def pause_writing(self) -> None:
        # Backpressure: while the peer does not take our bytes (Pongs, say), we stop reading
        # its; the messages already received wait in the connection (see _pump).
        self._paused = True
        self._set_reading(False)

    def resume_writing(self) -> None:
        self._paused = False
        self._wake_drain(None)
        self._set_reading(True)
        if self._handler is not None:
            self._pump()
        self._watch_partial()

    def connection_lost(self, exc: Exception | None) -> None:
        self._paused = False  # nothing waits for the write buffer now
        if not self._lost.done():
            self._lost.set_result(None)
        self._kept_talking(False)
        self._wake_drain(exc or ConnectionResetError("the connection was lost"))
        self._cancel_deadline()
        self._feed_eof()  # what arrived before still reaches the handler, then the end

    # -- receiving -----------------------------------------------------------------------------

    def start(self, handler: Handler) -> None:
        """Hand every received message to ``handler``, those that arrived already first."""
        self._handler = handler
        self._pump()
        self._watch_partial()

    async def wait_ended(self) -> None:
        """Wait until the session is over for reading (see the class); returns at once after."""
        await asyncio.shield(self._ended)

    def finish(self) -> None:
        """End the session for reading (the lane took it away); the socket is closed by aclose."""
        self._end(None)

    def _pump(self) -> None:
        connection = self.connection
        while self._handler is not None and not self._paused:
            try:
                event = connection.next_event()
            except ProtocolError as exc:
                self._error(exc)
                return
            if not isinstance(event, Signal):  # a message: the common case first
                if connection.has_data_to_send:
                    try:
                        self._write(connection.data_to_send())  # the automatic Pong
                    except ConnectionClosed as exc:
                        self._end(exc)
                        return
                try:
                    self._handler(event)
                except (ProtocolError, ConnectionClosed) as exc:  # its answer could not go out
                    self._end(exc)
                except BaseException as exc:  # raised again by wait_ended
                    self._end(exc, propagate=True)
                if not self._eof and not connection.buffered:
                    return  # the read ended on a message boundary: next_event would say NEED_DATA
                continue
            if event is NEED_DATA:
                return
            self._end(HermesConnectionClosed(f"{self.peer} closed the connection"))

    def _feed_eof(self) -> None:
        if self._eof:
            return
        self._eof = True
        with contextlib.suppress(ProtocolError):  # in ERROR: reading has ended already
            self.connection.receive_data(b"")
        if self._handler is not None:
            self._pump()

    def _end(self, reason: BaseException | None, *, propagate: bool = False) -> None:
        self._handler = None
        self._cancel_deadline()
        if self._ended.done():
            return
        self.end_reason = reason
        if propagate and reason is not None:
            self._ended.set_exception(reason)
        else:
            self._ended.set_result(None)

    def _error(self, error: ProtocolError) -> None:
        self._fail(error)
        self._end(error)

    def _watch_partial(self) -> None:
        # A message under way (bytes buffered, no frame yet) must finish within the message
        # deadline, counted from its first byte: a slow sender cannot hold the session forever.
        buffered = self.connection.buffered
        if (not buffered and self._deadline is None) or self.message_timeout is None or self._ended.done():
            return  # the common case first: the read ended on a message boundary
        if self._paused or not buffered:  # paused: we are the slow one
            self._cancel_deadline()
        elif self._deadline is None:
            self._deadline = self._loop.call_later(self.message_timeout, self._too_slow)

    def _set_reading(self, on: bool) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            with contextlib.suppress(RuntimeError):  # (uvloop, on a transport being closed)
                if on:
                    transport.resume_reading()
                else:
                    transport.pause_reading()

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        guard = guard_of(self.transport)
        if guard is not None:
            buffered = self.connection.buffered
            guard.drop(MESSAGE_TIMEOUT_REASON, timeout=self.message_timeout, buffered=buffered)
        elif self.transport is not None:
            self.transport.abort()
        self._end(HermesPeerTooSlow(f"{self.peer} did not finish a message within {self.message_timeout} s"))

    # -- sending -------------------------------------------------------------------------------

    def send_nowait(self, message: Message) -> None:
        """Check and write one message now (from the handler); the write buffer is bounded by
        the transport's high-water mark, which :meth:`send` waits on.

        Raises:
            LocalProtocolError: the message is not allowed now (the hint was sent; close the
                stream with :meth:`aclose`).
            HermesConnectionClosed: the socket is gone.
        """
        try:
            # The glue owns the clocks: the loop's for the timer, the wall clock for the envelope.
            data = self.connection.send(message, now=self._loop.time(), timestamp=datetime.now())
        except ProtocolError as exc:
            self._error(exc)  # the session is closed with the error's Notification
            raise
        self._write(data)

    async def send(self, message: Message) -> None:
        """Check and write one message; wait while the peer does not take our bytes.

        Raises:
            LocalProtocolError: the message is not allowed now (the hint was sent; close the
                stream with :meth:`aclose`).
            HermesConnectionClosed: the socket is gone.
        """
        self.send_nowait(message)
        if self._paused:
            await self.drained()

    @property
    def paused(self) -> bool:
        """Whether the transport's write buffer is past its high-water mark (see :meth:`drained`)."""
        return self._paused

    async def write_raw(self, data: bytes) -> None:
        """Write bytes that bypass the state checks (a refusal Notification on a fresh socket)."""
        self._write(data)
        if self._paused:
            await self.drained()

    async def keep_alive(self) -> None:
        """Send a plain CheckAlive whenever the connection's timer expires; return when it is off."""
        while not self._closed:
            deadline = self.connection.next_deadline()
            if deadline is None:
                return
            delay = deadline - self._loop.time()
            if delay > 0:
                await asyncio.sleep(delay)  # a timer, not synchronisation
                continue
            try:
                self._write(self.connection.check_alive(self._loop.time(), timestamp=datetime.now()))
            except (ProtocolError, HermesConnectionClosed):
                return  # the session is over; its handler's end reports why

    def established(self) -> None:
        """The session's handshake is done: a guarded server ends its handshake deadline."""
        guard = guard_of(self.transport)
        if guard is not None:
            guard.established()

    def _write(self, data: bytes) -> None:
        if not data:
            return
        transport = self.transport
        if self._closed or transport is None or transport.is_closing():
            raise HermesConnectionClosed(f"the connection to {self.peer} is closed")
        try:
            transport.write(data)
        except (OSError, RuntimeError) as exc:
            self.connection.send_failed()
            raise HermesConnectionClosed(f"writing to {self.peer} failed: {exc}") from exc

    async def drained(self) -> None:
        """Wait until the transport's write buffer is below its high-water mark again (as
        StreamWriter.drain).

        Raises:
            HermesConnectionClosed: the connection was lost meanwhile.
        """
        if not self._paused:
            return
        if self._lost.done():
            self.connection.send_failed()
            raise HermesConnectionClosed(f"the connection to {self.peer} is closed")
        if self._drain is None:
            self._drain = self._loop.create_future()
        try:
            await self._drain
        except (OSError, RuntimeError) as exc:
            self.connection.send_failed()
            raise HermesConnectionClosed(f"writing to {self.peer} failed: {exc}") from exc

    def _wake_drain(self, exc: Exception | None) -> None:
        waiter, self._drain = self._drain, None
        if waiter is not None and not waiter.done():
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(exc)

    # -- closing -------------------------------------------------------------------------------

    async def aclose(self, final: Notification | None = None) -> None:
        """Close the session: send ``final`` (e.g. MachineShutdown) if given, then the socket.

        ``final`` is sent only where the connection allows it (not after an error). The cleanup
        is shielded from cancellation, so a cancelled caller still releases the socket.
        """
        if self._closed:
            return
        self._closed = True
        self._end(None)
        if self._failed:
            await run_shielded(self._close_after_error())
            return
        data = b""
        if final is not None:
            with contextlib.suppress(ProtocolError):
                data = self.connection.send(final, timestamp=datetime.now())
        await run_shielded(self._close_transport(data))

    async def abort(self, error: ProtocolError) -> None:
        """Send the error's hint (if any) and close: the standard's reaction to a protocol error."""
        self._fail(error)
        await self.aclose()

    def _fail(self, error: ProtocolError) -> None:
        # Reference §3: send the Notification of the error at once, then close (in aclose).
        if self._failed or self._closed:
            return
        self._failed = True
        self._after_error = self._loop.create_future()
        if self._eof or self._lost.done():
            self._after_error.set_result(False)
        transport = self.transport
        if isinstance(error.hint, Notification) and transport is not None and not transport.is_closing():
            with contextlib.suppress(OSError, RuntimeError):
                transport.write(encode(error.hint, timestamp=datetime.now()))

    def _kept_talking(self, more: bool) -> None:
        waiter = self._after_error
        if waiter is not None and not waiter.done():
            waiter.set_result(more)

    async def _close_after_error(self) -> None:
        # A peer that keeps talking after our error Notification gets a reset, not a FIN: after a
        # FIN its reads only say "end of data", while a reset shows it that we dropped it (the
        # hermes-org acceptance tool checks exactly this). A quiet peer gets a normal close.
        more = False
        waiter = self._after_error
        if waiter is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(ERROR_LINGER):
                    if self._paused:
                        with contextlib.suppress(ConnectionClosed):
                            await self.drained()
                    more = await asyncio.shield(waiter)
        transport = self.transport
        if more and transport is not None and not transport.is_closing():
            sock = transport.get_extra_info("socket")
            await wait_acknowledged(sock)
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await self._close_transport(b"")

    async def _close_transport(self, data: bytes) -> None:
        transport = self.transport
        if transport is None:
            return
        with contextlib.suppress(OSError, RuntimeError):
            if data and not transport.is_closing():
                transport.write(data)
        with contextlib.suppress(OSError, RuntimeError):
            transport.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await asyncio.shield(self._lost)


__all__ = ["READ_SIZE", "Handler", "LaneStream"]
