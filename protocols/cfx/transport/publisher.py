"""Publish CFX envelopes to a RabbitMQ topic exchange over AMQP 0-9-1 (aio-pika).

Each envelope goes to a durable topic exchange (default ``cfx``) with routing key
``"<Source handle>.<MessageName>"`` as a persistent message carrying the CFX content type,
``message_id`` = UniqueID and, when gzip is on, ``content-encoding: gzip`` (reference §2.2; the
SDK's AMQP 1.0 layout mapped onto 0-9-1 properties).

Delivery is confirmed: publisher confirms are pipelined through a bounded window, so up to
``window`` messages are on the wire at once and no message waits for another's round trip.
:meth:`CFXPublisher.publish` returns once the broker has confirmed, or raises. When the
connection drops, unconfirmed messages are sent again after the reconnect (at-least-once, as
the SDK's spool; consumers de-duplicate on UniqueID, reference §2.3), and the reconnect loop
sleeps a jittered, capped exponential backoff between attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Self

import aio_pika
import aiormq.exceptions
import structlog
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange
from pamqp.commands import Basic

from protocols.backoff import Backoff
from protocols.cfx.codec import encode_envelope
from protocols.cfx.envelope import Envelope
from protocols.cfx.transport.wire import CONTENT_TYPE, encode_payload, redact_url, routing_key
from protocols.errors import LocalProtocolError, TransportError

__all__ = ["CFXPublisher", "PublishError", "PublisherClosed"]

log = structlog.get_logger("linegate.cfx.publisher")

# Errors that mean "this connection or channel is gone": retry on the next connection.
_LINK_ERRORS = (
    aiormq.exceptions.AMQPConnectionError,
    aiormq.exceptions.AMQPChannelError,
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
    OSError,
)


class PublishError(TransportError):
    """The broker refused a message (basic.nack): it was not stored."""


class PublisherClosed(TransportError):
    """The publisher was closed before the message was confirmed."""


@dataclass(slots=True)
class _Link:
    """One live connection with its confirming channel and declared exchange."""

    connection: AbstractConnection
    channel: AbstractChannel
    exchange: AbstractExchange
    broken: asyncio.Event


class CFXPublisher:
    """Confirmed, persistent publisher of CFX envelopes to a topic exchange.

    Args:
        url: the broker, ``amqp://user:password@host:port/vhost`` (``amqps://`` for TLS).
        exchange: the durable topic exchange; declared on every connect.
        gzip: gzip bodies and set ``content-encoding: gzip`` (the SDK's default codec).
        window: the most messages awaiting a confirm at once.
        backoff: reconnect delays; the default starts at 0.1 s and caps at 10 s.
        connect_timeout: seconds allowed for one connection attempt.

    Use it as ``async with CFXPublisher(...) as publisher:``; the connection is made in the
    background, so entering does not fail while the broker is down: publishes wait for it.
    """

    def __init__(
        self,
        url: str = "amqp://guest:guest@127.0.0.1:5672/",
        *,
        exchange: str = "cfx",
        gzip: bool = False,
        window: int = 256,
        backoff: Backoff | None = None,
        connect_timeout: float = 5.0,
    ) -> None:
        if window < 1:
            raise LocalProtocolError(f"confirm window must be at least 1, got {window}")
        self.url = url
        self.exchange_name = exchange
        self.gzip = gzip
        self.window = window
        self._backoff = backoff or Backoff()
        self._connect_timeout = connect_timeout
        self._slots = asyncio.Semaphore(window)
        self._link: _Link | None = None
        self._link_ready = asyncio.Event()
        self._closing = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self.reconnects = 0
        self.connect_attempts = 0
        self._log = log.bind(broker=redact_url(url), exchange=exchange)

    async def __aenter__(self) -> Self:
        if self._supervisor is not None:
            raise LocalProtocolError("CFXPublisher is not reentrant")
        self._supervisor = asyncio.create_task(
            self._supervise(), name=f"cfx-publisher[{self.exchange_name}].connect_loop"
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    @property
    def connected(self) -> bool:
        """True while a confirming channel to the broker is open."""
        return self._link is not None and not self._link.broken.is_set()

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until the broker connection is up.

        Raises:
            TimeoutError: not connected within ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            await self._current_link()

    async def publish(self, envelope: Envelope) -> None:
        """Publish one envelope and return when the broker has confirmed it.

        Raises:
            PublishError: the broker nacked it.
            PublisherClosed: the publisher closed before the confirm.
        """
        await (await self.submit(envelope))

    async def publish_many(self, envelopes: Iterable[Envelope]) -> None:
        """Publish envelopes pipelined through the confirm window; return when all are confirmed.

        Raises:
            PublishError: the broker nacked one (the others may still have been stored).
        """
        pending = [await self.submit(envelope) for envelope in envelopes]
        await asyncio.gather(*pending)

    async def submit(self, envelope: Envelope) -> asyncio.Future[None]:
        """Start publishing ``envelope`` once the window has room; return its confirm future.

        The future resolves when the broker confirms, or fails with :class:`PublishError` or
        :class:`PublisherClosed`. Awaiting ``submit`` only waits for window room, so a loop of
        submits keeps ``window`` messages in flight.
        """
        if envelope.source is None:
            raise LocalProtocolError(f"{envelope.message_name} has no Source handle to route by")
        return await self.submit_raw(
            encode_envelope(envelope),
            routing_key=routing_key(envelope.source, envelope.message_name),
            message_id=str(envelope.unique_id),
            timestamp=envelope.time_stamp,
        )

    async def submit_raw(
        self, body: bytes, *, routing_key: str, message_id: str, timestamp: datetime | None = None
    ) -> asyncio.Future[None]:
        """Byte-level :meth:`submit`: publish already-encoded JSON ``body``.

        Args:
            body: UTF-8 JSON (one envelope or an array); gzipped here when ``gzip`` is on.
            routing_key: the topic routing key.
            message_id: the AMQP message-id (the envelope's UniqueID).
            timestamp: the AMQP timestamp (whole seconds on the wire).
        """
        if self._closing.is_set() or self._supervisor is None:
            raise PublisherClosed("publisher is not open")
        payload, encoding = encode_payload(body, compress=self.gzip)
        message = aio_pika.Message(
            payload,
            content_type=CONTENT_TYPE,
            content_encoding=encoding,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
            timestamp=timestamp,
        )
        await self._slots.acquire()
        outcome: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._deliver(message, routing_key))
        self._inflight.add(task)
        task.add_done_callback(lambda done: self._finished(done, outcome))
        return outcome

    def _finished(self, task: asyncio.Task[None], outcome: asyncio.Future[None]) -> None:
        self._inflight.discard(task)
        self._slots.release()
        if outcome.done():  # the caller cancelled its future: nobody wants the outcome
            if not task.cancelled():
                task.exception()
        elif task.cancelled():
            outcome.set_exception(PublisherClosed("publisher closed before the message was confirmed"))
        elif (exc := task.exception()) is not None:
            outcome.set_exception(exc)
        else:
            outcome.set_result(None)

    async def _deliver(self, message: aio_pika.Message, key: str) -> None:
        while True:
            link = await self._current_link()
            try:
                confirmation = await link.exchange.publish(message, key, mandatory=False)
            except aiormq.exceptions.DeliveryError as exc:
                raise PublishError(f"broker refused message {message.message_id} ({key}): {exc}") from exc
            except _LINK_ERRORS as exc:
                self._link_lost(link, exc)
                continue
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                # aiormq cancels pending confirms when its connection dies: not our cancellation.
                self._link_lost(link, None)
                continue
            if isinstance(confirmation, Basic.Ack):
                return
            raise PublishError(f"broker did not store message {message.message_id} ({key}): {confirmation!r}")

    async def _current_link(self) -> _Link:
        while True:
            if self._closing.is_set():
                raise PublisherClosed("publisher closed before the message was confirmed")
            link = self._link
            if link is not None and not link.broken.is_set():
                return link
            ready = asyncio.create_task(self._link_ready.wait())
            closing = asyncio.create_task(self._closing.wait())
            try:
                await asyncio.wait((ready, closing), return_when=asyncio.FIRST_COMPLETED)
            finally:
                ready.cancel()
                closing.cancel()

    def _link_lost(self, link: _Link, exc: BaseException | None) -> None:
        if not link.broken.is_set():
            self._log.warning("publish.link_lost", error=repr(exc))
            link.broken.set()
        if self._link is link:
            self._link_ready.clear()

    async def _supervise(self) -> None:
        while not self._closing.is_set():
            link = await self._connect_once()
            if link is None:
                delay = self._backoff.next_delay()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), delay)
                continue
            self._backoff.reset()
            self._link = link
            self._link_ready.set()
            self._log.info("connect.complete")
            closing = asyncio.create_task(self._closing.wait())
            broken = asyncio.create_task(link.broken.wait())
            try:
                await asyncio.wait((closing, broken), return_when=asyncio.FIRST_COMPLETED)
            finally:
                closing.cancel()
                broken.cancel()
            self._link_ready.clear()
            if not self._closing.is_set():
                self.reconnects += 1
            with contextlib.suppress(Exception):
                await asyncio.wait_for(link.connection.close(), 2.0)

    async def _connect_once(self) -> _Link | None:
        self.connect_attempts += 1
        self._log.debug("connect.started")
        try:
            connection = await aio_pika.connect(self.url, timeout=self._connect_timeout)
        except (*_LINK_ERRORS, TimeoutError) as exc:
            self._log.warning("connect.failed", error=repr(exc))
            return None
        try:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.declare_exchange(
                self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
            )
        except (*_LINK_ERRORS, TimeoutError) as exc:
            self._log.warning("connect.failed", error=repr(exc))
            with contextlib.suppress(Exception):
                await connection.close()
            return None
        broken = asyncio.Event()
        connection.close_callbacks.add(lambda *_: broken.set())
        channel.close_callbacks.add(lambda *_: broken.set())
        return _Link(connection, channel, exchange, broken)

    async def aclose(self) -> None:
        """Stop publishing: fail unconfirmed messages with :class:`PublisherClosed`, close the link."""
        if self._supervisor is None or self._closing.is_set():
            return
        self._closing.set()
        # Messages already on the wire get a short grace for their confirms; the rest fail.
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=self._connect_timeout)
        for task in list(self._inflight):
            task.cancel()
        await asyncio.gather(*self._inflight, return_exceptions=True)
        await asyncio.gather(self._supervisor, return_exceptions=True)
        link, self._link = self._link, None
        if link is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(link.connection.close(), 2.0)
        self._log.info("close.complete")
