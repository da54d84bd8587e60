"""The asyncio glue of :class:`~protocols.cfx.transport.engine.AMQPEngine`: one stream, one engine.

Bytes read from the stream go into the engine, the events they raise are dispatched on the loop,
and what the engine has to send is written back, at most one 64 KiB chunk beyond the transport's
write limit (the listener's gate bounds writes per peer). Everything runs on the event loop:
there is no reactor thread, no socket pair and no ``select()`` (so no descriptor limit).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

import structlog
from proton import Handler

from protocols.cfx.transport.engine import AMQPEngine, ClientOptions
from protocols.cfx.transport.security import TLSFiles, client_ssl_domain
from protocols.cfx.transport.wire import redact_url
from protocols.errors import TransportError

__all__ = ["EngineStream", "open_client"]

log = structlog.get_logger("linegate.cfx.engine")

# Bytes read or written per step.
CHUNK = 65536


class EngineStream:
    """Runs ``engine`` over ``reader``/``writer`` until either side ends.

    Args:
        engine: the connection's engine; its handler runs on the loop, inside :meth:`update`.
        reader, writer: the connected stream (TLS, when any, is below it or inside the engine).
        on_closed: called once when the stream has ended.

    Call :meth:`update` after touching the engine from outside its handler (a send, a settle, a
    close); :meth:`run` reads until the end.
    """

    def __init__(
        self,
        engine: AMQPEngine,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        on_closed: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.reader = reader
        self.writer = writer
        self._on_closed = on_closed
        self._loop = asyncio.get_running_loop()
        self._output = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._flushing = False
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0
        self._ended = False
        self._update_scheduled = False
        self.task: asyncio.Task[None] | None = None

    def start(self, name: str = "cfx-amqp10") -> asyncio.Task[None]:
        """Run the stream in a task of its own (see :meth:`run`) and return that task."""
        self.task = asyncio.create_task(self.run(), name=name)
        return self.task

    @property
    def ended(self) -> bool:
        """True once the stream is closed (by either side)."""
        return self._ended

    async def run(self) -> None:
        """Read and process until the peer or the engine ends the connection, then close."""
        self._flusher = asyncio.create_task(self._flush_loop(), name="cfx-amqp10.flush")
        try:
            self.update()
            while not self.engine.closed:
                try:
                    data = await self.reader.read(CHUNK)
                except (OSError, ssl.SSLError) as exc:
                    log.info("engine.read_failed", error=repr(exc))
                    data = b""
                try:
                    if not data:
                        self.engine.receive_eof()
                        self.update()
                        break
                    self.engine.receive_data(data)
                    self.update()
                except Exception:  # proton refusing its input: end this connection, not the server
                    log.exception("engine.failed")
                    break
            await self._wait_flushed()
        finally:
            self._end()

    def update(self) -> None:
        """Dispatch the engine's events, then send what it has to send."""
        if self._ended:
            return
        engine = self.engine
        engine.process()
        # Straight to the socket when nothing is queued before it (the usual case: one small
        # reply); the flusher takes the rest, a chunk at a time, waiting for the peer to read.
        transport = self.writer.transport
        if not self._flushing and transport.get_write_buffer_size() == 0:
            data = engine.data_to_send(CHUNK)
            if data:
                self.writer.write(data)
        if engine.transport.pending() != 0:  # more to send, or the engine's output has ended
            self._output.set()
        self._schedule_tick()

    def update_soon(self) -> None:
        """:meth:`update` once, later in this loop pass: many sends or settles made in one pass
        cost one pass over the engine's output (which walks every delivery it holds)."""
        if not self._update_scheduled and not self._ended:
            self._update_scheduled = True
            self._loop.call_soon(self._scheduled_update)

    def _scheduled_update(self) -> None:
        self._update_scheduled = False
        self.update()

    def _schedule_tick(self) -> None:
        deadline = self.engine.tick(self._loop.time())
        if deadline == self._deadline:
            return
        self._deadline = deadline
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if deadline > 0:
            self._timer = self._loop.call_at(deadline, self._on_tick)

    def _on_tick(self) -> None:
        self._timer = None
        self._deadline = 0.0
        self.update()

    async def _flush_loop(self) -> None:
        engine = self.engine
        while True:
            await self._output.wait()
            self._output.clear()
            self._flushing = True
            try:
                while data := engine.data_to_send(CHUNK):
                    self.writer.write(data)
                    await self.writer.drain()
            except (OSError, ssl.SSLError, RuntimeError) as exc:
                log.info("engine.write_failed", error=repr(exc))
                engine.abort()
                self.reader.feed_eof()
                return
            finally:
                self._flushing = False
            if engine.output_closed:
                with contextlib.suppress(Exception):
                    if self.writer.can_write_eof():
                        self.writer.write_eof()
                return

    async def _wait_flushed(self) -> None:
        # The engine's last frames (its close) reach the socket before it is closed.
        self._output.set()
        if self._flusher is not None and not self._flusher.done():
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._flusher), 1.0)

    def close(self) -> None:
        """Drop the connection now: no more reading or writing (what is buffered is still sent)."""
        if self._ended:
            return
        if not self._flushing and self.writer.transport.get_write_buffer_size() == 0:
            # The engine's last words (a close frame, usually) go out behind the buffer.
            data = self.engine.data_to_send(CHUNK)
            if data:
                self.writer.write(data)
        self.engine.abort()
        self.engine.process()
        self._end()

    def _end(self) -> None:
        if self._ended:
            return
        self._ended = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flusher is not None:
            self._flusher.cancel()
        with contextlib.suppress(Exception):
            self.writer.close()
        if not self.engine.closed:
            self.engine.abort()
            with contextlib.suppress(Exception):
                self.engine.process()
        if self._on_closed is not None:
            self._on_closed()


async def open_client(
    uri: str,
    handler: Handler,
    *,
    container_id: str,
    virtual_host: str | None = None,
    tls: TLSFiles | None = None,
    on_closed: Callable[[], None] | None = None,
    name: str = "cfx-amqp10",
) -> EngineStream:
    """Dial ``uri`` (``amqp[s]://[user:password@]host[:port]``) and run a client engine over it.

    The connection is not opened yet: the caller opens it (and its links) on
    ``stream.engine.connection``, then calls ``stream.update()``.

    Raises:
        TransportError: the TCP connection failed.
    """
    url = urlsplit(uri)
    host = url.hostname or "127.0.0.1"
    secure = url.scheme == "amqps"
    port = url.port or (5671 if secure else 5672)
    options = ClientOptions(
        container_id=container_id,
        hostname=virtual_host or host,
        user=unquote(url.username) if url.username else None,
        password=unquote(url.password) if url.password else None,
        # TLS runs inside the engine (proton's OpenSSL layer), with the same domain as before.
        ssl_domain=client_ssl_domain(tls) if secure else None,
        ssl_peer_name=host,
    )
    engine = AMQPEngine(handler, client=options)
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        raise TransportError(f"cannot connect to {redact_url(uri)}: {exc}") from exc
    stream = EngineStream(engine, reader, writer, on_closed=on_closed)
    stream.start(name)
    return stream
