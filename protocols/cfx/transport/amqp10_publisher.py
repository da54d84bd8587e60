"""Publish CFX envelopes over AMQP 1.0, as CFX equipment does (the SDK's publish channels).

The target is either a broker node (RabbitMQ 3.x: ``/exchange/cfx`` routes by the message's
subject, ``/exchange/cfx/<key>`` by a fixed key; 4.x: ``/exchanges/...``) or another endpoint's
listener address (the SDK's ``AddListener``), with no broker in between. Messages carry the
layout of reference §2.2 (see :mod:`protocols.cfx.transport.amqp10`). :meth:`publish` returns
when the peer has accepted the transfer, and many publishes may be in flight at once.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import structlog
from proton import Event, Message
from proton.handlers import MessagingHandler

from protocols.cfx.envelope import Envelope
from protocols.cfx.transport.amqp10 import envelope_message
from protocols.cfx.transport.proton_bridge import ProtonBridge
from protocols.cfx.transport.security import TLSFiles, client_ssl_domain
from protocols.errors import LocalProtocolError, TransportError

__all__ = ["AMQP10Publisher", "DeliveryRefused"]

log = structlog.get_logger("linegate.cfx.amqp10")


class DeliveryRefused(TransportError):
    """The peer rejected or released a transfer: it was not stored."""


class _SenderSide(MessagingHandler):
    """Reactor-thread half: one connection, one sender link, outcomes back to the loop."""

    def __init__(self) -> None:
        super().__init__(auto_settle=True)
        self.bridge: ProtonBridge | None = None
        self.connection: Any = None
        self.sender: Any = None
        self.pending: dict[bytes, asyncio.Future[None]] = {}
        self.opened: asyncio.Future[None] | None = None
        self.failure: str | None = None

    def on_link_opened(self, event: Event) -> None:
        # One connection, one link: any link that opens is ours (proton wrappers are not unique).
        if self.opened is not None and self.bridge is not None:
            # Crossing reactor thread -> asyncio: the link is ready.
            self.bridge.to_loop(_settle, self.opened, None)

    def send(self, message: Message, outcome: asyncio.Future[None]) -> None:
        if self.failure is not None or self.sender is None:
            self._report(outcome, TransportError(self.failure or "AMQP 1.0 sender is closed"))
            return
        delivery = self.sender.send(message)
        tag = delivery.tag
        self.pending[tag.encode() if isinstance(tag, str) else bytes(tag)] = outcome

    def _report(self, outcome: asyncio.Future[None], error: BaseException | None) -> None:
        if self.bridge is not None:
            # Crossing reactor thread -> asyncio: one delivery's outcome.
            self.bridge.to_loop(_settle, outcome, error)

    def on_accepted(self, event: Event) -> None:
        outcome = self.pending.pop(_tag(event), None)
        if outcome is not None:
            self._report(outcome, None)

    def on_rejected(self, event: Event) -> None:
        outcome = self.pending.pop(_tag(event), None)
        if outcome is not None:
            delivery: Any = event.delivery
            condition = delivery.remote.condition
            self._report(outcome, DeliveryRefused(f"peer rejected the message: {condition}"))

    def on_released(self, event: Event) -> None:
        outcome = self.pending.pop(_tag(event), None)
        if outcome is not None:
            self._report(outcome, DeliveryRefused("peer released the message (not stored)"))

    def _fail_all(self, reason: str) -> None:
        self.failure = reason
        for outcome in self.pending.values():
            self._report(outcome, TransportError(reason))
        self.pending.clear()
        if self.opened is not None:
            self._report(self.opened, TransportError(reason))

    def on_transport_error(self, event: Event) -> None:
        transport: Any = event.transport
        self._fail_all(f"AMQP transport failed: {transport.condition}")

    def on_connection_error(self, event: Event) -> None:
        connection: Any = event.connection
        self._fail_all(f"peer closed the connection: {connection.remote_condition}")

    def on_link_error(self, event: Event) -> None:
        link: Any = event.link
        self._fail_all(f"peer refused link {link.name!r}: {link.remote_condition}")

    def on_disconnected(self, event: Event) -> None:
        self._fail_all("disconnected")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


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
        self._bridge: ProtonBridge | None = None

    async def __aenter__(self) -> Self:
        """Connect and attach the sender link.

        Raises:
            TransportError: the connection failed or the peer refused the link.
        """
        if self._bridge is not None:
            raise LocalProtocolError("AMQP10Publisher is not reentrant")
        bridge = self._bridge = ProtonBridge(self._side, name=f"cfx-amqp10[{self.address}]")
        self._side.bridge = bridge
        self._side.opened = asyncio.get_running_loop().create_future()
        await bridge.start()
        url = urlsplit(self.uri)
        options: dict[str, Any] = {
            "reconnect": False,
            "container_id": self.handle,
            "allowed_mechs": "PLAIN" if url.username else "ANONYMOUS",
            "allow_insecure_mechs": True,
        }
        if self.virtual_host:
            options["virtual_host"] = self.virtual_host
        if url.scheme == "amqps":
            options["ssl_domain"] = client_ssl_domain(self.tls)
        side = self._side

        def open_link() -> None:
            side.connection = bridge.container.connect(self.uri, **options)
            # reference §2.1: a publish channel's sender link is named after its address.
            side.sender = bridge.container.create_sender(
                side.connection, target=self.address, name=self.address
            )

        bridge.call_in_reactor(open_link)
        try:
            await asyncio.wait_for(self._side.opened, 10.0)
            _keep_cancellation()
        except BaseException as exc:
            await self.aclose()
            _keep_cancellation(exc)
            raise
        return self

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
        bridge = self._bridge
        if bridge is None:
            raise LocalProtocolError("use AMQP10Publisher inside `async with`")
        message = envelope_message(envelope, compress=self.gzip, subject=subject)
        outcome: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        side = self._side
        bridge.call_in_reactor(lambda: side.send(message, outcome))
        await outcome

    async def aclose(self) -> None:
        """Close the link and connection and stop the reactor thread."""
        if self._bridge is not None:
            await self._bridge.stop(self._side.close)
