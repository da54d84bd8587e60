"""The glue between an asyncio stream and a sans-IO Hermes connection.

As httpcore's ``http11.py`` wraps h11, :class:`HermesStream` has two helpers: ``send`` (ask the
connection for bytes, write them) and ``receive`` (loop on ``next_event()``, read more on
NEED_DATA), plus the CheckAlive timer loop and a shielded close. A protocol error is answered
with the error's hint (the Notification the standard asks for) before the socket closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

try:  # SIOCOUTQ (unacknowledged bytes) is read through termios' TIOCOUTQ on Linux
    import fcntl
    import termios
except ImportError:  # pragma: no cover - not on Windows
    pass

from protocols.errors import ConnectionClosed, ProtocolError
from protocols.hermes.codec import encode
from protocols.hermes.connection import NEED_DATA, FramedConnection, Signal
from protocols.hermes.messages import Message, Notification, UnknownMessage
from protocols.transport.guard import guard_of

#: Bytes asked from the socket per read: one maximum-size Hermes message (reference §1).
READ_SIZE = 65536

#: How long a close waits for the peer to take the last bytes before giving up.
CLOSE_TIMEOUT = 1.0

#: After a protocol error: how long to wait for the peer to close or keep talking (seconds).
ERROR_LINGER = 0.5

#: Seconds a peer may take to finish a message it has started (a slow sender is dropped). A
#: 64 KiB message crosses a LAN in milliseconds; lib has no such limit (reference §1, "no receive
#: timeout"), so this is ours, generous enough for a congested link.
MESSAGE_TIMEOUT = 10.0

#: The drop reason of a peer that started a message and did not finish it in time.
MESSAGE_TIMEOUT_REASON = "message_timeout"


#: The Hermes peer closed the connection, or it was lost: linegate's one "closed" error (the
#: old name stays an alias).
HermesConnectionClosed = ConnectionClosed


class HermesPeerTooSlow(ConnectionClosed):
    """The peer started a message and did not finish it within the message deadline."""


async def run_shielded(cleanup: Coroutine[Any, Any, None]) -> None:
    """Run a (bounded) cleanup to its end even if the caller is cancelled meanwhile.

    httpcore's AsyncShieldCancellation: a cancelled caller still waits for the cleanup, then
    the cancellation goes on. A bare ``asyncio.shield`` would leave the cleanup running alone.
    """
    task = asyncio.ensure_future(cleanup)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    task.result()


def tune_socket(writer: asyncio.StreamWriter) -> None:
    """Set TCP_NODELAY: a Hermes message is small and latency-bound (reference §5a)."""
    tune_transport(writer.transport)


def tune_transport(transport: asyncio.BaseTransport) -> None:
    """Set TCP_NODELAY on a transport's socket (see :func:`tune_socket`)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def wait_acknowledged(sock: socket.socket | None) -> None:
    """Wait (at most :data:`ERROR_LINGER`) until the peer has acknowledged every byte written to
    ``sock`` (Linux SIOCOUTQ): a reset drops unacknowledged bytes. No wait where it cannot tell."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ERROR_LINGER
    while sock is not None and loop.time() < deadline:
        try:
            raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
        except (OSError, AttributeError, NameError):
            return  # no SIOCOUTQ here: reset at once
        if struct.unpack("i", raw)[0] == 0:
            return
        await asyncio.sleep(0.005)  # a poll of the kernel's queue, not synchronisation


class HermesStream:
    """One Hermes TCP session: a stream pair driven by a sans-IO connection.

    Args:
        reader: the asyncio stream reader.
        writer: the asyncio stream writer (TCP_NODELAY is set on its socket).
        connection: the sans-IO connection (horizontal, vertical or configuration).
        message_timeout: seconds the peer may take to finish a message it started; then the
            connection is dropped (:class:`HermesPeerTooSlow`). None: no deadline.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        connection: FramedConnection[Any, Any],
        *,
        message_timeout: float | None = MESSAGE_TIMEOUT,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self._transport = writer.transport
        self.connection = connection
        self.message_timeout = message_timeout
        self._partial_since: float | None = None
        self.peer: tuple[str, int] | None = writer.get_extra_info("peername")
        self._loop = asyncio.get_running_loop()
        self._closed = False
        self._failed = False
        tune_socket(writer)

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` or :meth:`abort` ran."""
        return self._closed

    async def send(self, message: Message) -> None:
        """Check and write one message.

        Raises:
            LocalProtocolError: the message is not allowed now (the hint was sent; close the
                stream with :meth:`aclose`).
            HermesConnectionClosed: the socket is gone.
        """
        try:
            # The glue owns the clocks: the loop's for the timer, the wall clock for the envelope.
            data = self.connection.send(message, now=self._loop.time(), timestamp=datetime.now())
        except ProtocolError as exc:
            self._fail(exc)
            raise
        await self._write(data)

    async def receive(self) -> Message | UnknownMessage:
        """Return the next message from the peer, reading as needed.

        Raises:
            RemoteProtocolError: the peer broke the protocol (the hint was sent; close the
                stream with :meth:`aclose`).
            HermesConnectionClosed: the peer closed the connection or the socket failed.
        """
        connection = self.connection
        while True:
            try:
                event = connection.next_event()
            except ProtocolError as exc:
                self._fail(exc)
                raise
            if not isinstance(event, Signal):  # a message: the common case first
                if connection.has_data_to_send:
                    await self._write(connection.data_to_send())  # the automatic Pong
                return event
            if event is NEED_DATA:
                data = await self._read()
                try:
                    connection.receive_data(data)
                except ProtocolError as exc:
                    self._fail(exc)
                    raise
            else:
                raise HermesConnectionClosed(f"{self.peer} closed the connection")

    def established(self) -> None:
        """The session's handshake is done: a guarded server ends its handshake deadline."""
        guard = guard_of(self.writer.transport)
        if guard is not None:
            guard.established()

    async def _read(self) -> bytes:
        # A message under way (bytes buffered, no frame yet) must finish within the message
        # deadline, counted from its first byte: a slow sender cannot hold the session forever.
        timeout = self.message_timeout
        if timeout is None or not self.connection.buffered:
            self._partial_since = None
            try:  # the common case, no message under way: no deadline to arm
                return await self.reader.read(READ_SIZE)
            except OSError as exc:
                raise HermesConnectionClosed(f"reading from {self.peer} failed: {exc}") from exc
        if self._partial_since is None:
            self._partial_since = self._loop.time()
        else:
            timeout = max(0.0, self._partial_since + timeout - self._loop.time())
        try:
            async with asyncio.timeout(timeout):
                return await self.reader.read(READ_SIZE)
        except TimeoutError:
            self._drop_slow()
            raise HermesPeerTooSlow(
                f"{self.peer} did not finish a message within {self.message_timeout} s"
            ) from None
        except OSError as exc:
            raise HermesConnectionClosed(f"reading from {self.peer} failed: {exc}") from exc

    def _drop_slow(self) -> None:
        guard = guard_of(self.writer.transport)
        if guard is not None:
            buffered = self.connection.buffered
            guard.drop(MESSAGE_TIMEOUT_REASON, timeout=self.message_timeout, buffered=buffered)
        else:
            self.writer.transport.abort()

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
                await self._write(self.connection.check_alive(self._loop.time(), timestamp=datetime.now()))
            except (ProtocolError, HermesConnectionClosed):
                return  # the session is over; its receive loop reports why

    async def write_raw(self, data: bytes) -> None:
        """Write bytes that bypass the state checks (a refusal Notification on a fresh socket)."""
        await self._write(data)

    async def aclose(self, final: Notification | None = None) -> None:
        """Close the session: send ``final`` (e.g. MachineShutdown) if given, then the socket.

        ``final`` is sent only where the connection allows it (not after an error). The cleanup
        is shielded from cancellation, so a cancelled caller still releases the socket.
        """
        if self._closed:
            return
        self._closed = True
        if self._failed:
            await run_shielded(self._close_after_error())
            return
        data = b""
        if final is not None:
            with contextlib.suppress(ProtocolError):
                data = self.connection.send(final, timestamp=datetime.now())
        await run_shielded(self._close_writer(data))

    async def abort(self, error: ProtocolError) -> None:
        """Send the error's hint (if any) and close: the standard's reaction to a protocol error."""
        self._fail(error)
        await self.aclose()

    def _fail(self, error: ProtocolError) -> None:
        # Reference §3: send the Notification of the error at once, then close (in aclose).
        if self._failed or self._closed:
            return
        self._failed = True
        if isinstance(error.hint, Notification) and not self.writer.is_closing():
            with contextlib.suppress(OSError, RuntimeError):
                self.writer.write(encode(error.hint, timestamp=datetime.now()))

    async def _close_after_error(self) -> None:
        # A peer that keeps talking after our error Notification gets a reset, not a FIN: after a
        # FIN its reads only say "end of data", while a reset shows it that we dropped it (the
        # hermes-org acceptance tool checks exactly this). A quiet peer gets a normal close.
        more = False
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):
            async with asyncio.timeout(ERROR_LINGER):
                await self.writer.drain()
                more = bool(await self.reader.read(1))
        if more:
            await self._wait_acknowledged()
            sock = self.writer.get_extra_info("socket")
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await self._close_writer(b"")

    async def _wait_acknowledged(self) -> None:
        await wait_acknowledged(self.writer.get_extra_info("socket"))

    async def _write(self, data: bytes) -> None:
        if not data:
            return
        transport = self._transport  # straight to the transport: the writer adds nothing here
        if self._closed or transport.is_closing():
            raise HermesConnectionClosed(f"the connection to {self.peer} is closed")
        try:
            transport.write(data)
            if transport.get_write_buffer_size() > READ_SIZE:
                await self.writer.drain()
        except (OSError, RuntimeError) as exc:
            self.connection.send_failed()
            raise HermesConnectionClosed(f"writing to {self.peer} failed: {exc}") from exc

    async def _close_writer(self, data: bytes) -> None:
        writer = self.writer
        with contextlib.suppress(OSError, RuntimeError):
            if data and not writer.is_closing():
                writer.write(data)
        with contextlib.suppress(OSError, RuntimeError):
            writer.close()
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await writer.wait_closed()


__all__ = [
    "CLOSE_TIMEOUT",
    "ERROR_LINGER",
    "MESSAGE_TIMEOUT",
    "READ_SIZE",
    "HermesConnectionClosed",
    "HermesPeerTooSlow",
    "HermesStream",
    "run_shielded",
    "tune_socket",
    "tune_transport",
    "wait_acknowledged",
]
