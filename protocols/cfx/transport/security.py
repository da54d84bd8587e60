"""TLS and SASL for the CFX request listener and the AMQP 1.0 clients.

The CFX SDK speaks SASL ANONYMOUS when a URI has no user info and PLAIN when it is
``amqp://user:pass@host``, and TLS with ``amqps://`` (reference §2.1, §2.4). proton's built-in
SASL (no Cyrus in the wheel) can only *serve* ANONYMOUS and EXTERNAL, so when the listener has
credentials or TLS, a small asyncio front door terminates TLS and runs the SASL exchange itself
(sasl-mechanisms, sasl-init, sasl-outcome; AMQP 1.0 part 5.3), then hands the authenticated
stream to the listener, which runs a proton engine over it on the event loop. A peer that does
not authenticate never reaches proton.

The gate also stands in front of a plain listener (no TLS, no credentials): it is where the
listener's :class:`~protocols.transport.PeerLimits` hold (connection cap, handshake deadline,
bounded writes), which proton's own acceptor has no way to enforce.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ssl
import struct
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import structlog
from proton import UNDESCRIBED, Array, Data, Described, SSLDomain, symbol, ubyte, ulong

from protocols.errors import RemoteProtocolError, TransportError
from protocols.transport.guard import PeerGuard, PeerLimits, guard_of, start_guarded_server

_UNDESCRIBED: Any = UNDESCRIBED  # proton's stubs type the marker as a Constant, not AMQP data

__all__ = ["GATE_LIMITS", "ServerSecurity", "TLSFiles", "client_ssl_domain"]

log = structlog.get_logger("linegate.cfx.security")

# AMQP 1.0 part 5.3.1 / 2.2: protocol headers (id 3 = SASL, id 0 = AMQP), version 1.0.0.
SASL_HEADER: Final = b"AMQP\x03\x01\x00\x00"
AMQP_HEADER: Final = b"AMQP\x00\x01\x00\x00"
# AMQP 1.0 part 5.3.3: descriptor codes of the SASL frame bodies.
SASL_MECHANISMS: Final = 0x40
SASL_INIT: Final = 0x41
SASL_INIT_NAME: Final = "amqp:sasl-init:list"
SASL_OUTCOME: Final = 0x44
SASL_OK: Final = 0
SASL_AUTH_FAILED: Final = 1
# A SASL frame is tiny; anything larger is garbage (the spec's minimum max-frame-size is 512).
MAX_SASL_FRAME: Final = 512
# How long a peer may take to authenticate before we drop it.
HANDSHAKE_TIMEOUT: Final = 10.0

#: What the listener tolerates. A CFX requester opens one connection per request (reference
#: §2.4), so a line controller's changeover is a burst of short connections: the cap is wide,
#: the handshake deadline is the TLS + SASL one. No idle deadline: an event publisher's
#: connection may be quiet for long.
GATE_LIMITS = PeerLimits(max_connections=256, handshake_timeout=HANDSHAKE_TIMEOUT, idle_timeout=None)


@dataclass(frozen=True, slots=True)
class TLSFiles:
    """Certificate files for ``amqps://``.

    Args:
        cert_file: PEM certificate chain (the server's, or the client's for mutual TLS).
        key_file: PEM private key of ``cert_file``.
        ca_file: PEM trust anchors used to verify the peer (clients: required to verify).
        key_password: password of ``key_file``, if encrypted.
    """

    cert_file: str | None = None
    key_file: str | None = None
    ca_file: str | None = None
    key_password: str | None = None


@dataclass(frozen=True, slots=True)
class ServerSecurity:
    """How the listener admits peers.

    Args:
        tls: serve ``amqps://`` with these files (``cert_file`` and ``key_file`` required).
        credentials: user name → password; when given, only SASL PLAIN with a matching pair is
            admitted and ANONYMOUS is refused.
    """

    tls: TLSFiles | None = None
    credentials: Mapping[str, str] | None = None

    @property
    def enabled(self) -> bool:
        """True when the asyncio front door is needed (TLS or credentials)."""
        return self.tls is not None or bool(self.credentials)

    def server_context(self) -> ssl.SSLContext | None:
        """The TLS context for the listening socket, or None for plain TCP."""
        if self.tls is None:
            return None
        if not (self.tls.cert_file and self.tls.key_file):
            raise ValueError("TLS needs cert_file and key_file")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.tls.cert_file, self.tls.key_file, self.tls.key_password)
        if self.tls.ca_file:
            context.load_verify_locations(self.tls.ca_file)
        return context

    def check_plain(self, response: bytes) -> str | None:
        """Check a SASL PLAIN initial response (RFC 4616: authzid NUL authcid NUL passwd).

        Returns:
            the authenticated user name, or None when refused.
        """
        if not self.credentials:
            return None
        parts = response.split(b"\x00")
        if len(parts) != 3:
            return None
        user = parts[1].decode("utf-8", "replace")
        expected = self.credentials.get(user)
        if expected is None or not hmac.compare_digest(expected.encode("utf-8"), parts[2]):
            return None
        return user


def client_ssl_domain(tls: TLSFiles | None) -> SSLDomain:
    """A proton client TLS domain that verifies the server against ``tls.ca_file``."""
    domain = SSLDomain(SSLDomain.MODE_CLIENT)
    if tls is not None and tls.ca_file:
        domain.set_trusted_ca_db(tls.ca_file)
        domain.set_peer_authentication(SSLDomain.VERIFY_PEER_NAME, tls.ca_file)
    else:
        domain.set_peer_authentication(SSLDomain.ANONYMOUS_PEER)
    if tls is not None and tls.cert_file and tls.key_file:
        domain.set_credentials(tls.cert_file, tls.key_file, tls.key_password)
    return domain


def _sasl_frame(code: int, fields: list[Any]) -> bytes:
    data = Data()
    data.put_object(Described(ulong(code), fields))
    payload = data.encode()
    # AMQP 1.0 part 2.3.1: size, doff = 2 (words), type 1 = SASL, 2 ignored bytes.
    return struct.pack(">IBBH", 8 + len(payload), 2, 1, 0) + payload


def _parse_sasl_init(frame: bytes) -> tuple[str, bytes]:
    """Return (mechanism, initial response) from a SASL frame body, or raise."""
    if len(frame) < 8 or frame[5] != 1:
        raise RemoteProtocolError("expected a SASL frame")
    offset = frame[4] * 4
    data = Data()
    try:
        data.decode(frame[offset:])
        data.rewind()
        data.next()
        value: Any = data.get_object()
    except Exception as exc:  # proton's DataException and friends: the peer sent garbage
        raise RemoteProtocolError(f"undecodable SASL frame: {exc}") from exc
    if not isinstance(value, Described):
        raise RemoteProtocolError("expected sasl-init")
    descriptor: Any = value.descriptor
    body: Any = value.value
    # AMQP 1.0 part 1.5: a descriptor is a ulong code or its symbolic name; a peer may send any
    # value there (int() of it raised TypeError/ValueError out of the gate).
    is_init = descriptor == SASL_INIT_NAME or (isinstance(descriptor, int) and descriptor == SASL_INIT)
    if not is_init or not isinstance(body, list):
        raise RemoteProtocolError("expected sasl-init")
    fields = [*body, None, None]
    mechanism, response = fields[0], fields[1]
    if not isinstance(mechanism, str) or not isinstance(response, bytes | memoryview | type(None)):
        raise RemoteProtocolError("sasl-init fields have the wrong types")
    return str(mechanism), bytes(response or b"")


AdmittedPeer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
"""Serves a peer the gate has admitted, from just after its AMQP header, until it goes."""


class SecurityGate:
    """The asyncio front door: TLS, then SASL, then the admitted stream to ``serve``.

    Args:
        security: TLS and credentials (both optional).
        serve: runs the AMQP connection of an admitted peer (the listener's engine).
        limits: what the gate tolerates from peers (``peer.dropped`` past them).
        name: the server's name in log lines.
    """

    def __init__(
        self,
        security: ServerSecurity,
        serve: AdmittedPeer,
        *,
        limits: PeerLimits = GATE_LIMITS,
        name: str = "cfx-listener",
    ) -> None:
        self._security = security
        self._serve_admitted = serve
        self._server: asyncio.Server | None = None
        self._pumps: set[asyncio.Task[None]] = set()
        self.refused = 0
        #: Enforces ``limits``; its ``dropped`` counts the peers dropped, by reason.
        self.guard = PeerGuard(name, "cfx.listener", limits)

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` and return the bound port."""
        self._server = await start_guarded_server(
            self.guard, self._on_connect, host, port, ssl=self._security.server_context()
        )
        return int(self._server.sockets[0].getsockname()[1])

    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Our own task, not asyncio's: its done-callback calls exception() on it, which raises
        # when aclose cancelled the task and is logged as an error in the callback.
        task = asyncio.ensure_future(self._serve(reader, writer))
        self._pumps.add(task)
        task.add_done_callback(self._pumps.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._pumps.add(task)
        peer = writer.get_extra_info("peername")
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                refusal = await self._handshake(reader, writer)
            if refusal is not None:
                self.refused += 1
                log.warning("sasl.refused", server=self.guard.server, peer=peer, reason=refusal)
                return
            guard = guard_of(getattr(writer, "transport", None))
            if guard is not None:
                guard.established()
            await self._serve_admitted(reader, writer)
        except (
            OSError,
            TimeoutError,
            asyncio.IncompleteReadError,
            RemoteProtocolError,
            ssl.SSLError,
            TransportError,  # this peer's connection failed: drop it, keep serving
        ) as exc:
            log.info("gate.closed", peer=peer, error=repr(exc))
        finally:
            with contextlib.suppress(Exception):
                writer.close()
            if task is not None:
                self._pumps.discard(task)

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str | None:
        """Run TLS-inner SASL; return None when the peer is admitted, else why it was refused."""
        header = await reader.readexactly(8)
        if header == AMQP_HEADER:
            # No SASL layer: only acceptable when no credentials are required (TLS only).
            return "no SASL layer, and a login is required" if self._security.credentials else None
        if header != SASL_HEADER:
            writer.write(SASL_HEADER)  # part 2.2: answer a bad header with ours, then close
            return "not an AMQP 1.0 SASL header"
        # With credentials only PLAIN is offered (ANONYMOUS peers are refused); without, any
        # peer is welcome, whatever it chooses (the SDK picks PLAIN when its URI has user info).
        mechanisms = ["PLAIN"] if self._security.credentials else ["ANONYMOUS", "PLAIN"]
        # sasl-server-mechanisms is a multiple symbol field: an array of symbols.
        offered = Array(_UNDESCRIBED, Data.SYMBOL, *(symbol(m) for m in mechanisms))
        writer.write(SASL_HEADER + _sasl_frame(SASL_MECHANISMS, [offered]))
        await writer.drain()
        try:
            size = struct.unpack(">I", await reader.readexactly(4))[0]
        except asyncio.IncompleteReadError:
            # A client closes here when it has none of the offered mechanisms (an anonymous
            # client at a listener that requires a login).
            return f"closed after the mechanisms offered ({', '.join(mechanisms)})"
        if not 8 <= size <= MAX_SASL_FRAME:
            return f"SASL frame of {size} bytes"
        frame = struct.pack(">I", size) + await reader.readexactly(size - 4)
        mechanism, response = _parse_sasl_init(frame)
        if self._security.credentials:
            ok = mechanism == "PLAIN" and self._security.check_plain(response) is not None
        else:
            ok = mechanism in mechanisms
        writer.write(_sasl_frame(SASL_OUTCOME, [ubyte(SASL_OK if ok else SASL_AUTH_FAILED)]))
        await writer.drain()
        if not ok:
            # The user name is not logged either: a mistyped password often lands in it.
            return f"{mechanism} login refused" if mechanism == "PLAIN" else f"mechanism {mechanism} refused"
        if await reader.readexactly(8) != AMQP_HEADER:
            return "no AMQP header after SASL"
        return None

    def stop_listening(self) -> None:
        """Accept no new peers; the admitted connections go on."""
        if self._server is not None:
            self._server.close()

    async def aclose(self, grace: float = 0.0) -> None:
        """Stop listening and drop every admitted connection.

        Args:
            grace: seconds to let the connections carry what proton wrote last (its close
                frames) to peers that close in turn, before they are cut.
        """
        self.stop_listening()
        if grace > 0 and self._pumps:
            await asyncio.wait(list(self._pumps), timeout=grace)
        for task in list(self._pumps):
            task.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
