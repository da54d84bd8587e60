"""One AMQP 1.0 connection on python-qpid-proton's engine, sans-IO: bytes in, bytes and events out.

proton's engine (``Connection``, ``Transport``, ``Collector``) does no I/O of its own: received
bytes go into :meth:`AMQPEngine.receive_data`, what it has to send comes out of
:meth:`AMQPEngine.data_to_send`, and the events it collects are dispatched to a proton handler
(a ``MessagingHandler``, say) by :meth:`AMQPEngine.process`. No reactor, no thread, no socket:
:mod:`protocols.cfx.transport.engine_io` moves the bytes over an asyncio stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import structlog
from proton import SSL, Collector, Connection, Handler, SSLDomain, Transport

__all__ = ["AMQPEngine", "ClientOptions"]

log = structlog.get_logger("linegate.cfx.engine")

# AMQP 1.0 part 2.2: the protocol header of the AMQP layer (id 0), version 1.0.0.
AMQP_HEADER: Final = b"AMQP\x00\x01\x00\x00"


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """How a client connection introduces itself (what proton's Container.connect took).

    Args:
        container_id: the Open frame's container-id (a CFX endpoint's handle, reference §2.1).
        hostname: the Open frame's hostname (the host dialled, or a virtual host).
        user: SASL PLAIN user; None for ANONYMOUS.
        password: SASL PLAIN password.
        ssl_domain: run proton's TLS layer inside the engine (``amqps://``).
        ssl_peer_name: the name the server's certificate must carry.
    """

    container_id: str
    hostname: str | None = None
    user: str | None = None
    password: str | None = None
    ssl_domain: SSLDomain | None = None
    ssl_peer_name: str | None = None


class AMQPEngine:
    """One AMQP 1.0 connection: proton's Connection, Transport and Collector, driven by its caller.

    Args:
        handler: receives every collected event through ``event.dispatch(handler)``.
        client: the client's identity and SASL/TLS; None for a server connection, whose SASL and
            TLS the listener's gate has done already (the engine then starts after the AMQP header,
            see :meth:`skip_header`).

    Anything that changes the engine's state outside :meth:`process` (a send, a settle, a close)
    must be followed by :meth:`process` and :meth:`data_to_send`; the asyncio glue does that in
    ``EngineStream.update``.
    """

    def __init__(self, handler: Handler, *, client: ClientOptions | None = None) -> None:
        self.handler = handler
        self.collector = Collector()
        self.connection = Connection()
        self.connection.collect(self.collector)
        self.transport = Transport(Transport.SERVER if client is None else Transport.CLIENT)
        if client is not None:
            self._configure_client(client)
        self.transport.bind(self.connection)
        if client is not None and client.ssl_domain is not None:
            tls: Any = SSL(self.transport, client.ssl_domain)
            tls.peer_hostname = client.ssl_peer_name or client.hostname
        self._busy = False
        self._again = False

    def _configure_client(self, client: ClientOptions) -> None:
        connection: Any = self.connection  # proton's stubs type several settable fields read-only
        connection.container = client.container_id
        if client.hostname:
            connection.hostname = client.hostname
        sasl: Any = self.transport.sasl()
        # reference §2.4: ANONYMOUS without user info, PLAIN with it; PLAIN over plain TCP is
        # what the SDK does too.
        sasl.allow_insecure_mechs = True
        if client.user:
            connection.user = client.user
            connection.password = client.password or ""
            sasl.allowed_mechs("PLAIN")
        else:
            sasl.allowed_mechs("ANONYMOUS")

    def skip_header(self) -> None:
        """A server connection: feed the AMQP header the gate already read from the peer."""
        self.receive_data(AMQP_HEADER)

    @property
    def closed(self) -> bool:
        """True once both directions of the transport are closed: nothing more comes or goes."""
        return bool(self.transport.closed)

    def receive_data(self, data: bytes) -> None:
        """Feed bytes received from the peer (they are parsed at once; events are collected)."""
        view = memoryview(data)
        while view:
            capacity = self.transport.capacity()
            if capacity <= 0:
                # The input side is closed (the connection failed or ended): the rest is moot.
                log.debug("engine.input_closed", dropped=len(view))
                return
            self.transport.push(bytes(view[:capacity]))
            view = view[capacity:]

    def receive_eof(self) -> None:
        """The peer closed its side (or the socket failed): no more input."""
        self.transport.close_tail()

    def abort(self) -> None:
        """Close both directions at once (the socket is gone)."""
        self.transport.close_tail()
        self.transport.close_head()

    def data_to_send(self, limit: int = 65536) -> bytes:
        """Take up to ``limit`` bytes the engine has to send; ``b""`` when there are none."""
        pending = self.transport.pending()
        if pending <= 0:
            return b""
        data = self.transport.peek(min(pending, limit)) or b""
        self.transport.pop(len(data))
        return data

    @property
    def output_closed(self) -> bool:
        """True once the engine will write nothing more (its head is closed)."""
        return self.transport.pending() < 0

    def tick(self, now: float) -> float:
        """Let the engine run its idle-timeout clock; returns the next deadline (0: none)."""
        return float(self.transport.tick(now))

    def process(self) -> None:
        """Dispatch every collected event to the handler, in order.

        Reentrant calls (a handler touching this same engine through a path that processes it
        again) return at once; the outer call dispatches what they would have.
        """
        if self._busy:
            self._again = True
            return
        self._busy = True
        try:
            self._drain_events()
        finally:
            self._busy = False

    def _drain_events(self) -> None:
        collector = self.collector
        while True:
            self._again = False
            while (event := collector.peek()) is not None:
                try:
                    event.dispatch(self.handler)
                except Exception:  # a failing handler must not wedge the connection's events
                    log.exception("engine.handler_failed", event=str(event.type))
                finally:
                    collector.pop()
            if not self._again:
                return
