"""Point-to-point CFX requests over AMQP 1.0, opened the way the SDK's requester opens them.

For each request (reference §2.4): a fresh connection (container-id = our handle; SASL
ANONYMOUS, or PLAIN when the URI carries ``user:password@``; TLS for ``amqps://``), a receiver
link named ``request-receiver`` whose source is the target handle and whose target is the reply
address ``"<handle>-<guid>"``, and a sender link named after the reply address whose target is
the target handle. The request goes out with message-id ``command-request`` and, by default, a
gzip body; the first message on the receiver link is the response. Everything is closed after.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import structlog
from proton import Event, Message
from proton.handlers import MessagingHandler

from protocols.cfx.codec import CFXDecodeError, decode_envelope
from protocols.cfx.envelope import Envelope
from protocols.cfx.transport.amqp10 import body_bytes, content_encoding_of, request_message
from protocols.cfx.transport.engine_io import EngineStream, open_client
from protocols.cfx.transport.security import TLSFiles
from protocols.cfx.transport.wire import decode_payload, redact_url, reply_address
from protocols.errors import ConnectionClosed, LocalProtocolError, RequestTimeout

__all__ = ["CFXRequester", "request"]

log = structlog.get_logger("linegate.cfx.requester")

# reference §5: the SDK's default request timeout.
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class _Reply:
    body: bytes | None
    content_encoding: str | None
    correlation_id: str | None


class _Exchange(MessagingHandler):
    """One request/response on its own connection; runs on the loop, in the engine's dispatch."""

    def __init__(self, outcome: asyncio.Future[_Reply], message: Message) -> None:
        super().__init__(prefetch=1)
        self.outcome = outcome
        self.message = message
        self.sent = False

    def on_sendable(self, event: Event) -> None:
        if not self.sent:
            self.sent = True
            sender: Any = event.sender
            sender.send(self.message)

    def on_message(self, event: Event) -> None:
        message: Any = event.message
        reply = _Reply(
            body=body_bytes(message),
            content_encoding=content_encoding_of(message),
            correlation_id=None if message.correlation_id is None else str(message.correlation_id),
        )
        if not self.outcome.done():
            self.outcome.set_result(reply)

    def fail(self, what: str, condition: Any = None) -> None:
        if not self.outcome.done():
            self.outcome.set_exception(ConnectionClosed(f"{what}: {condition}" if condition else what))

    def on_transport_error(self, event: Event) -> None:
        transport: Any = event.transport
        self.fail("AMQP transport failed", transport.condition)

    def on_connection_error(self, event: Event) -> None:
        connection: Any = event.connection
        self.fail("peer closed the connection", connection.remote_condition)

    def on_link_error(self, event: Event) -> None:
        link: Any = event.link
        self.fail(f"peer refused link {link.name!r}", link.remote_condition)

    def on_disconnected(self, event: Event) -> None:
        self.fail("disconnected before the response")


class CFXRequester:
    """Sends CFX requests to other endpoints' listeners and returns their responses.

    Args:
        handle: our CFX handle: the AMQP container-id and the stem of reply addresses.
        gzip: gzip request bodies (the SDK's default codec).
        tls: trust anchors (and optional client certificate) for ``amqps://`` URIs.

    Use ``async with CFXRequester(handle) as requester: await requester.request(...)``; many
    requests may run at once, each on its own connection.
    """

    def __init__(self, handle: str, *, gzip: bool = True, tls: TLSFiles | None = None) -> None:
        self.handle = handle
        self.gzip = gzip
        self.tls = tls
        self._entered = False
        self._closed = False
        self._streams: set[EngineStream] = set()

    async def __aenter__(self) -> Self:
        if self._entered:
            raise LocalProtocolError("CFXRequester is not reentrant")
        self._entered = True
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Drop every connection; requests still waiting fail."""
        self._closed = True
        for stream in list(self._streams):
            stream.close()

    async def request(self, uri: str, envelope: Envelope, *, timeout: float = DEFAULT_TIMEOUT) -> Envelope:
        """Send ``envelope`` to the listener at ``uri`` and return the response envelope.

        Args:
            uri: ``amqp://host:port``, ``amqp://user:password@host:port`` or ``amqps://...``.
            envelope: the request; ``target`` must be the responder's CFX handle.
            timeout: seconds to wait for the response (the SDK default is 30).

        Raises:
            RequestTimeout: no response in time; the message names the URI and target handle.
            TransportError: the connection or a link failed.
            protocols.cfx.codec.CFXDecodeError: the response is not a CFX envelope.
        """
        if not self._entered or self._closed:
            raise LocalProtocolError("use CFXRequester inside `async with`")
        target = envelope.target
        if not target:
            raise LocalProtocolError(f"{envelope.message_name} has no Target handle to send to")
        reply_to = reply_address(envelope.source or self.handle)
        message = request_message(envelope, reply_to=reply_to, compress=self.gzip)
        outcome: asyncio.Future[_Reply] = asyncio.get_running_loop().create_future()
        exchange = _Exchange(outcome, message)
        stream: EngineStream | None = None
        try:
            async with asyncio.timeout(timeout):
                stream = await open_client(
                    uri,
                    exchange,
                    container_id=self.handle,
                    tls=self.tls,
                    on_closed=lambda: exchange.fail("disconnected before the response"),
                    name=f"cfx-requester[{self.handle}]",
                )
                self._streams.add(stream)
                _open_links(stream, target=target, reply_to=reply_to)
                reply = await outcome
        except TimeoutError:
            raise RequestTimeout(
                f"no response from {redact_url(uri)} for CFX handle {target!r} "
                f"({envelope.message_name}) within {timeout:g} s"
            ) from None
        finally:
            if stream is not None:
                self._streams.discard(stream)
                _close(stream)
        if reply.body is None:
            raise CFXDecodeError(f"response from {redact_url(uri)} has no binary body")
        response = decode_envelope(decode_payload(reply.body, reply.content_encoding))
        if envelope.request_id and response.request_id != envelope.request_id:
            log.warning("response.request_id_mismatch", sent=envelope.request_id, got=response.request_id)
        return response


def _open_links(stream: EngineStream, *, target: str, reply_to: str) -> None:
    connection: Any = stream.engine.connection
    connection.open()
    session = connection.session()
    session.open()
    receiver = session.receiver("request-receiver")
    receiver.source.address = target
    receiver.target.address = reply_to
    receiver.open()
    sender = session.sender(reply_to)
    sender.target.address = target
    sender.open()
    stream.update()


def _close(stream: EngineStream) -> None:
    # The close frame is written at once; the socket then closes behind it (asyncio flushes its
    # buffer first). Nothing waits for the peer's answering close: the exchange is over.
    if not stream.ended:
        connection: Any = stream.engine.connection
        connection.close()
        stream.update()
    stream.close()


async def request(
    uri: str,
    envelope: Envelope,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    gzip: bool = True,
    tls: TLSFiles | None = None,
) -> Envelope:
    """Send one request with a short-lived :class:`CFXRequester` (see its ``request``)."""
    async with CFXRequester(envelope.source or "linegate", gzip=gzip, tls=tls) as requester:
        return await requester.request(uri, envelope, timeout=timeout)
