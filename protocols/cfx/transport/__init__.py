"""CFX over AMQP: the asyncio transports of the CFX codec.

- :class:`CFXPublisher` / :class:`CFXSubscriber`: RabbitMQ topic exchange over AMQP 0-9-1.
- :class:`CFXListener` / :class:`CFXRequester`: point-to-point requests over AMQP 1.0.
- :class:`AMQP10Publisher`: AMQP 1.0 publishing to a broker node or another endpoint's listener.
- :class:`Presence`: EndpointConnected, Heartbeat and EndpointShuttingDown.

This is the only place under ``protocols/cfx`` where asyncio may appear. AMQP 1.0 runs on
python-qpid-proton's engine, sans-IO (:mod:`protocols.cfx.transport.engine`), driven from the
event loop (:mod:`protocols.cfx.transport.engine_io`): no reactor, no thread.
"""

from __future__ import annotations

from protocols.backoff import Backoff
from protocols.cfx.transport.amqp10_publisher import AMQP10Publisher, DeliveryRefused
from protocols.cfx.transport.engine import AMQPEngine
from protocols.cfx.transport.engine_io import EngineStream
from protocols.cfx.transport.intake import DEFAULT_WINDOW, IntakeCredit
from protocols.cfx.transport.listener import CFXListener, InboundBatch, RequestHandler
from protocols.cfx.transport.presence import HeartbeatStatus, Presence
from protocols.cfx.transport.publisher import (
    CFXPublisher,
    EncodedMessage,
    PublisherClosed,
    PublishError,
    PublishReturned,
)
from protocols.cfx.transport.requester import CFXRequester, request
from protocols.cfx.transport.security import ServerSecurity, TLSFiles
from protocols.cfx.transport.subscriber import CFXSubscriber, MalformedMessage
from protocols.cfx.transport.wire import ADDRESS_V1, ADDRESS_V2, AddressFormat, MalformedPayload

__all__ = [
    "ADDRESS_V1",
    "ADDRESS_V2",
    "DEFAULT_WINDOW",
    "AMQP10Publisher",
    "AMQPEngine",
    "AddressFormat",
    "Backoff",
    "CFXListener",
    "CFXPublisher",
    "CFXRequester",
    "CFXSubscriber",
    "DeliveryRefused",
    "EncodedMessage",
    "EngineStream",
    "HeartbeatStatus",
    "InboundBatch",
    "IntakeCredit",
    "MalformedMessage",
    "MalformedPayload",
    "Presence",
    "PublishError",
    "PublishReturned",
    "PublisherClosed",
    "RequestHandler",
    "ServerSecurity",
    "TLSFiles",
    "request",
]


def __getattr__(name: str) -> object:
    # RawMessage was this module's name for an encoded AMQP message, and protocols.cfx's for an
    # unmodelled CFX body: one name, two meanings (issue 19). Kept for one release.
    if name == "RawMessage":
        import warnings

        warnings.warn(
            "protocols.cfx.transport.RawMessage is now EncodedMessage (RawMessage is the CFX body type)",
            DeprecationWarning,
            stacklevel=2,
        )
        return EncodedMessage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
