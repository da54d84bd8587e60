"""Limits every listening socket enforces against hostile or broken peers.

A factory network has equipment nobody vetted on it. Whatever a peer does — connect a thousand
times at once, send one byte a minute, never read what we write — it must not grow our memory,
our task count, or hold back the other machines. :class:`PeerGuard` wraps a server's protocol
factory in :class:`GuardedProtocol`, a thin proxy that enforces :class:`PeerLimits`:

* **connection cap**: at ``max_connections`` open connections, a connection that has already
  ended (closing on our side, or closed by its peer as the kernel reports it, see
  :func:`peer_has_closed`) frees its slot first: quick connect/close cycles land in one loop
  turn, before any of their EOFs is read, and must not count. If none has ended, a new one
  evicts the oldest connection that has spent over a quarter of its handshake deadline without
  finishing it (a silent peer must not lock the server up until its deadline; a real peer
  finishes its handshake in milliseconds); otherwise the new one is aborted at once, before any
  protocol object or task exists for it, so a burst costs no tasks past the cap;
* **handshake deadline**: the server's own protocol must call :meth:`GuardedProtocol.established`
  (Hermes: ServiceDescription exchanged; CFX gate: SASL done; HTTP: a request is being handled)
  within ``handshake_timeout`` of the accept, else the peer is dropped (slowloris);
* **idle deadline**: after the handshake, a peer that sends no byte for ``idle_timeout`` is
  dropped (off by default where the protocol allows quiet peers, as Hermes does);
* **bounded writes**: the transport pauses the writer at ``write_buffer_limit`` bytes, and a peer
  that keeps it paused (never reads) for ``drain_timeout`` is dropped, so its buffer never grows.

Each drop is a ``peer.dropped`` log line (server, peer, reason) and counts in :data:`DROPS`
(``(kind, reason) → count``), which the gateway's ``/metrics`` exposes.
"""

from __future__ import annotations

import asyncio
import collections
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, cast

import structlog

__all__ = [
    "BACKLOG",
    "DROPS",
    "GuardedProtocol",
    "PeerGuard",
    "PeerLimits",
    "create_guarded_server",
    "guard_of",
    "peer_has_closed",
    "start_guarded_server",
]

log = structlog.get_logger("linegate.peers")

#: Peers dropped by any guard in this process, by (server kind, reason).
DROPS: Final[collections.Counter[tuple[str, str]]] = collections.Counter()

# Drop reasons (the ``reason`` of the log line and the metric label).
CONNECTION_LIMIT: Final = "connection_limit"
EVICTED: Final = "evicted"
#: A connection that was served and then sent no new request in time (HTTP keep-alive): the
#: normal end of an idle connection, logged at info, not a hostile peer.
KEEPALIVE_TIMEOUT: Final = "keepalive_timeout"

#: The listen backlog of guarded servers. asyncio accepts up to this many sockets per loop turn,
#: each with a short-lived task and a descriptor until the guard has closed it, so a burst costs
#: at most about two turns' worth at once (one turn's sockets are finishing as the next arrive).
#: A short queue makes the kernel drop SYNs in a burst instead, which costs every peer (the
#: legitimate one too) a retransmit of 1 s and more: 512 takes a burst of 1,000 in two turns
#: while keeping the descriptors of one turn bounded.
BACKLOG: Final = 512

# Linux TCP states (include/net/tcp_states.h) in which the peer has sent its FIN or the
# connection is gone: CLOSE (reset), CLOSE_WAIT (peer closed, we have not), LAST_ACK and CLOSING
# (both closed). TCP_INFO's first byte is the state; other systems have no TCP_INFO here.
_TCP_INFO: Final = getattr(socket, "TCP_INFO", None)
_PEER_CLOSED_STATES: Final = frozenset({7, 8, 9, 11})

# A connection pending for this share of its handshake deadline may be evicted by a newcomer.
# Not at once: in a burst each newcomer would evict the previous one, and every one of them
# would get a protocol and a task before being dropped.
EVICT_AFTER = 0.25
HANDSHAKE_TIMEOUT: Final = "handshake_timeout"
IDLE_TIMEOUT: Final = "idle_timeout"
DRAIN_TIMEOUT: Final = "drain_timeout"


@dataclass(frozen=True, slots=True)
class PeerLimits:
    """What one server tolerates from its peers.

    Args:
        max_connections: open connections at most; more are closed at once.
        handshake_timeout: seconds from accept until the protocol's handshake is done (None: no
            deadline).
        idle_timeout: seconds without a received byte, after the handshake, before the peer is
            dropped (None: quiet peers are fine).
        write_buffer_limit: bytes buffered for a peer before writers wait (the transport's
            high-water mark).
        drain_timeout: seconds a peer may keep the buffer full (not reading) before it is dropped.
    """

    max_connections: int = 64
    handshake_timeout: float | None = 10.0
    idle_timeout: float | None = None
    write_buffer_limit: int = 256 * 1024
    drain_timeout: float | None = 10.0

    def __post_init__(self) -> None:
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        if self.write_buffer_limit < 1:
            raise ValueError("write_buffer_limit must be at least 1")
        for name in ("handshake_timeout", "idle_timeout", "drain_timeout"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive (or None for no deadline)")


class PeerGuard:
    """Counts one server's connections and enforces its :class:`PeerLimits`.

    Args:
        server: the server's name in log lines (``hermes[M1/lane1]``, ``http``).
        kind: the server's kind in :data:`DROPS` and metrics (``hermes.lane``, ``cfx.listener``).
        limits: the limits to enforce.
    """

    def __init__(self, server: str, kind: str, limits: PeerLimits) -> None:
        self.server = server
        self.kind = kind
        self.limits = limits
        #: Peers this guard dropped, by reason.
        self.dropped: collections.Counter[str] = collections.Counter()
        #: Connections accepted past the cap check (a burst's survivors).
        self.accepted = 0
        # Admitted connections whose handshake is not done yet, oldest first (eviction order).
        self._pending: dict[GuardedProtocol, None] = {}
        # Admitted connections that hold one of the max_connections slots.
        self._open: dict[GuardedProtocol, None] = {}

    @property
    def active(self) -> int:
        """Connections that hold a slot now (admitted, not ended)."""
        return len(self._open)

    def wrap(self, factory: Callable[[], asyncio.BaseProtocol]) -> Callable[[], GuardedProtocol]:
        """A protocol factory for ``loop.create_server`` that guards ``factory``'s protocols."""
        return lambda: GuardedProtocol(self, factory)

    def free_ended(self) -> int:
        """Free the slots of connections that have ended, though their close is not through yet:
        closing on our side, or closed by the peer (:func:`peer_has_closed`).

        Returns:
            how many slots were freed.
        """
        ended = [protocol for protocol in self._open if protocol.has_ended()]
        for protocol in ended:
            protocol._release()
        return len(ended)

    def record(self, peer: object, reason: str, **context: Any) -> None:
        """Log and count one dropped peer."""
        self.dropped[reason] += 1
        DROPS[(self.kind, reason)] += 1
        emit = log.info if reason == KEEPALIVE_TIMEOUT else log.warning
        emit("peer.dropped", server=self.server, peer=peer, reason=reason, **context)


class GuardedProtocol(asyncio.Protocol):
    """A proxy in front of a server's protocol that enforces its guard's limits.

    The inner protocol is made only once the connection is admitted, so a refused connection in
    a burst costs no more than this small object.
    """

    def __init__(self, guard: PeerGuard, factory: Callable[[], asyncio.BaseProtocol]) -> None:
        self.guard = guard
        self._factory = factory
        self.inner: Any = None
        self.transport: asyncio.Transport | None = None
        self.peer: object = None
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None  # handshake or idle deadline
        self._drain_timer: asyncio.TimerHandle | None = None
        self._last_received = 0.0
        self._accepted_at = 0.0
        self._established = False
        self._dropped = False
        self._served = False  # expect_handshake ran: the connection was served before
        self._counted = False  # holds one of the guard's max_connections slots
        self._eof = False  # the peer's EOF was read

    # -- what the server's own protocol calls ------------------------------------------------

    @property
    def is_established(self) -> bool:
        """Whether :meth:`established` was called."""
        return self._established

    def established(self) -> None:
        """The handshake is done: the handshake deadline ends, the idle deadline starts."""
        if self._established or self._dropped:
            return
        self._established = True
        self.guard._pending.pop(self, None)
        self._cancel_timer()
        self._last_received = self._loop.time()
        idle = self.guard.limits.idle_timeout
        if idle is not None:
            self._timer = self._loop.call_later(idle, self._check_idle)

    def has_ended(self) -> bool:
        """Whether the connection is over though its socket may not be closed yet: dropped or
        closing on our side, or the peer has closed its side."""
        transport = self.transport
        return (
            self._dropped
            or self._eof
            or transport is None
            or transport.is_closing()
            or peer_has_closed(transport)
        )

    def expect_handshake(self) -> None:
        """Start the handshake deadline again (HTTP: the next request's head must arrive in time)."""
        transport = self.transport
        if self._dropped or transport is None or transport.is_closing():
            return
        self._established = False
        self._served = True
        self._cancel_timer()
        timeout = self.guard.limits.handshake_timeout
        if timeout is not None and self._counted:
            self._accepted_at = self._loop.time()
            self.guard._pending[self] = None  # an idle keep-alive connection may be evicted
            self._timer = self._loop.call_later(timeout, self._handshake_expired)

    def drop(self, reason: str, **context: Any) -> None:
        """Log, count and abort this connection (at most once)."""
        if self._dropped:
            return
        self._dropped = True
        self.guard.record(self.peer, reason, **context)
        self._cancel_timer()
        self._release()
        if self.transport is not None:
            self.transport.abort()

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport by contract; uvloop's is not a subclass of asyncio.Transport, so
        # the type is asserted for the checker only.
        transport = cast(asyncio.Transport, transport)
        guard = self.guard
        limits = guard.limits
        self.transport = transport
        self.peer = transport.get_extra_info("peername")
        now = self._loop.time()
        self._accepted_at = now
        if guard.active >= limits.max_connections:
            guard.free_ended()
        if guard.active >= limits.max_connections:
            oldest = next(iter(guard._pending), None)
            timeout = limits.handshake_timeout
            if oldest is None or timeout is None or now - oldest._accepted_at < timeout * EVICT_AFTER:
                # Refused before the inner protocol exists: no task, no buffers (a burst).
                self.drop(CONNECTION_LIMIT, limit=limits.max_connections)
                return
            oldest.drop(EVICTED, limit=limits.max_connections)
        guard._open[self] = None
        guard.accepted += 1
        self._counted = True
        if limits.handshake_timeout is not None:
            guard._pending[self] = None
        transport.set_write_buffer_limits(high=limits.write_buffer_limit)
        if limits.handshake_timeout is not None:
            self._timer = self._loop.call_later(limits.handshake_timeout, self._handshake_expired)
        elif limits.idle_timeout is not None:
            self.established()
        self.inner = self._factory()
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._last_received = self._loop.time()
        if self.inner is not None:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        self._eof = True
        if self.inner is None:
            return None
        result: bool | None = self.inner.eof_received()
        return result

    def pause_writing(self) -> None:
        timeout = self.guard.limits.drain_timeout
        if timeout is not None and self._drain_timer is None:
            self._drain_timer = self._loop.call_later(timeout, self._drain_expired)
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        if self.inner is not None:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        self._release()
        if self.inner is None:
            return
        inner, self.inner = self.inner, None
        inner.connection_lost(exc)

    # -- deadlines -----------------------------------------------------------------------------

    def _release(self) -> None:
        # At drop time already (the slot is free for the next peer), or when the socket goes.
        if self._counted:
            self._counted = False
            self.guard._open.pop(self, None)
        self.guard._pending.pop(self, None)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _handshake_expired(self) -> None:
        self._timer = None
        reason = KEEPALIVE_TIMEOUT if self._served else HANDSHAKE_TIMEOUT
        self.drop(reason, timeout=self.guard.limits.handshake_timeout)

    def _check_idle(self) -> None:
        # Re-armed lazily from the last receive time: data_received only stores a float.
        idle = self.guard.limits.idle_timeout
        assert idle is not None
        due = self._last_received + idle
        if self._loop.time() >= due:
            self._timer = None
            self.drop(IDLE_TIMEOUT, timeout=idle)
        else:
            self._timer = self._loop.call_at(due, self._check_idle)

    def _drain_expired(self) -> None:
        self._drain_timer = None
        transport = self.transport
        buffered = transport.get_write_buffer_size() if transport is not None else 0
        self.drop(DRAIN_TIMEOUT, timeout=self.guard.limits.drain_timeout, buffered=buffered)


def peer_has_closed(transport: asyncio.BaseTransport) -> bool:
    """Whether the kernel says the peer has closed its side of ``transport``'s TCP socket (its FIN
    arrived, or the connection was reset), even if our reader has not seen the EOF yet.

    A half-closed peer counts as closed: none of our servers' peers writes its half-close and
    then waits for answers. Where the TCP state cannot be read (not Linux, not TCP), False.
    """
    sock = transport.get_extra_info("socket")
    if _TCP_INFO is None or sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    try:
        state = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 1)
    except OSError:
        return True  # the descriptor is gone
    return bool(state) and state[0] in _PEER_CLOSED_STATES


def guard_of(transport: asyncio.BaseTransport | None) -> GuardedProtocol | None:
    """The guard proxy in front of ``transport``'s protocol, if the server has one."""
    if transport is None:
        return None
    protocol = transport.get_protocol()
    return protocol if isinstance(protocol, GuardedProtocol) else None


async def start_guarded_server(
    guard: PeerGuard,
    client_connected: Callable[[asyncio.StreamReader, asyncio.StreamWriter], object],
    host: str | None,
    port: int,
    **kwargs: Any,
) -> asyncio.Server:
    """``asyncio.start_server`` with every connection behind ``guard``.

    ``client_connected`` is called (or, if it returns a coroutine, run as a task) once per
    admitted connection only. With ``ssl=``, the TLS handshake gets the guard's handshake
    deadline too.
    """
    loop = asyncio.get_running_loop()

    def streams() -> asyncio.StreamReaderProtocol:
        reader = asyncio.StreamReader(loop=loop)
        return asyncio.StreamReaderProtocol(reader, client_connected, loop=loop)  # type: ignore[arg-type]

    return await create_guarded_server(guard, streams, host, port, **kwargs)


async def create_guarded_server(
    guard: PeerGuard,
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    host: str | None,
    port: int,
    **kwargs: Any,
) -> asyncio.Server:
    """``loop.create_server`` with every connection behind ``guard``: ``protocol_factory`` is
    called once per admitted connection only (see :func:`start_guarded_server`)."""
    kwargs.setdefault("backlog", BACKLOG)
    if kwargs.get("ssl") is not None and guard.limits.handshake_timeout is not None:
        kwargs.setdefault("ssl_handshake_timeout", guard.limits.handshake_timeout)
    return await asyncio.get_running_loop().create_server(guard.wrap(protocol_factory), host, port, **kwargs)
