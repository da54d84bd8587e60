"""Publish CFX envelopes over AMQP 1.0, as CFX equipment does (the SDK's publish channels).

The target is either a broker node (RabbitMQ 3.x: ``/exchange/cfx`` routes by the message's
subject, ``/exchange/cfx/<key>`` by a fixed key; 4.x: ``/exchanges/...``) or another endpoint's
listener address (the SDK's ``AddListener``), with no broker in between. Messages carry the
layout of reference §2.2 (see :mod:`protocols.cfx.transport.amqp10`). :meth:`publish` returns
when the peer has accepted the transfer, and many publishes may be in flight at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Any, Self

import structlog
from proton import Event, Message
from proton.handlers import MessagingHandler

from protocols.cfx.envelope import Envelope
from protocols.cfx.transport.amqp10 import envelope_message
from protocols.cfx.transport.engine_io import EngineStream, open_client
from protocols.cfx.transport.security import TLSFiles
from protocols.errors import ConnectionClosed, LocalProtocolError, TransportError

__all__ = ["AMQP10Publisher", "DeliveryRefused"]

log = structlog.get_logger("linegate.cfx.amqp10")

# Seconds the peer gets to answer our close before the socket is cut.
CLOSE_GRACE = 1.0


class DeliveryRefused(TransportError):
    """The peer rejected or released a transfer: it was not stored."""


class _SenderSide(MessagingHandler):
    """The engine's handler: one connection, one sender link, outcomes to the waiting publishes.

    Runs on the event loop, inside the engine's event dispatch.
    """

    def __init__(self) -> None:
        super().__init__(auto_settle=True)
        self.sender: Any = None
        self.pending: dict[bytes, asyncio.Future[None]] = {}
        self.opened: asyncio.Future[None] | None = None
        self.failure: str | None = None

    def on_link_opened(self, event: Event) -> None:
        # One connection, one link: any link that opens is ours (proton wrappers are not unique).
        if self.opened is not None:
            _settle(self.opened, None)

    def send(self, message: Message, outcome: asyncio.Future[None]) -> None:
        if self.failure is not None or self.sender is None:
            _settle(outcome, ConnectionClosed(self.failure or "AMQP 1.0 sender is closed"))
            return
        delivery = self.sender.send(message)
        tag = delivery.tag
        self.pending[tag.encode() if isinstance(tag, str) else bytes(tag)] = outcome

    def on_accepted(self, event: Event) -> None:
        outcome = self.pending.pop(_tag(event), None)
        if outcome is not None:
            _settle(outcome, None)

    def on_rejected(self, event: Event) -> None:
        outcome = self.pending.pop(_tag(event), None)
        if outcome is not None:
            delivery: Any = event.delivery
            condition = delivery.remote.condition
            _settle(outcome, DeliveryRefused(f"peer rejected the message: {condition}"))

    def on_released(self, event: Event) -> None:
        outcome = self.pending.pop(_tag(event), None)
        if outcome is not None:
            _settle(outcome, DeliveryRefused("peer released the message (not stored)"))

    def fail_all(self, reason: str) -> None:
        if self.failure is None:
            self.failure = reason
        for outcome in self.pending.values():
            _settle(outcome, ConnectionClosed(reason))
        self.pending.clear()
        if self.opened is not None:
            _settle(self.opened, ConnectionClosed(reason))

    def on_transport_error(self, event: Event) -> None:
        transport: Any = event.transport
        self.fail_all(f"AMQP transport failed: {transport.condition}")

    def on_connection_error(self, event: Event) -> None:
        connection: Any = event.connection
        self.fail_all(f"peer closed the connection: {connection.remote_condition}")

    def on_link_error(self, event: Event) -> None:
        link: Any = event.link
        self.fail_all(f"peer refused link {link.name!r}: {link.remote_condition}")

    def on_disconnected(self, event: Event) -> None:
        self.fail_all("disconnected")


def _tag(event: Event) -> bytes:
    delivery: Any = event.delivery
    tag = delivery.tag
    return tag.encode() if isinstance(tag, str) else bytes(tag)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


def _keep_cancellation(cause: BaseException | None = None) -> None:
    # Python 3.11's wait_for hands back the awaited future's outcome when that future finished in
    # the pass a cancellation arrived in (CPython gh-86296): a refused connect would replace the
    # caller's cancellation with TransportError, and a reconnect loop would never end. The task
    # still counts the cancel request, so honour it here.
    task = asyncio.current_task()
    if task is not None and task.cancelling() and not isinstance(cause, asyncio.CancelledError):
        raise asyncio.CancelledError from cause


class AMQP10Publisher:
    """Publishes envelopes to one AMQP 1.0 node address.

    Args:
        uri: ``amqp://[user:password@]host:port`` or ``amqps://...`` of the broker or listener.
        address: the target node address (a broker exchange address or a listener address).
        handle: our CFX handle, sent as the container-id (reference §2.1).
        gzip: gzip bodies (content-encoding ``gzip``); the SDK's default codec.
        tls: trust anchors for ``amqps://``.
        virtual_host: the Open frame's hostname, e.g. ``vhost:/`` for RabbitMQ.
    """

    def __init__(
        self,
        uri: str,
        address: str,
        *,
        handle: str,
        gzip: bool = False,
        tls: TLSFiles | None = None,
        virtual_host: str | None = None,
    ) -> None:
        self.uri = uri
        self.address = address
        self.handle = handle
        self.gzip = gzip
        self.tls = tls
        self.virtual_host = virtual_host
        self._side = _SenderSide()
        self._stream: EngineStream | None = None
        self._entered = False

    async def __aenter__(self) -> Self:
        """Connect and attach the sender link.

        Raises:
            TransportError: the connection failed or the peer refused the link.
        """
        if self._entered:
            raise LocalProtocolError("AMQP10Publisher is not reentrant")
        self._entered = True
        side = self._side
        side.opened = asyncio.get_running_loop().create_future()
        # The dial runs beside the wait, so that a refused connect and a cancellation arriving in
        # the same pass meet in wait_for, as they did when the reactor thread dialled.
        dialling = asyncio.create_task(self._open(), name=f"cfx-amqp10[{self.address}].open")
        try:
            await asyncio.wait_for(side.opened, 10.0)
            _keep_cancellation()
        except BaseException as exc:
            dialling.cancel()
            await asyncio.gather(dialling, return_exceptions=True)
            await self.aclose()
            _keep_cancellation(exc)
            raise
        return self

    async def _open(self) -> None:
        side = self._side
        try:
            self._stream = stream = await open_client(
                self.uri,
                side,
                container_id=self.handle,
                virtual_host=self.virtual_host,
                tls=self.tls,
                on_closed=lambda: side.fail_all("disconnected"),
                name=f"cfx-amqp10[{self.address}]",
            )
        except TransportError as exc:
            side.fail_all(str(exc))
            return
        connection: Any = stream.engine.connection
        connection.open()
        session = connection.session()
        session.open()
        # reference §2.1: a publish channel's sender link is named after its address.
        side.sender = session.sender(self.address)
        side.sender.target.address = self.address
        side.sender.open()
        stream.update()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def publish(self, envelope: Envelope, *, subject: str | None = None) -> None:
        """Send ``envelope`` and return when the peer has accepted it.

        Args:
            envelope: the event to publish; Source should be our handle.
            subject: overrides the default ``"<Source>.<MessageName>"`` subject (routing key).

        Raises:
            DeliveryRefused: the peer rejected or released it.
            TransportError: the connection failed before the outcome arrived.
        """
        stream = self._stream
        if stream is None:
            raise LocalProtocolError("use AMQP10Publisher inside `async with`")
        message = envelope_message(envelope, compress=self.gzip, subject=subject)
        outcome: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._side.send(message, outcome)
        stream.update_soon()
        await outcome

    async def aclose(self) -> None:
        """Close the link and the connection."""
        stream, self._stream = self._stream, None
        self._side.fail_all("AMQP 1.0 publisher is closed")
        if stream is None or stream.ended:
            return
        connection: Any = stream.engine.connection
        connection.close()
        stream.update()
        task = stream.task
        if task is not None:
            # The peer answers our close and the stream ends; a peer that does not is cut off.
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(task), CLOSE_GRACE)
        stream.close()
