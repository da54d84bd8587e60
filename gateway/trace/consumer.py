"""``linegate trace serve``: the trace store fed from the CFX stream on RabbitMQ, as any MES reads it.

The consumer declares a durable queue of its own (a quorum queue when asked: on a broker
cluster it survives the loss of a node) with a single active consumer (more ``trace serve``
processes on it are standbys, not competing writers), binds it to the CFX topic exchange, and takes deliveries
in batches of up to ``batch`` (the channel's prefetch). A batch is decoded, ingested in one
transaction, and only then acknowledged (one ``multiple`` ack). When the database is unavailable
the consumer keeps the batch, acknowledges nothing and retries with backoff: the broker holds
everything else, and nothing is lost. A redelivery after a crash or a lost channel is harmless:
the ingest is idempotent on UniqueID.

A delivery that is not CFX is logged and acknowledged (as the SDK's receiver does), so a poison
message does not come back forever.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import aiormq.exceptions
import structlog
from aio_pika.abc import AbstractConnection, AbstractIncomingMessage

from gateway.trace.ingest import IngestStats, TraceSettings, ingest
from gateway.trace.store import Store, StoreUnavailable
from protocols.backoff import Backoff
from protocols.cfx import CFXDecodeError, Envelope, decode_envelopes
from protocols.cfx.transport.wire import redact_url, with_heartbeat
from protocols.failover import next_round

log = structlog.get_logger("linegate.trace.consumer")

# What a lost or refused broker link raises (the channel and connection errors of aiormq).
_LINK_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,
    OSError,
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,
)


@dataclass(slots=True)
class ConsumerStats:
    """Running totals of a consumer: deliveries taken, envelopes stored, batches and retries."""

    deliveries: int = 0
    stored: int = 0
    duplicates: int = 0
    malformed: int = 0
    batches: int = 0
    store_retries: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def add(self, result: IngestStats) -> None:
        """Count one committed batch."""
        self.batches += 1
        self.stored += result.stored
        self.duplicates += result.duplicates
        for outcome, count in result.outcomes.items():
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + count


class TraceConsumer:
    """Consume the CFX stream from RabbitMQ into a trace store (see the module docstring).

    Args:
        store: an open trace store.
        url: the broker, ``amqp://user:password@host:port/vhost``, or one URL per node of a
            cluster: each (re)connect tries them in turn, from the one after the node it last
            had, and backs off only after every node failed.
        queue: the consumer's durable queue.
        exchange: the CFX topic exchange (declared durable, as the publisher does).
        bindings: routing-key patterns (``#``: everything; ``<handle>.#``: one machine).
        quorum: declare a quorum queue (``x-queue-type: quorum``) instead of a classic one.
        batch: most deliveries per transaction (also the prefetch).
        settings: liquidus and oven geometry for the reflow figures.
        backoff: delays between attempts while the store is unavailable.
    """

    def __init__(
        self,
        store: Store,
        url: str | Sequence[str],
        *,
        queue: str = "linegate-trace",
        exchange: str = "cfx",
        bindings: Sequence[str] = ("#",),
        quorum: bool = False,
        batch: int = 200,
        settings: TraceSettings | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self.store = store
        self.urls = (url,) if isinstance(url, str) else tuple(url)
        if not self.urls:
            raise ValueError("a trace consumer needs at least one broker url")
        #: The node the consumer is connected to (or was last), None before the first.
        self.node: str | None = None
        self.queue_name = queue
        self.exchange_name = exchange
        self.bindings = list(bindings) or ["#"]
        self.quorum = quorum
        self.batch = batch
        self.settings = settings or TraceSettings()
        self._backoff = backoff or Backoff()
        self._link_backoff = Backoff()
        self._inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self.stats = ConsumerStats()
        self.ready = asyncio.Event()
        self.started = asyncio.Event()  # pulsed each time a session starts consuming
        self.committed = asyncio.Event()  # set after every commit (tests and progress wait on it)
        self.store_down = asyncio.Event()  # set while the store refuses a batch

    async def run(self) -> None:
        """Consume until cancelled; when the broker link is lost, connect again (to the next node
        of a cluster first) and go on. What was delivered but not acknowledged comes again."""
        while True:
            connection, broken = await self._connect_any()
            try:
                await self._consume(connection, broken)
            except _LINK_ERRORS as exc:
                log.warning("trace.consumer.link_lost", node=redact_url(self.node or ""), error=repr(exc))
            finally:
                consumed = self.ready.is_set()
                self.ready.clear()
                self._drop_inbox()
                with contextlib.suppress(Exception):
                    await connection.close()
            if not consumed:  # refused before consuming (a queue declared otherwise, say)
                await asyncio.sleep(self._link_backoff.next_delay())  # a retry delay

    async def _connect_any(self) -> tuple[AbstractConnection, asyncio.Event]:
        """Connect to a node, from the one after the last used; back off after a failed round."""
        while True:
            for url in next_round(self.urls, self.node):
                try:
                    connection = await aio_pika.connect(with_heartbeat(url), timeout=10)
                except _LINK_ERRORS as exc:  # TimeoutError is an OSError
                    log.warning("trace.consumer.connect_failed", node=redact_url(url), error=repr(exc))
                    continue
                self.node = url
                broken = asyncio.Event()
                connection.close_callbacks.add(lambda *_, event=broken: event.set())
                return connection, broken
            delay = self._link_backoff.next_delay()
            await asyncio.sleep(delay)  # a reconnect delay, not synchronization

    async def _consume(self, connection: AbstractConnection, broken: asyncio.Event) -> None:
        channel = await connection.channel()
        # A channel error, or the broker cancelling the consumer (its queue deleted, a classic
        # queue's node gone), ends the session as a lost connection does: nothing else would.
        channel.close_callbacks.add(lambda *_, event=broken: event.set())
        raw = await channel.get_underlay_channel()
        raw.on_consumer_cancel_callbacks.add(lambda *_, event=broken: self._cancelled(event))
        await channel.set_qos(prefetch_count=self.batch)
        exchange = await channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        # Single active consumer: several `trace serve` on one queue are one writer and its
        # standbys (two writers could each create the same new board), in stream order.
        arguments: dict[str, Any] = {"x-single-active-consumer": True}
        if self.quorum:
            arguments["x-queue-type"] = "quorum"
        queue = await channel.declare_queue(self.queue_name, durable=True, arguments=arguments)
        for pattern in self.bindings:
            await queue.bind(exchange, routing_key=pattern)
        await queue.consume(self._inbox.put, no_ack=False)
        log.info(
            "trace.consumer.started",
            broker=redact_url(self.node or ""),
            queue=self.queue_name,
            quorum=self.quorum,
            bindings=self.bindings,
        )
        self.ready.set()
        self.started.set()  # a pulse: wakes whoever waits for this session
        self.started.clear()
        self._link_backoff.reset()
        lost = asyncio.ensure_future(broken.wait())
        try:
            while not broken.is_set():
                arrived = asyncio.ensure_future(self._inbox.get())
                await asyncio.wait({arrived, lost}, return_when=asyncio.FIRST_COMPLETED)
                if not arrived.done():
                    arrived.cancel()
                    break
                await self._one_batch(arrived.result())
        finally:
            lost.cancel()
        log.warning("trace.consumer.link_lost", node=redact_url(self.node or ""))

    def _cancelled(self, broken: asyncio.Event) -> None:
        log.warning("trace.consumer.cancelled", node=redact_url(self.node or ""), queue=self.queue_name)
        broken.set()

    def _drop_inbox(self) -> None:
        # Deliveries of a lost channel cannot be acknowledged; the broker delivers them again.
        while not self._inbox.empty():
            self._inbox.get_nowait()

    async def _one_batch(self, first: AbstractIncomingMessage) -> None:
        messages = [first]
        while len(messages) < self.batch and not self._inbox.empty():
            messages.append(self._inbox.get_nowait())
        self.stats.deliveries += len(messages)
        envelopes: list[Envelope] = []
        for message in messages:
            envelopes.extend(self._decode(message))
        if envelopes:
            self.stats.add(await self._commit(envelopes))
        # Every delivery of the batch at once, only after the commit.
        try:
            await messages[-1].ack(multiple=True)
        except Exception as exc:  # the channel was lost meanwhile: the broker redelivers; we dedupe
            log.warning("trace.consumer.ack_failed", error=str(exc), deliveries=len(messages))
        self.committed.set()
        self.committed.clear()

    def _decode(self, message: AbstractIncomingMessage) -> list[Envelope]:
        try:
            return decode_envelopes(message.body, content_encoding=message.content_encoding)
        except CFXDecodeError as exc:
            self.stats.malformed += 1
            log.warning(
                "trace.consumer.malformed",
                routing_key=message.routing_key,
                message_id=message.message_id,
                path=exc.path,
                error=str(exc),
            )
            return []

    async def _commit(self, envelopes: list[Envelope]) -> IngestStats:
        while True:
            try:
                result = await self.store.run(lambda: ingest(envelopes, self.settings))
            except StoreUnavailable as exc:
                self.stats.store_retries += 1
                self.store_down.set()
                delay = self._backoff.next_delay()
                log.warning(
                    "trace.consumer.store_unavailable",
                    error=str(exc),
                    pending=len(envelopes),
                    retry_in=round(delay, 2),
                )
                await asyncio.sleep(delay)  # a retry delay, not synchronization
                continue
            if self.store_down.is_set():
                log.info("trace.consumer.store_back", retries=self.stats.store_retries)
                self.store_down.clear()
            self._backoff.reset()
            return result


__all__ = ["ConsumerStats", "TraceConsumer"]
