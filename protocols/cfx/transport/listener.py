"""The CFX request listener: an AMQP 1.0 node host for any number of CFX handles.

A CFX endpoint hosts its own AMQP 1.0 listener (reference §2.1, §2.4): requesters connect
straight to it, with no broker in between. For each hosted handle the listener accepts the two
links the SDK's requester opens (a sender link whose target is the handle, where requests
arrive, and a receiver link whose target is the requester's reply address, where the reply
goes), decodes the request (gzip or raw), awaits the handler registered for that handle and
replies on the reply link with ``correlation-id`` = the request's message-id, and Source,
Target and RequestID set as the SDK's responder sets them.

Built in, for every hosted handle: ``CFX.AreYouThereRequest``, ``CFX.WhoIsThereRequest`` (the
SDK leaves both to the application, whose answer names the handle and where to reach it; we
answer both the same way, cfx.md §2.6) and ``CFX.GetEndpointInformationRequest``. No handler, or
a handler returning ``None`` → ``CFX.NotSupportedResponse`` with a Failed RequestResult.
Undecodable requests get the same answer; garbage never breaks the listener. A link to a node
address the listener does not host is refused with ``amqp:not-found``.

The listener also takes published events (the SDK's ``AddListener``) on configured node
addresses. A publisher drops an envelope from its spool once we accept the transfer (cfx.md
§2.3), so an event transfer stays **unsettled until the consumer says it is committed**
(:meth:`CFXListener.receive` then :meth:`CFXListener.settle`); what is still unsettled when the
listener closes is released, never accepted. Link credit is granted only as transfers are
settled (:mod:`protocols.cfx.transport.intake`), so a fast publisher is slowed down, never
buffered without bound: :attr:`CFXListener.backlog` never exceeds the intake window.

Threads: none. Each admitted peer gets its own proton engine (:mod:`protocols.cfx.transport.engine`)
driven on the event loop by :mod:`protocols.cfx.transport.engine_io`; one handler serves them all.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import structlog
from proton import Condition, Delivery, Event, Message
from proton.handlers import MessagingHandler

from protocols.cfx.codec import CFXDecodeError, decode_envelopes
from protocols.cfx.enums import StatusResult
from protocols.cfx.envelope import Envelope
from protocols.cfx.messages import (
    AreYouThereRequest,
    AreYouThereResponse,
    CFXMessage,
    Endpoint,
    GetEndpointInformationRequest,
    GetEndpointInformationResponse,
    NotSupportedResponse,
    RequestResult,
    WhoIsThereRequest,
    WhoIsThereResponse,
)
from protocols.cfx.requests import make_response, not_supported_response
from protocols.cfx.transport.amqp10 import body_bytes, content_encoding_of, envelope_message
from protocols.cfx.transport.engine import AMQPEngine
from protocols.cfx.transport.engine_io import EngineStream
from protocols.cfx.transport.intake import DEFAULT_WINDOW, IntakeCredit
from protocols.cfx.transport.security import GATE_LIMITS, SecurityGate, ServerSecurity
from protocols.cfx.transport.wire import decode_payload
from protocols.errors import LocalProtocolError, ProtocolError
from protocols.transport.guard import PeerLimits

__all__ = ["CFXListener", "InboundBatch", "RequestHandler"]

# Seconds the peers get at a stop to read the released transfers and the close frames.
CLOSE_GRACE = 0.5

log = structlog.get_logger("linegate.cfx.listener")

RequestHandler = Callable[[Envelope], Awaitable[Envelope | CFXMessage | None]]
"""An async function answering one request envelope with a response (envelope or body), or None."""

# reference §2.4: the SDK's request processor grants 100 credits.
_REQUEST_CREDIT = 100


@dataclass(frozen=True, slots=True)
class _Inbound:
    """One transfer received, reduced to plain values.

    ``token`` names an event transfer that stays unsettled until the consumer settles it; None
    for a transfer the engine side has settled already (a request).
    """

    connection_id: int
    address: str
    body: bytes | None
    content_encoding: str | None
    message_id: str | None
    reply_to: str | None
    token: int | None = None


@dataclass(frozen=True, slots=True)
class InboundBatch:
    """Envelopes received on event addresses, in arrival order, and the transfers that carried them.

    Settle it with :meth:`CFXListener.settle` once the envelopes are committed (or deliberately
    dropped): only then does the publisher learn that they were accepted.
    """

    envelopes: list[Envelope]
    tokens: tuple[int, ...] = ()

    def __len__(self) -> int:
        return len(self.envelopes)

    def __bool__(self) -> bool:
        return bool(self.envelopes or self.tokens)


@dataclass(slots=True)
class _Hosted:
    handler: RequestHandler | None
    endpoint: Endpoint | None


@dataclass(slots=True)
class _Transfers:
    """One event transfer on the loop side: its token and what it decoded to."""

    token: int
    envelopes: list[Envelope] = field(default_factory=list)


class _EngineSide(MessagingHandler):
    """The proton handler of every connection the listener serves; runs on the loop.

    No automatic credit and no automatic accept: request links get the SDK's 100 credits back as
    requests arrive, event links get what :class:`IntakeCredit` grants, and event transfers are
    settled only when the loop asks (:meth:`settle`).
    """

    def __init__(self, owner: CFXListener, window: int) -> None:
        super().__init__(prefetch=0, auto_accept=False)
        self.owner = owner
        self.handles: frozenset[str] = frozenset()
        self.event_addresses: frozenset[str] = frozenset()
        self.connections: dict[int, Any] = {}
        self.streams: dict[int, EngineStream] = {}
        self.reply_links: dict[tuple[int, str], Any] = {}
        self.credit = IntakeCredit(window)
        self.event_links: dict[int, Any] = {}  # link id -> open event link (a proton receiver)
        self.unsettled: dict[int, Any] = {}  # token -> event delivery not yet settled
        self._ids = itertools.count(1)
        self._link_ids = itertools.count(1)
        self._tokens = itertools.count(1)

    def connection_id(self, connection: Any) -> int:
        cid = getattr(connection, "_linegate_id", None)
        if cid is None:
            cid = next(self._ids)
            connection._linegate_id = cid
            self.connections[cid] = connection
        return int(cid)

    def adopt(self, stream: EngineStream) -> int:
        """Serve ``stream``'s connection; returns its connection id."""
        cid = self.connection_id(stream.engine.connection)
        self.streams[cid] = stream
        return cid

    def _touch(self, connections: Iterable[Any]) -> None:
        # State changed outside these connections' own event dispatch (a settle, a grant, a
        # reply, a close): let their engines send what it means.
        for cid in {getattr(connection, "_linegate_id", None) for connection in connections}:
            stream = self.streams.get(cid) if cid is not None else None
            if stream is not None:
                stream.update_soon()

    def on_link_opening(self, event: Event) -> None:
        link: Any = event.link
        cid = self.connection_id(event.connection)
        remote_target = link.remote_target.address
        remote_source = link.remote_source.address
        # Mirror the peer's terminus addresses, as AMQPNetLite's ContainerHost does.
        link.source.address = remote_source
        link.target.address = remote_target
        if link.is_sender:
            # The requester's receiver link: its target is the reply address (reference §2.4).
            if remote_target:
                self.reply_links[(cid, remote_target)] = link
            return
        if remote_target in self.event_addresses:
            link._linegate_events = next(self._link_ids)
        elif remote_target in self.handles:
            link._linegate_events = None
        else:
            # proton opens the link right after this callback; refuse it once it is open.
            link._linegate_refusal = Condition("amqp:not-found", f"no CFX node at address {remote_target!r}")

    def on_link_opened(self, event: Event) -> None:
        link: Any = event.link
        if link.is_sender:
            return
        refusal = getattr(link, "_linegate_refusal", None)
        if refusal is not None:
            link.condition = refusal
            link.close()
            return
        lid = getattr(link, "_linegate_events", None)
        if lid is None:
            link.flow(_REQUEST_CREDIT)
            return
        self.event_links[lid] = link
        self._touch(self._grant(self.credit.opened(lid)))

    def on_link_closed(self, event: Event) -> None:
        self._forget_link(event.link, event.connection)

    def on_link_closing(self, event: Event) -> None:
        self._forget_link(event.link, event.connection)

    def on_link_error(self, event: Event) -> None:
        self._forget_link(event.link, event.connection)
        super().on_link_error(event)

    def _forget_link(self, link: Any, connection: Any) -> None:
        if link is None:
            return
        cid = getattr(connection, "_linegate_id", None)
        if link.is_sender:
            if cid is not None:
                self.reply_links.pop((int(cid), link.remote_target.address or ""), None)
            return
        lid = getattr(link, "_linegate_events", None)
        if lid is not None and self.event_links.pop(lid, None) is not None:
            self._touch(self._grant(self.credit.closed(lid)))

    def on_connection_closing(self, event: Event) -> None:
        self.forget_connection(event.connection)

    def on_connection_closed(self, event: Event) -> None:
        self.forget_connection(event.connection)

    def on_disconnected(self, event: Event) -> None:
        self.forget_connection(event.connection)

    def forget_connection(self, connection: Any) -> None:
        cid = getattr(connection, "_linegate_id", None)
        if cid is None:
            return
        self.connections.pop(cid, None)
        self.streams.pop(cid, None)
        for key in [key for key in self.reply_links if key[0] == cid]:
            del self.reply_links[key]
        for lid, link in list(self.event_links.items()):
            if getattr(link.connection, "_linegate_id", None) == cid:
                del self.event_links[lid]
                self._touch(self._grant(self.credit.closed(lid)))

    def on_message(self, event: Event) -> None:
        message: Any = event.message
        link: Any = event.link
        delivery: Any = event.delivery
        lid = getattr(link, "_linegate_events", None)
        token = None
        if lid is not None:
            token = next(self._tokens)
            self.unsettled[token] = delivery
            self.credit.received(lid)
        elif not message.reply_to:
            # A request node takes requests only: without reply-to there is nowhere to answer.
            delivery.local.condition = Condition("amqp:precondition-failed", "a CFX request needs reply-to")
            delivery.update(Delivery.REJECTED)
            delivery.settle()
            link.flow(1)
            return
        else:
            # A request is answered, not stored: accepted on arrival, as the SDK's processor does.
            delivery.update(Delivery.ACCEPTED)
            delivery.settle()
            link.flow(1)
        cid = self.connection_id(event.connection)
        reply_to = message.reply_to or None
        if token is not None and (cid, reply_to or "") not in self.reply_links:
            # An event's reply-to names its source (reference §2.2); a request's names the link
            # its requester attached for the answer. Only the latter is answered.
            reply_to = None
        inbound = _Inbound(
            connection_id=cid,
            address=link.target.address or "",
            body=body_bytes(message),
            content_encoding=content_encoding_of(message),
            message_id=None if message.id is None else str(message.id),
            reply_to=reply_to,
            token=token,
        )
        self.owner._received(inbound)

    def settle_transfers(self, tokens: Sequence[int], outcome: Any = Delivery.ACCEPTED) -> None:
        """Settle these event transfers with ``outcome`` and give their credit back."""
        settled = 0
        touched: list[Any] = []
        for token in tokens:
            delivery = self.unsettled.pop(token, None)
            if delivery is None:
                continue
            settled += 1
            # A transfer whose link or connection is gone settles nothing on the wire: its
            # publisher never heard "accepted" and sends it again (cfx.md §2.3).
            delivery.update(outcome)
            delivery.settle()
            touched.append(delivery.link.connection)
        touched += self._grant(self.credit.settled(settled))
        self._touch(touched)

    def _grant(self, grants: Mapping[int, int]) -> list[Any]:
        """Give event links credit; returns the connections whose engines have news to send."""
        touched: list[Any] = []
        for lid, credit in grants.items():
            link = self.event_links.get(lid)
            if link is not None:
                link.flow(credit)
                touched.append(link.connection)
        return touched

    def send_reply(self, connection_id: int, reply_to: str | None, message: Message) -> bool:
        link = self.reply_links.get((connection_id, reply_to or ""))
        if link is None:
            # Fall back to the only sender link on that connection (a lenient peer's reply link).
            senders = [lk for (cid, _), lk in self.reply_links.items() if cid == connection_id]
            link = senders[0] if len(senders) == 1 else None
        if link is None:
            return False
        link.send(message)
        self._touch((link.connection,))
        return True

    def close_all(self) -> None:
        # What was received and not committed goes back to its publisher, never accepted.
        self.settle_transfers(list(self.unsettled), Delivery.RELEASED)
        connections = list(self.connections.values())
        for connection in connections:
            connection.close()
        self._touch(connections)
        self.connections.clear()
        self.streams.clear()
        self.reply_links.clear()
        self.event_links.clear()


class CFXListener:
    """Hosts CFX handles on an AMQP 1.0 listener and answers their requests.

    Args:
        host: the interface to bind (``0.0.0.0`` for all, ``127.0.0.1`` for loopback).
        port: the TCP port; 0 picks a free one (see :attr:`port` after entering).
        advertised_uri: the ``RequestNetworkUri`` put in AreYouThere/GetEndpointInformation
            responses; defaults to ``amqp[s]://<host>:<port>``.
        event_addresses: node addresses where other endpoints may publish events to us.
        security: TLS and SASL PLAIN settings; with credentials, unauthenticated peers are refused.
        limits: what the listener tolerates from peers (connection cap, handshake deadline,
            bounded writes); a peer past them is dropped and logged (``peer.dropped``).
        intake_window: event transfers held unsettled at most, across all event links (the
            credit window, see :mod:`protocols.cfx.transport.intake`).

    Register handles with :meth:`add_handle`, before or after entering ``async with``.
    :meth:`receive` returns the events published to ``event_addresses``, and :meth:`settle`
    accepts them once they are safe. ``async for envelope in listener`` reads them one by one
    and settles each transfer when the next envelope is asked for.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        advertised_uri: str | None = None,
        event_addresses: Iterable[str] = (),
        security: ServerSecurity | None = None,
        limits: PeerLimits = GATE_LIMITS,
        intake_window: int = DEFAULT_WINDOW,
    ) -> None:
        self.host = host
        self.limits = limits
        self.port = port
        self.security = security or ServerSecurity()
        self._advertised_uri = advertised_uri
        self._event_addresses = frozenset(event_addresses)
        self._hosted: dict[str, _Hosted] = {}
        self._side = _EngineSide(self, intake_window)
        self._entered = False
        self._gate: SecurityGate | None = None
        self._events: collections.deque[_Transfers] = collections.deque()
        self._arrived = asyncio.Event()
        self._unread: collections.deque[Envelope] = collections.deque()
        self._handed_out: InboundBatch | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.malformed_count = 0
        self.requests_answered = 0

    @property
    def uri(self) -> str:
        """The request URI peers should use (``RequestNetworkUri``)."""
        if self._advertised_uri:
            return self._advertised_uri
        scheme = "amqps" if self.security.tls is not None else "amqp"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def handles(self) -> Mapping[str, RequestHandler | None]:
        """The hosted CFX handles and their handlers."""
        return {handle: hosted.handler for handle, hosted in self._hosted.items()}

    def add_handle(
        self, handle: str, handler: RequestHandler | None = None, *, endpoint: Endpoint | None = None
    ) -> None:
        """Host ``handle`` as a node address, answering its requests with ``handler``.

        Args:
            handle: the CFX handle (reference §2.5), also the node address.
            handler: answers requests other than AreYouThere/GetEndpointInformation.
            endpoint: what GetEndpointInformationRequest returns; a minimal one by default.
        """
        if not handle:
            # reference §4: the SDK's request processor needs a non-empty handle.
            raise LocalProtocolError("a CFX handle must not be empty")
        self._hosted[handle] = _Hosted(handler, endpoint)
        self._sync_addresses()

    def remove_handle(self, handle: str) -> None:
        """Stop hosting ``handle``; new links to it are refused."""
        self._hosted.pop(handle, None)
        self._sync_addresses()

    @property
    def backlog(self) -> int:
        """Event transfers received and not yet settled (at most the intake window)."""
        return self._side.credit.backlog

    def _sync_addresses(self) -> None:
        handles = frozenset(self._hosted)
        self._side.event_addresses = self._event_addresses
        self._side.handles = handles

    async def __aenter__(self) -> Self:
        if self._entered:
            raise LocalProtocolError("CFXListener is not reentrant")
        self._entered = True
        self._sync_addresses()
        # Every peer comes in through the asyncio gate, which enforces the peer limits and
        # terminates TLS and SASL PLAIN when configured; the engine gets the admitted stream.
        self._gate = SecurityGate(self.security, self._serve_peer, limits=self.limits)
        try:
            self.port = await self._gate.start(self.host, self.port)
        except BaseException:
            await self.aclose()
            raise
        self._gate.guard.server = f"cfx-listener[{self.host}:{self.port}]"
        log.info("listen.complete", uri=self.uri, handles=sorted(self._hosted))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every connection and the listening socket; a pending ``async for`` ends."""
        if self._closed:
            return
        self._closed = True
        # What is still queued is released to its publisher by close_all, below: not ours.
        self._events.clear()
        self._unread.clear()
        self._arrived.set()
        if self._gate is not None:
            self._gate.stop_listening()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # Every unsettled transfer is released and every connection closed; the peers get
        # those last frames before the gate cuts them.
        self._side.close_all()
        if self._gate is not None:
            await self._gate.aclose(grace=CLOSE_GRACE)

    async def receive(self, limit: int = 256) -> InboundBatch:
        """Wait for events and return those received so far, whole transfers, about ``limit``
        envelopes at most (at least one transfer).

        Returns:
            The batch, to be passed to :meth:`settle` once it is committed; an empty batch once
            the listener is closed.
        """
        while not self._events:
            if self._closed:
                return InboundBatch([])
            self._arrived.clear()
            await self._arrived.wait()
        envelopes: list[Envelope] = []
        tokens: list[int] = []
        while self._events and (not tokens or len(envelopes) + len(self._events[0].envelopes) <= limit):
            transfer = self._events.popleft()
            envelopes += transfer.envelopes
            tokens.append(transfer.token)
        return InboundBatch(envelopes, tuple(tokens))

    def settle(self, batch: InboundBatch) -> None:
        """Accept the transfers of ``batch``: their publisher may now forget them; their credit
        goes back to the event links. Call it only once the envelopes are committed."""
        self._settle(batch.tokens)

    def _settle(self, tokens: Sequence[int]) -> None:
        if not tokens or self._closed:
            return  # stopped: close_all released them, and the publisher sends them again
        self._side.settle_transfers(tokens)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Envelope:
        # One by one, as the broker subscriber does: asking for the next envelope settles the
        # transfer of the ones handed out before.
        if not self._unread:
            if self._handed_out is not None:
                self.settle(self._handed_out)
                self._handed_out = None
            batch = await self.receive(1)
            if not batch.envelopes and not batch.tokens:
                raise StopAsyncIteration
            self._handed_out = batch
            self._unread.extend(batch.envelopes)
            if not self._unread:
                return await self.__anext__()  # a transfer that held no envelope
        return self._unread.popleft()

    # --- inbound, on the loop --------------------------------------------------------------

    async def _serve_peer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one admitted peer (its SASL and TLS done by the gate) until it goes."""
        if self._closed:
            return
        engine = AMQPEngine(self._side)
        connection: Any = engine.connection
        # AMQP 1.0 part 2.7.1: container-id is mandatory in our Open too.
        connection.container = f"linegate-listener-{uuid.uuid4()}"
        side = self._side
        stream = EngineStream(engine, reader, writer, on_closed=lambda: side.forget_connection(connection))
        side.adopt(stream)
        engine.skip_header()  # the gate read the peer's AMQP header
        await stream.run()

    def _received(self, inbound: _Inbound) -> None:
        if self._closed:
            return  # an event transfer among these is released by close_all
        request = inbound.address in self._hosted and inbound.reply_to
        if inbound.token is not None and not request:
            self._accept_events(inbound, inbound.token)
        elif request:
            if inbound.token is not None:
                self._settle((inbound.token,))  # a request on an address that also takes events
            task = asyncio.create_task(self._answer(inbound), name=f"cfx-listener[{inbound.address}].request")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            # The handle was removed after its link opened: nobody here answers for it.
            log.warning("message.unroutable", address=inbound.address)

    def _decode(self, inbound: _Inbound) -> list[Envelope]:
        if inbound.body is None:
            # reference §2.2: the SDK only accepts a binary Data section.
            raise CFXDecodeError("AMQP body is not a Data section or string")
        try:
            return decode_envelopes(decode_payload(inbound.body, inbound.content_encoding), keep_data=True)
        except ProtocolError:
            raise
        except Exception as exc:  # a decoder bug must not break the listener either
            log.exception("message.decoder_failed", address=inbound.address)
            raise CFXDecodeError(f"decoder failed: {exc!r}") from exc

    def _accept_events(self, inbound: _Inbound, token: int) -> None:
        try:
            envelopes = self._decode(inbound)
        except ProtocolError as exc:
            self.malformed_count += 1
            log.warning("message.malformed", address=inbound.address, error=str(exc))
            # cfx.md §2.3: the SDK accepts malformed deliveries too; a publisher that retried
            # one forever would never get past it.
            self._settle((token,))
            return
        self._events.append(_Transfers(token, envelopes))
        self._arrived.set()

    async def _answer(self, inbound: _Inbound) -> None:
        handle = inbound.address
        try:
            envelopes = self._decode(inbound)
            if len(envelopes) != 1:
                raise CFXDecodeError(f"a request carries one envelope, got {len(envelopes)}")
            request = envelopes[0]
        except ProtocolError as exc:
            self.malformed_count += 1
            log.warning("request.malformed", handle=handle, error=str(exc))
            response = Envelope.create(
                NotSupportedResponse(
                    request_result=RequestResult(
                        result=StatusResult.FAILED, message=f"Malformed request: {exc}"
                    )
                ),
                source=handle,
            )
        else:
            response = await self._respond(handle, request)
        message = envelope_message(response, compress=False)  # reference §2.2: replies are raw
        fields: Any = message
        fields.correlation_id = inbound.message_id
        fields.address = inbound.reply_to  # the AMQP 'to' field
        if not self._side.send_reply(inbound.connection_id, inbound.reply_to, message):
            log.warning("reply.no_link", handle=handle, reply_to=inbound.reply_to)
        self.requests_answered += 1

    async def _respond(self, handle: str, request: Envelope) -> Envelope:
        hosted = self._hosted.get(handle)
        body = request.body
        if isinstance(body, AreYouThereRequest):
            return make_response(
                request,
                AreYouThereResponse(
                    result=RequestResult(),
                    cfx_handle=handle,
                    request_network_uri=self.uri,
                    request_target_address=handle,
                ),
                responder=handle,
            )
        if isinstance(body, WhoIsThereRequest):
            # The SDK's example endpoint and test listener answer it with who they are and where
            # to reach them, whatever topics were asked for (cfx.md §2.6).
            return make_response(
                request,
                WhoIsThereResponse(
                    result=RequestResult(),
                    cfx_handle=handle,
                    request_network_uri=self.uri,
                    request_target_address=handle,
                ),
                responder=handle,
            )
        if isinstance(body, GetEndpointInformationRequest):
            endpoint = (hosted.endpoint if hosted else None) or Endpoint(
                cfx_handle=handle, request_network_uri=self.uri, request_target_address=handle
            )
            return make_response(
                request,
                GetEndpointInformationResponse(result=RequestResult(), endpoint_information=endpoint),
                responder=handle,
            )
        if hosted is None or hosted.handler is None:
            return not_supported_response(request, responder=handle)
        try:
            with structlog.contextvars.bound_contextvars(request_id=request.request_id, handle=handle):
                answer = await hosted.handler(request)
        except Exception as exc:
            log.exception("request.handler_failed", handle=handle, message=request.message_name)
            return not_supported_response(request, responder=handle, message=f"Request failed: {exc}")
        if answer is None:
            return not_supported_response(request, responder=handle)
        body_out = answer.body if isinstance(answer, Envelope) else answer
        if not isinstance(body_out, CFXMessage):
            return not_supported_response(
                request, responder=handle, message="Handler returned no CFX message"
            )
        return make_response(request, body_out, responder=handle)
