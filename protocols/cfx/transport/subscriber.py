"""Consume CFX envelopes from a RabbitMQ queue bound to a topic exchange (AMQP 0-9-1, aio-pika).

The subscriber declares its queue, binds it with the configured routing-key patterns and yields
decoded envelopes through ``async for``. Bodies flagged ``content-encoding: gzip`` (compared
case-insensitively) are gunzipped first; a body holding a JSON array yields each envelope of the
batch (reference §1.2, §2.2).

Malformed messages follow the SDK's receiver (reference §2.3, §4): they are logged, counted,
handed to the optional callback and *acknowledged*, so a poison message is never redelivered
forever. A good message is acknowledged when the consumer asks for the next one, so a crash
while handling it leaves it in the queue (at-least-once).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import aio_pika
import aiormq.exceptions
import structlog
from aio_pika.abc import AbstractConnection, AbstractIncomingMessage

from protocols.backoff import Backoff
from protocols.cfx.codec import CFXDecodeError, decode_envelopes
from protocols.cfx.envelope import Envelope
from protocols.cfx.transport.wire import decode_payload, redact_url, with_heartbeat
from protocols.errors import LocalProtocolError, ProtocolError, TransportError
from protocols.failover import next_round

__all__ = ["CFXSubscriber", "MalformedMessage"]

log = structlog.get_logger("linegate.cfx.subscriber")

# What a failed connect or declare raises: the broker is down, restarting, or refusing us.
_SETUP_ERRORS = (
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
    OSError,
    TimeoutError,
)


@dataclass(frozen=True, slots=True)
class MalformedMessage:
    """A delivery that did not decode into CFX envelopes (it was acknowledged and dropped).

    Args:
        body: the raw AMQP body, still compressed if it was.
        content_encoding: the message's content-encoding property.
        routing_key: the routing key it was published with.
        message_id: its message-id, if any.
        error: why it was rejected.
    """

    body: bytes
    content_encoding: str | None
    routing_key: str | None
    message_id: str | None
    error: ProtocolError


class CFXSubscriber:
    """Async iterator over the CFX envelopes arriving on one queue.

    Args:
        url: the broker, ``amqp://user:password@host:port/vhost``, or a sequence of such URLs,
            one per node of a cluster: each (re)connect tries them in turn, starting after the
            node it last had, and backs off only after every node failed.
        queue: the queue name to declare (and consume).
        bindings: routing-key patterns binding the queue to the exchange (``#`` = all).
        exchange: the topic exchange, declared durable as the publisher does.
        durable: declare the queue durable (survives broker restarts).
        auto_delete: let the broker delete the queue when the last consumer leaves.
        prefetch: unacknowledged deliveries the broker may push ahead.
        on_malformed: called (on the event loop) with each :class:`MalformedMessage`.
        backoff: reconnect delays after the broker went away (default 0.1 s growing to 10 s).
        ssl_context: the TLS context for an ``amqps://`` url (trust anchors, client certificate,
            hostname check); without it aiormq builds one from the url's query.
    """

    def __init__(
        self,
        url: str | Sequence[str] = "amqp://guest:guest@127.0.0.1:5672/",
        *,
        queue: str,
        bindings: Sequence[str] = ("#",),
        exchange: str = "cfx",
        durable: bool = True,
        auto_delete: bool = False,
        prefetch: int = 256,
        on_malformed: Callable[[MalformedMessage], None] | None = None,
        backoff: Backoff | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        urls = (url,) if isinstance(url, str) else tuple(url)
        if not urls:
            raise LocalProtocolError("CFXSubscriber needs at least one broker url")
        self.urls = urls
        self.url = urls[0]
        #: The node the subscriber is connected to (or was last), None before the first.
        self.node: str | None = None
        self.ssl_context = ssl_context
        self.queue_name = queue
        self.bindings = tuple(bindings)
        self.exchange_name = exchange
        self.durable = durable
        self.auto_delete = auto_delete
        self.prefetch = prefetch
        self.on_malformed = on_malformed
        self._backoff = backoff or Backoff()
        self.malformed_count = 0
        self._connection: AbstractConnection | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self.reconnects = 0
        self._items: asyncio.Queue[tuple[Envelope, AbstractIncomingMessage | None] | None] = asyncio.Queue()
        self._unacked: AbstractIncomingMessage | None = None
        self._closed = False
        self._log = log.bind(queue=queue, exchange=exchange)

    async def __aenter__(self) -> Self:
        """Connect, declare the exchange and queue, bind and start consuming.

        Raises:
            TransportError: the first connection failed (later outages are ridden out).
        """
        if self._supervisor is not None:
            raise LocalProtocolError("CFXSubscriber is not reentrant")
        try:
            broken = await self._connect_any()
        except _SETUP_ERRORS as exc:
            nodes = ", ".join(redact_url(url) for url in self.urls)
            raise TransportError(f"cannot subscribe {self.queue_name!r} at {nodes}: {exc!r}") from exc
        self._supervisor = asyncio.create_task(
            self._supervise(broken), name=f"cfx-subscriber[{self.queue_name}].connect_loop"
        )
        self._log.info("subscribe.complete", bindings=self.bindings)
        return self

    async def _connect_any(self) -> asyncio.Event:
        """One round over the nodes, from the one after the last used; the last error if all fail."""
        error: BaseException | None = None
        for url in next_round(self.urls, self.node):
            try:
                broken = await self._connect(url)
            except _SETUP_ERRORS as exc:
                if len(self.urls) > 1:
                    self._log.warning("connect.node_failed", node=redact_url(url), error=repr(exc))
                error = exc
                continue
            self.node = url
            return broken
        assert error is not None
        raise error

    async def _connect(self, url: str) -> asyncio.Event:
        """Open a connection, declare and bind the queue, consume; return its 'broken' event."""
        connection = await aio_pika.connect(with_heartbeat(url), timeout=10, ssl_context=self.ssl_context)
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=self.prefetch)
            exchange = await channel.declare_exchange(
                self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
            )
            queue = await channel.declare_queue(
                self.queue_name, durable=self.durable, auto_delete=self.auto_delete
            )
            for pattern in self.bindings:
                await queue.bind(exchange, routing_key=pattern)
            await queue.consume(self._on_delivery)
        except BaseException:
            with contextlib.suppress(Exception):
                await connection.close()
            raise
        broken = asyncio.Event()
        connection.close_callbacks.add(lambda *_: broken.set())
        channel.close_callbacks.add(lambda *_: broken.set())
        self._connection = connection
        return broken

    async def _supervise(self, broken: asyncio.Event) -> None:
        # Deliveries not yet acknowledged on a lost channel come again on the next one: the
        # consumer may see an envelope twice (at-least-once; de-duplicate on UniqueID, §2.3).
        while True:
            closing = asyncio.create_task(self._closing.wait())
            lost = asyncio.create_task(broken.wait())
            try:
                await asyncio.wait((closing, lost), return_when=asyncio.FIRST_COMPLETED)
            finally:
                closing.cancel()
                lost.cancel()
            if self._closing.is_set():
                return
            self._log.warning("subscribe.link_lost")
            old, self._connection = self._connection, None
            if old is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(old.close(), 2.0)
            while not self._closing.is_set():
                try:
                    broken = await self._connect_any()
                except _SETUP_ERRORS as exc:
                    self._log.warning("connect.failed", error=repr(exc))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._closing.wait(), self._backoff.next_delay())
                    continue
                self._backoff.reset()
                self.reconnects += 1
                self._log.info(
                    "connect.complete", node=redact_url(self.node or ""), reconnects=self.reconnects
                )
                break

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _on_delivery(self, message: AbstractIncomingMessage) -> None:
        try:
            envelopes = decode_envelopes(
                decode_payload(message.body, message.content_encoding), keep_data=True
            )
            if not envelopes:
                raise CFXDecodeError("message body is an empty JSON array")
        except ProtocolError as exc:
            await self._reject(message, exc)
            return
        except Exception as exc:  # a decoder bug must not stall the queue either
            self._log.exception("message.decoder_failed")
            await self._reject(message, CFXDecodeError(f"decoder failed: {exc!r}"))
            return
        for envelope in envelopes[:-1]:
            self._items.put_nowait((envelope, None))
        # The delivery is acknowledged once the consumer has taken its last envelope.
        self._items.put_nowait((envelopes[-1], message))

    async def _reject(self, message: AbstractIncomingMessage, error: ProtocolError) -> None:
        self.malformed_count += 1
        report = MalformedMessage(
            body=message.body,
            content_encoding=message.content_encoding,
            routing_key=message.routing_key,
            message_id=message.message_id,
            error=error,
        )
        self._log.warning(
            "message.malformed",
            routing_key=message.routing_key,
            message_id=message.message_id,
            error=str(error),
            size=len(message.body),
        )
        # reference §2.3: the SDK accepts malformed deliveries; never requeue a poison message.
        await message.ack()
        if self.on_malformed is not None:
            try:
                self.on_malformed(report)
            except Exception:
                self._log.exception("on_malformed.failed")

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Envelope:
        await self._ack_previous()
        if self._closed:
            raise StopAsyncIteration
        item = await self._items.get()
        if item is None:
            raise StopAsyncIteration
        envelope, self._unacked = item
        return envelope

    async def _ack_previous(self) -> None:
        message, self._unacked = self._unacked, None
        if message is not None:
            with contextlib.suppress(Exception):  # a lost channel redelivers it: at-least-once
                await message.ack()

    async def aclose(self) -> None:
        """Stop consuming and close the connection; a pending ``async for`` ends."""
        if self._closed:
            return
        self._closed = True
        self._closing.set()
        self._items.put_nowait(None)
        if self._supervisor is not None:
            await asyncio.gather(self._supervisor, return_exceptions=True)
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await self._ack_previous()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 5.0)
