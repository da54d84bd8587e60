"""Publish CFX envelopes to a RabbitMQ topic exchange over AMQP 0-9-1.

Each envelope goes to a durable topic exchange (default ``cfx``) with routing key
``"<Source handle>.<MessageName>"`` as a persistent message carrying the CFX content type,
``message_id`` = UniqueID and, when gzip is on, ``content-encoding: gzip`` (reference §2.2; the
SDK's AMQP 1.0 layout mapped onto 0-9-1 properties).

Delivery is confirmed: publisher confirms are pipelined through a bounded window, so up to
``window`` messages await their confirm at once and no message waits for another's round
trip. :meth:`CFXPublisher.publish` returns once the broker has confirmed, or raises. When the
connection drops, every unconfirmed message is sent again after the reconnect, in the order it
was first submitted and before anything newer (at-least-once, as the SDK's spool; consumers
de-duplicate on UniqueID, reference §2.3), and the reconnect loop sleeps a jittered, capped
exponential backoff between attempts.

A cluster is given as several URLs (one per node). Each connection attempt takes the next node:
in the list's order (``failover="in_order"``, starting from the first) or in a fresh shuffle per
round (``"random"``), so a lost node is tried last, not first; the backoff sleeps only after a
whole round of nodes failed. The unconfirmed messages go out again on whichever node answers.

aio-pika makes the connection, the confirming channel and the exchange. Messages do not take
aio-pika's per-message publish path: one sender task per connection frames every queued message
with :class:`~protocols.cfx.transport.framing.PublishFramer` and hands the whole run to the
connection's writer as one write, registering each delivery tag's confirm with the aiormq
channel (which reads the broker's ``basic.ack``/``basic.nack``/``basic.return``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import ssl
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, NamedTuple, Self

import aio_pika
import aiormq
import aiormq.exceptions
import structlog
from aio_pika.abc import AbstractChannel, AbstractConnection
from aiormq.abc import ChannelFrame
from pamqp.commands import Basic

from protocols.backoff import Backoff
from protocols.cfx.codec import encode_envelope
from protocols.cfx.envelope import Envelope
from protocols.cfx.transport.broker_blocked import BlockedWatch
from protocols.cfx.transport.framing import PublishFramer
from protocols.cfx.transport.wire import (
    CONTENT_TYPE,
    GZIP,
    encode_payload,
    redact_url,
    routing_key,
    with_heartbeat,
)
from protocols.errors import ConnectionClosed, LocalProtocolError, TransportError
from protocols.failover import FAILOVER, next_round


def _cluster_of(connection: aio_pika.abc.AbstractConnection) -> str | None:
    """The cluster a RabbitMQ node says it belongs to (its ``cluster_name`` server property)."""
    properties = getattr(getattr(connection.transport, "connection", None), "server_properties", None) or {}
    name = properties.get("cluster_name")
    if isinstance(name, bytes):
        name = name.decode(errors="replace")
    return str(name) if name is not None else None


__all__ = [
    "FAILOVER",
    "CFXPublisher",
    "EncodedMessage",
    "PublishError",
    "PublishReturned",
    "PublisherClosed",
]

#: The orders in which the nodes of a cluster are tried (see the module docstring).

log = structlog.get_logger("linegate.cfx.publisher")

# Errors that mean "this connection or channel is gone": retry on the next connection.
_LINK_ERRORS = (
    aiormq.exceptions.AMQPConnectionError,
    aiormq.exceptions.AMQPChannelError,
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
    OSError,
)


# Bytes handed to the connection's writer at once at most (unless one message is larger), so
# heartbeats and other channels' frames are not stuck behind a window of large messages.
_MAX_WRITE = 1 << 20


class PublishError(TransportError):
    """The broker refused a message (basic.nack): it was not stored."""


class PublishReturned(PublishError):
    """The broker returned a mandatory message (basic.return): no queue was bound to take it."""


class PublisherClosed(ConnectionClosed):
    """The publisher was closed before the message was confirmed."""


class EncodedMessage(NamedTuple):
    """One already-encoded message for :meth:`CFXPublisher.publish_raw_many`.

    ``body`` is UTF-8 JSON (gzipped by the publisher when its ``gzip`` is on); ``timestamp``
    becomes the AMQP timestamp in whole seconds.
    """

    body: bytes
    routing_key: str
    message_id: str
    timestamp: datetime | None = None


class _Batch:
    """The messages of one submit call: its future resolves when every one is settled.

    ``slotted``: each message holds a slot of the submit semaphore until it is settled.
    """

    __slots__ = ("error", "future", "remaining", "slotted")

    def __init__(self, future: asyncio.Future[None], size: int, slotted: bool) -> None:
        self.future = future
        self.remaining = size
        self.slotted = slotted
        self.error: TransportError | None = None


class _Message:
    """A message from submit until its confirm; ``confirm`` is its current delivery's future."""

    __slots__ = ("batch", "body", "confirm", "message_id", "routing_key", "timestamp")

    def __init__(self, batch: _Batch, body: bytes, routing_key: str, message_id: str, timestamp: int | None):
        self.batch = batch
        self.body = body
        self.routing_key = routing_key
        self.message_id = message_id
        self.timestamp = timestamp
        self.confirm: asyncio.Future[Any] | None = None


@dataclass(slots=True)
class _Link:
    """One live connection with its confirming channel (the aiormq one underneath, too)."""

    connection: AbstractConnection
    channel: AbstractChannel
    raw: aiormq.Channel
    broken: asyncio.Event


class CFXPublisher:
    """Confirmed, persistent publisher of CFX envelopes to a topic exchange.

    Args:
        url: the broker, ``amqp://user:password@host:port/vhost`` (``amqps://`` for TLS), or a
            sequence of such URLs, one per node of a cluster.
        failover: the order nodes are tried in, ``"in_order"`` or ``"random"``.
        cluster_name: the cluster every node must belong to (RabbitMQ names it in the
            connection's server properties); a node that names another, a standalone broker
            or a node of another cluster listed by mistake, is refused (``connect.wrong_cluster``)
            and the next one tried. None accepts any.
        exchange: the durable topic exchange; declared on every connect.
        gzip: gzip bodies and set ``content-encoding: gzip`` (the SDK's default codec).
        window: the most messages awaiting a confirm at once; :meth:`submit` also waits while
            ``window`` of its messages are unsettled.
        backoff: reconnect delays; the default starts at 0.1 s and caps at 10 s.
        connect_timeout: seconds allowed for one connection attempt.
        mandatory: publish as mandatory, so a message no queue is bound for comes back
            (``basic.return``) and fails with :class:`PublishReturned` instead of being
            discarded by the broker; off by default, as a topic exchange with no consumer yet
            is normal for a CFX stream.
        stall_warning: log ``publish.confirms_stalled`` when messages have waited this many
            seconds on a live link with no confirm coming (a broker alarm blocks publishers, a
            quorum queue without its majority confirms nothing), and ``publish.confirms_resumed``
            when confirms come again.
        ssl_context: the TLS context for an ``amqps://`` url (trust anchors, client certificate,
            hostname check); without it aiormq builds one from the url's query. Each node's
            certificate is checked against that node's host name.

    Use it as ``async with CFXPublisher(...) as publisher:``; the connection is made in the
    background, so entering does not fail while the broker is down: publishes wait for it.
    """

    def __init__(
        self,
        url: str | Sequence[str] = "amqp://guest:guest@127.0.0.1:5672/",
        *,
        failover: str = "in_order",
        cluster_name: str | None = None,
        exchange: str = "cfx",
        gzip: bool = False,
        window: int = 256,
        backoff: Backoff | None = None,
        connect_timeout: float = 5.0,
        mandatory: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        stall_warning: float = 10.0,
    ) -> None:
        if window < 1:
            raise LocalProtocolError(f"confirm window must be at least 1, got {window}")
        urls = (url,) if isinstance(url, str) else tuple(url)
        if not urls:
            raise LocalProtocolError("CFXPublisher needs at least one broker url")
        if len(set(urls)) != len(urls):
            raise LocalProtocolError(f"broker urls repeat a node: {[redact_url(u) for u in urls]}")
        if failover not in FAILOVER:
            raise LocalProtocolError(f"failover must be one of {', '.join(FAILOVER)}, not {failover!r}")
        self.urls = urls
        self.url = urls[0]
        self.failover = failover
        self.cluster_name = cluster_name
        #: The URL of the node the publisher is connected to (or was last), None before the first.
        self.node: str | None = None
        self._order: list[str] = []  # the nodes still to try in this round
        self._random = random.Random()
        self.exchange_name = exchange
        self.gzip = gzip
        self.window = window
        self.mandatory = mandatory
        self.ssl_context = ssl_context
        self._backoff = backoff or Backoff()
        self._connect_timeout = connect_timeout
        self._slots = asyncio.Semaphore(window)
        self._link: _Link | None = None
        self._link_ready = asyncio.Event()
        self._closing = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        # Submitted, not yet written (in submit order) and written, awaiting the broker's confirm
        # (by delivery tag on the current channel, so also in submit order).
        self._queue: deque[_Message] = deque()
        self._wake = asyncio.Event()  # something queued, or room in the window
        self._unconfirmed: dict[int, _Message] = {}
        self._settled = asyncio.Event()
        self._outstanding = 0
        self._accepting = False
        self.reconnects = 0
        self.connect_attempts = 0
        #: Confirms (acks, nacks, returns) received so far, on any node.
        self.confirms = 0
        #: Seconds messages may wait for a confirm, with none arriving, before a warning.
        self.stall_warning = stall_warning
        self._log = log.bind(exchange=exchange)
        self._log_nodes = [redact_url(u) for u in urls]

    async def __aenter__(self) -> Self:
        if self._supervisor is not None:
            raise LocalProtocolError("CFXPublisher is not reentrant")
        self._accepting = True
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
            PublisherClosed: the publisher closed first.
        """
        async with asyncio.timeout(timeout):
            while not self.connected:
                if self._closing.is_set():
                    raise PublisherClosed("publisher closed before it connected")
                await _first(self._link_ready.wait(), self._closing.wait())

    async def publish(self, envelope: Envelope) -> None:
        """Publish one envelope and return when the broker has confirmed it.

        Raises:
            PublishError: the broker nacked it (or returned it, when mandatory).
            PublisherClosed: the publisher closed before the confirm.
        """
        await (await self.submit(envelope))

    async def publish_many(self, envelopes: Iterable[Envelope]) -> None:
        """Publish envelopes pipelined through the confirm window; return when all are confirmed.

        Raises:
            PublishError: the broker nacked one (the others may still have been stored).
        """
        await self.publish_raw_many(_raw(envelope) for envelope in envelopes)

    async def publish_raw_many(self, messages: Iterable[EncodedMessage]) -> None:
        """Publish already-encoded messages, in order, and return when every one is confirmed.

        They go out as one run of frames as far as the window allows. Each message is settled
        (confirmed, refused, or failed by close) before this returns or raises.

        Raises:
            PublishError: the broker nacked (or returned) at least one; the others may be stored.
            PublisherClosed: the publisher closed before every confirm came.
            LocalProtocolError: a routing key or message-id is longer than 255 bytes.
        """
        await self._submit(messages, slotted=False)

    async def submit(self, envelope: Envelope) -> asyncio.Future[None]:
        """Start publishing ``envelope`` once the window has room; return its confirm future.

        The future resolves when the broker confirms, or fails with :class:`PublishError` or
        :class:`PublisherClosed`. Awaiting ``submit`` only waits for window room, so a loop of
        submits keeps ``window`` messages in flight.
        """
        message = _raw(envelope)
        _check_lengths(message)
        await self._admit()
        return self._submit((message,), slotted=True)

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
        message = EncodedMessage(body, routing_key, message_id, timestamp)
        _check_lengths(message)
        await self._admit()
        return self._submit((message,), slotted=True)

    def _submit(self, messages: Iterable[EncodedMessage], *, slotted: bool) -> asyncio.Future[None]:
        # Every message of the call is queued before anything else can run, so concurrent
        # callers (the drain's pipelined batches) keep the order in which they called.
        if not self._accepting:
            raise PublisherClosed("publisher is not open")
        items = list(messages)
        for item in items:
            _check_lengths(item)
        outcome: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        batch = _Batch(outcome, len(items), slotted)
        if not items:
            outcome.set_result(None)
            return outcome
        compress = self.gzip
        queue = self._queue
        for body, key, message_id, timestamp in items:
            payload = encode_payload(body, compress=True)[0] if compress else body
            seconds = None if timestamp is None else int(timestamp.timestamp())
            queue.append(_Message(batch, payload, key, message_id, seconds))
        self._outstanding += len(items)
        self._wake.set()
        return outcome

    async def _admit(self) -> None:
        # submit() waits for window room before it queues, so a loop of submits is paced by
        # the confirms; the slot is released when the message is settled.
        await self._slots.acquire()
        if not self._accepting:
            self._slots.release()
            raise PublisherClosed("publisher closed before the message was sent")

    # --- settling -------------------------------------------------------------------------

    def _settle(self, batch: _Batch, error: TransportError | None, count: int = 1) -> None:
        batch.remaining -= count
        if error is not None and batch.error is None:
            batch.error = error
        if batch.remaining <= 0 and not batch.future.done():
            if batch.error is None:
                batch.future.set_result(None)
            else:
                batch.future.set_exception(batch.error)
        if batch.slotted:
            for _ in range(count):
                self._slots.release()
        self._outstanding -= count
        if not self._outstanding:
            self._settled.set()

    def _on_confirm(self, tag: int, confirm: asyncio.Future[Any]) -> None:
        # Called through the future the aiormq channel's reader resolves: ack, nack or return.
        message = self._unconfirmed.get(tag)
        if message is None or message.confirm is not confirm:
            # A confirm for a delivery already queued again for a newer connection: the message
            # goes out once more (at-least-once).
            if not confirm.cancelled():
                confirm.exception()
            return
        del self._unconfirmed[tag]
        if self.mandatory and self._link is not None:  # the entry _send_loop made for returns
            returns = self._link.raw.message_id_delivery_tag
            if returns.get(message.message_id) == tag:
                del returns[message.message_id]
        error: PublishError | None = None
        if confirm.cancelled():
            error = PublishError(f"confirm of message {message.message_id} was cancelled")
        elif (exc := confirm.exception()) is not None:
            if isinstance(exc, aiormq.exceptions.PublishError):  # a return, with on_return_raises
                error = PublishReturned(
                    f"broker returned message {message.message_id} ({message.routing_key})"
                )
            else:
                error = PublishError(
                    f"broker refused message {message.message_id} ({message.routing_key}): {exc}"
                )
        elif not isinstance(confirm.result(), Basic.Ack):
            error = PublishReturned(
                f"broker returned message {message.message_id} ({message.routing_key}): no queue took it"
            )
        self.confirms += 1
        self._settle(message.batch, error)
        self._wake.set()

    # --- sending --------------------------------------------------------------------------

    async def _send_loop(self, link: _Link) -> None:
        """Write whatever is queued, as one run of frames per wake-up, while ``link`` lives."""
        raw = link.raw
        framer = PublishFramer(
            raw.number,
            raw.connection.connection_tune.frame_max,
            exchange=self.exchange_name,
            content_type=CONTENT_TYPE,
            content_encoding=GZIP if self.gzip else None,
            mandatory=self.mandatory,
        )
        loop = asyncio.get_running_loop()
        confirmed, queue, unconfirmed, window = self._on_confirm, self._queue, self._unconfirmed, self.window
        while True:
            if not queue or len(unconfirmed) >= window:
                self._wake.clear()
                await self._wake.wait()
                continue
            if raw.is_closed:
                return  # the close callbacks mark the link broken; the supervisor takes over
            parts: list[bytes] = []
            size = 0
            while queue and len(unconfirmed) < window and size < _MAX_WRITE:
                message = queue.popleft()
                if message.batch.future.done():  # the caller cancelled: nobody wants it sent
                    self._settle(message.batch, None)
                    continue
                frames = framer.encode(
                    message.routing_key, message.message_id, message.timestamp, message.body
                )
                parts.append(frames)
                size += len(frames)
                # The channel numbers deliveries; its reader resolves the future it keeps per tag.
                raw.delivery_tag += 1
                tag = raw.delivery_tag
                confirm = loop.create_future()
                raw.confirmations[tag] = confirm
                if self.mandatory:  # aiormq finds a returned message's delivery by its message-id
                    raw.message_id_delivery_tag[message.message_id] = tag
                message.confirm = confirm
                unconfirmed[tag] = message
                confirm.add_done_callback(functools.partial(confirmed, tag))
            if parts:
                await raw.write_queue.put(ChannelFrame(payload=b"".join(parts), should_close=False))

    async def _watch_confirms(self, url: str) -> None:
        """Warn while messages wait for confirms that do not come (the link itself is up)."""
        stalled_since: float | None = None
        seen = self.confirms
        waiting = False  # messages were unconfirmed at the previous check
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.stall_warning)
            # Stalled: no confirm for a whole interval while messages waited through it (one
            # written just before this check, after an idle spell, has not waited yet).
            if self.confirms != seen or not self._unconfirmed or not waiting:
                if stalled_since is not None:
                    self._log.warning(
                        "publish.confirms_resumed",
                        node=redact_url(url),
                        stalled_seconds=round(loop.time() - stalled_since, 1),
                    )
                stalled_since = None
            elif stalled_since is None:
                stalled_since = loop.time() - self.stall_warning
                self._log.warning(
                    "publish.confirms_stalled",
                    node=redact_url(url),
                    unconfirmed=len(self._unconfirmed),
                    queued=len(self._queue),
                    seconds=self.stall_warning,
                )
            seen = self.confirms
            waiting = bool(self._unconfirmed)

    def _requeue_unconfirmed(self) -> None:
        # Written but unconfirmed messages go back ahead of the queue, in submit order: every one
        # of them was written before anything still queued.
        if not self._unconfirmed:
            return
        resend = list(self._unconfirmed.values())
        self._unconfirmed.clear()
        for message in resend:
            message.confirm = None
        self._queue.extendleft(reversed(resend))
        self._wake.set()
        self._log.info("publish.resend", messages=len(resend))

    # --- connection -----------------------------------------------------------------------

    def _next_node(self) -> str | None:
        """The next node to try in this round, or None when the round is over (then back off)."""
        if not self._order:
            return None
        return self._order.pop(0)

    def _new_round(self) -> None:
        self._order = next_round(self.urls, self.node, self.failover, self._random)

    async def _supervise(self) -> None:
        self._new_round()
        while not self._closing.is_set():
            url = self._next_node()
            if url is None:
                delay = self._backoff.next_delay()
                self._log.warning("connect.round_failed", nodes=self._log_nodes, retry_in=round(delay, 3))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), delay)
                self._new_round()
                continue
            link = await self._connect_once(url)
            if link is None:
                continue
            self._backoff.reset()
            previous, self.node = self.node, url
            self._link = link
            self._link_ready.set()
            if previous is not None and previous != url:
                self._log.warning("connect.failover", node=redact_url(url), previous=redact_url(previous))
            self._log.info("connect.complete", node=redact_url(url))
            sender = asyncio.create_task(
                self._send_loop(link), name=f"cfx-publisher[{self.exchange_name}].send_loop"
            )
            watchdog = asyncio.create_task(
                self._watch_confirms(url), name=f"cfx-publisher[{self.exchange_name}].confirm_watchdog"
            )
            try:
                await _first(self._closing.wait(), link.broken.wait(), sender)
            finally:
                self._link_ready.clear()
                sender.cancel()
                watchdog.cancel()
                await asyncio.gather(sender, watchdog, return_exceptions=True)
            if self._closing.is_set():
                return  # aclose settles what is left and closes the link
            error = None if sender.cancelled() else sender.exception()
            self._log.warning("publish.link_lost", node=redact_url(url), error=repr(error))
            self._link = None
            self._requeue_unconfirmed()
            self._new_round()
            self.reconnects += 1
            with contextlib.suppress(Exception):
                await asyncio.wait_for(link.connection.close(), 2.0)

    async def _connect_once(self, url: str) -> _Link | None:
        self.connect_attempts += 1
        self._log.debug("connect.started", node=redact_url(url))
        try:
            connection = await aio_pika.connect(
                with_heartbeat(url), timeout=self._connect_timeout, ssl_context=self.ssl_context
            )
        except (*_LINK_ERRORS, TimeoutError) as exc:
            self._log.warning("connect.failed", node=redact_url(url), error=repr(exc))
            return None
        if self.cluster_name is not None:
            reported = _cluster_of(connection)
            if reported != self.cluster_name:
                # Publishing there would be accepted and confirmed, and read by nobody.
                self._log.warning(
                    "connect.wrong_cluster",
                    node=redact_url(url),
                    cluster=reported,
                    expected=self.cluster_name,
                )
                with contextlib.suppress(Exception):
                    await connection.close()
                return None
        try:
            channel = await connection.channel(publisher_confirms=True)
            await channel.declare_exchange(self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
            raw = await channel.get_underlay_channel()
        except (*_LINK_ERRORS, TimeoutError) as exc:
            self._log.warning("connect.failed", node=redact_url(url), error=repr(exc))
            with contextlib.suppress(Exception):
                await connection.close()
            return None
        if not isinstance(raw, aiormq.Channel):  # the frames are written to aiormq's writer
            with contextlib.suppress(Exception):
                await connection.close()
            raise LocalProtocolError(
                f"aio-pika's channel runs on {type(raw).__name__}, not an aiormq.Channel"
            )
        broken = asyncio.Event()
        connection.close_callbacks.add(lambda *_: broken.set())
        channel.close_callbacks.add(lambda *_: broken.set())
        node = redact_url(url)
        watch = BlockedWatch(
            getattr(connection.transport, "connection", None),
            lambda reason: self._log.warning("publish.blocked", node=node, reason=reason),
            lambda seconds: self._log.info("publish.unblocked", node=node, blocked_seconds=round(seconds, 1)),
        )
        watch.install()
        connection.close_callbacks.add(lambda *_: watch.remove())
        return _Link(connection, channel, raw, broken)

    async def aclose(self) -> None:
        """Stop publishing: messages on the wire get a short grace for their confirms; whatever
        is still unconfirmed then fails with :class:`PublisherClosed`; the link closes."""
        if self._supervisor is None or not self._accepting:
            return
        self._accepting = False
        if self._outstanding and self.connected:
            self._settled.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._settled.wait(), self._connect_timeout)
        self._closing.set()
        await asyncio.gather(self._supervisor, return_exceptions=True)
        self._fail_outstanding()
        link, self._link = self._link, None
        if link is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(link.connection.close(), 2.0)
        self._log.info("close.complete")

    def _fail_outstanding(self) -> None:
        left = [*self._unconfirmed.values(), *self._queue]
        self._unconfirmed.clear()
        self._queue.clear()
        for message in left:
            self._settle(message.batch, PublisherClosed("publisher closed before the message was confirmed"))


def _raw(envelope: Envelope) -> EncodedMessage:
    if envelope.source is None:
        raise LocalProtocolError(f"{envelope.message_name} has no Source handle to route by")
    return EncodedMessage(
        encode_envelope(envelope),
        routing_key(envelope.source, envelope.message_name),
        str(envelope.unique_id),
        envelope.time_stamp,
    )


def _check_lengths(message: EncodedMessage) -> None:
    # AMQP shortstr limit (255 bytes); a str of at most 63 characters is at most 252 UTF-8 bytes.
    for value, what in ((message.routing_key, "routing key"), (message.message_id, "message-id")):
        if len(value) > 63 and len(value.encode()) > 255:
            raise LocalProtocolError(f"{what} is longer than the 255 bytes AMQP allows: {value[:60]!r}...")


async def _first(*awaitables: Any) -> None:
    """Wait until the first of ``awaitables`` finishes; cancel the others (tasks given are not)."""
    tasks = [a if isinstance(a, asyncio.Future) else asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task, given in zip(tasks, awaitables, strict=True):
            if task is not given:
                task.cancel()
