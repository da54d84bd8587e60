"""The server-sent event stream: a sink (``name="sse"``) that fans the outbox out to HTTP clients.

The outbox drains to ``SseSink`` like any other sink. ``publish`` never waits for a client: each
connected client has a bounded queue, and a client whose queue is full (it reads slower than the
line produces) is dropped and its connection aborted, so one slow browser never holds back the
others or the outbox. The stream is live only: a client that connects late, or reconnects, does
not get the events it missed (the broker sinks are the durable path; SSE is for eyes).

Each event is one SSE message whose ``id`` is the outbox sequence number and whose ``data`` is the
CFX envelope exactly as the outbox stored it (one line of canonical JSON).
"""

from __future__ import annotations

import asyncio
import collections
import enum
from collections.abc import Callable, Collection

import structlog

from gateway.http.line import LineTracker
from gateway.outbox import StoredEvent

log = structlog.get_logger("linegate.http.sse")

# A browser tab on a busy line (4 machines, a few events per board each) needs a few dozen
# events a second; 1024 queued events is well over ten seconds of slack before a drop.
DEFAULT_CLIENT_QUEUE = 1024
# Proxies and browsers close idle streams after 30-60 s; a comment line every 15 s keeps it open.
KEEPALIVE_SECONDS = 15.0


class StreamEnd(enum.Enum):
    """Why a subscription ended."""

    DROPPED = "dropped"  # the client fell a full queue behind
    CLOSED = "closed"  # the server is shutting down


class SubscriptionEnded(Exception):
    """Raised by ``Subscription.get`` once the subscription has ended; ``reason`` says why."""

    def __init__(self, reason: StreamEnd) -> None:
        super().__init__(reason.value)
        self.reason = reason


def format_event(event: StoredEvent) -> bytes:
    """One SSE message: ``id`` is the outbox sequence, ``data`` the stored envelope JSON."""
    # The text/event-stream grammar ends a data field at a newline; canonical envelopes are one
    # line, but a payload that is not still arrives whole as several data fields.
    data = b"".join(b"data: " + line + b"\n" for line in event.payload.splitlines() or [b""])
    return b"id: %d\n%s\n" % (event.seq, data)


class Subscription:
    """One client's bounded queue of encoded SSE messages.

    Args:
        limit: the most messages queued before the client is dropped.
        sources: only events of these CFX handles (all when empty).
    """

    def __init__(self, limit: int, sources: Collection[str] = ()) -> None:
        if limit < 1:
            raise ValueError("a subscription queue holds at least one event")
        self.limit = limit
        self.sources = frozenset(sources)
        self.ended: StreamEnd | None = None
        self.abort: Callable[[], None] | None = None  # set by the HTTP handler: aborts the socket
        self._items: collections.deque[bytes] = collections.deque()
        self._wake = asyncio.Event()

    def wants(self, event: StoredEvent) -> bool:
        """Whether this client asked for ``event``'s source."""
        return not self.sources or event.source in self.sources

    def offer(self, message: bytes) -> bool:
        """Queue ``message``; False when the queue is full (the caller then drops the client)."""
        if self.ended is not None:
            return True
        if len(self._items) >= self.limit:
            return False
        self._items.append(message)
        self._wake.set()
        return True

    def end(self, reason: StreamEnd) -> None:
        """End the subscription; a dropped client's socket is aborted at once, unread data discarded."""
        if self.ended is not None:
            return
        self.ended = reason
        self._items.clear()
        self._wake.set()
        if reason is StreamEnd.DROPPED and self.abort is not None:
            # The handler may be blocked writing to this very client; aborting the transport
            # fails that write, which ends the handler without waiting for the client.
            self.abort()

    async def get(self, timeout: float) -> bytes | None:
        """The next message, or None after ``timeout`` seconds without one (time for a keepalive).

        Raises:
            SubscriptionEnded: the subscription was dropped or closed.
        """
        while not self._items:
            if self.ended is not None:
                raise SubscriptionEnded(self.ended)
            self._wake.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                return None
        if self.ended is not None:
            raise SubscriptionEnded(self.ended)
        return self._items.popleft()


class SseSink:
    """The sink behind ``/api/events``; also keeps the ``LineTracker`` the dashboard reads.

    Args:
        client_queue: per-client queue bound, in events.
        tracker: the line view fed from the same stream (a new one when omitted).
    """

    name = "sse"

    def __init__(self, client_queue: int = DEFAULT_CLIENT_QUEUE, tracker: LineTracker | None = None) -> None:
        self.client_queue = client_queue
        self.tracker = tracker or LineTracker()
        self.clients: set[Subscription] = set()
        self.delivered = 0
        self.dropped_clients = 0
        self._clients_changed = asyncio.Condition()
        self._pending: set[asyncio.Task[None]] = set()

    def subscribe(self, sources: Collection[str] = ()) -> Subscription:
        """A new client's subscription (remove it with ``unsubscribe``)."""
        subscription = Subscription(self.client_queue, sources)
        self.clients.add(subscription)
        log.info("sse.connected", clients=len(self.clients), sources=sorted(sources))
        self._notify()
        return subscription

    async def wait_clients(self, count: int, timeout: float = 10.0) -> None:
        """Return once exactly ``count`` clients are connected.

        Raises:
            TimeoutError: not within ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout), self._clients_changed:
            await self._clients_changed.wait_for(lambda: len(self.clients) == count)

    def _notify(self) -> None:
        async def notify() -> None:
            async with self._clients_changed:
                self._clients_changed.notify_all()

        # publish() and unsubscribe() are synchronous; the waiters are woken from a task.
        task = asyncio.get_running_loop().create_task(notify())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget a client (its handler ended)."""
        if subscription in self.clients:
            self.clients.discard(subscription)
            log.info("sse.disconnected", clients=len(self.clients), reason=subscription.ended)
            self._notify()

    async def publish(self, batch: list[StoredEvent]) -> None:
        """Offer every event to every client; drop clients that are a full queue behind. Never waits."""
        for event in batch:
            self.tracker.feed(event)
            message = format_event(event)
            for client in list(self.clients):
                if client.wants(event) and not client.offer(message):
                    self.dropped_clients += 1
                    self.clients.discard(client)
                    client.end(StreamEnd.DROPPED)
                    self._notify()
                    log.warning("sse.client_dropped", queue=client.limit, dropped_total=self.dropped_clients)
        self.delivered += len(batch)

    def close(self) -> None:
        """End every subscription (server shutdown); handlers then finish their responses."""
        for client in list(self.clients):
            client.end(StreamEnd.CLOSED)
        self.clients.clear()
        self._notify()


__all__ = [
    "DEFAULT_CLIENT_QUEUE",
    "KEEPALIVE_SECONDS",
    "SseSink",
    "StreamEnd",
    "Subscription",
    "SubscriptionEnded",
    "format_event",
]
