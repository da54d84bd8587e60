"""Byte-level facts of CFX over AMQP, shared by the 0-9-1 and 1.0 transports.

Everything here is a pure function or a constant: routing keys and subjects, the content type,
gzip framing, the application properties of reference §2.2, and RabbitMQ's AMQP 1.0 address
formats (v1 on RabbitMQ 3.x, v2 on 4.x; reference §6.2).
"""

from __future__ import annotations

import gzip
import uuid
from dataclasses import dataclass
from typing import Final

from protocols.cfx.codec import CFXDecodeError, gunzip, is_gzip
from protocols.errors import RemoteProtocolError

__all__ = [
    "ADDRESS_V1",
    "ADDRESS_V2",
    "CONTENT_TYPE",
    "GZIP",
    "REQUEST_MESSAGE_ID",
    "AddressFormat",
    "MalformedPayload",
    "application_properties",
    "cfx_topic",
    "decode_payload",
    "encode_payload",
    "is_gzip",
    "redact_url",
    "reply_address",
    "routing_key",
]

# reference §2.2: properties.content-type of every CFX message the SDK sends.
CONTENT_TYPE: Final = 'application/json; charset="utf-8"'
# reference §2.2: content-encoding when the gzip codec is used; absent for raw.
GZIP: Final = "gzip"
# reference §2.2 / §2.4: the SDK's requester uses this literal message-id for every request.
REQUEST_MESSAGE_ID: Final = "command-request"


class MalformedPayload(RemoteProtocolError):
    """A message body that cannot be turned into JSON bytes (bad gzip, too large)."""


def routing_key(source: str, message_name: str) -> str:
    """The topic routing key and default AMQP 1.0 subject: ``"<Source handle>.<MessageName>"``.

    reference §2.2: the SDK's default SubjectFormat is ``${cfx-handle}.${cfx-messagename}``.
    """
    return f"{source}.{message_name}"


def cfx_topic(message_name: str) -> str:
    """The ``cfx-topic`` of a message: its namespace (``CFX.ResourcePerformance`` for
    ``CFX.ResourcePerformance.FaultOccurred``; ``CFX`` for ``CFX.Heartbeat``)."""
    namespace, _, _ = message_name.rpartition(".")
    return namespace or message_name


def application_properties(
    *, message_name: str, source: str | None, target: str | None
) -> dict[str, str | None]:
    """The AMQP 1.0 application properties the SDK sets on published envelopes (reference §2.2)."""
    return {
        "cfx-topic": cfx_topic(message_name),
        "cfx-message": message_name,
        "cfx-handle": source,
        "cfx-target": target,
    }


def reply_address(handle: str) -> str:
    """A fresh P2P reply address, ``"<handle>-<guid>"``, as the SDK's requester makes (reference §2.4)."""
    return f"{handle}-{uuid.uuid4()}"


#: The AMQP 0-9-1 heartbeat (seconds) asked for when a broker URL names none. aiormq's own
#: default is RabbitMQ's 60 s, and it drops a silent link only after three intervals plus a
#: few seconds: a client on a frozen or partitioned node would sit there for three minutes.
DEFAULT_HEARTBEAT = 10


def with_heartbeat(url: str, seconds: int = DEFAULT_HEARTBEAT) -> str:
    """``url`` asking for an AMQP heartbeat of ``seconds`` unless its query names one already
    (``?heartbeat=0`` keeps heartbeats off, as the user asked)."""
    base, hash_, fragment = url.partition("#")
    path, _, query = base.partition("?")
    if any(item.partition("=")[0] == "heartbeat" for item in query.split("&")):
        return url
    joined = f"{query}&heartbeat={seconds}" if query else f"heartbeat={seconds}"
    return f"{path}?{joined}{hash_}{fragment}"


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, for logs and error messages."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"


def encode_payload(data: bytes, *, compress: bool) -> tuple[bytes, str | None]:
    """Return ``(body, content_encoding)`` for JSON ``data``, gzipped when ``compress``.

    The gzip header carries mtime 0, so equal input gives equal bytes.
    """
    if not compress:
        return data, None
    return gzip.compress(data, compresslevel=6, mtime=0), GZIP


def decode_payload(body: bytes, content_encoding: str | None) -> bytes:
    """Return the JSON bytes of a message body, gunzipping when ``content_encoding`` is gzip.

    Raises:
        MalformedPayload: gzip-flagged but not gzip, or larger than ``MAX_INFLATED_SIZE`` inflated.
    """
    if not is_gzip(content_encoding):
        return body
    try:
        return gunzip(body)
    except CFXDecodeError as exc:
        raise MalformedPayload(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class AddressFormat:
    """How a broker spells AMQP 1.0 node addresses for exchanges and queues.

    Args:
        exchange: format with ``{exchange}`` and ``{routing_key}``.
        queue: format with ``{queue}``.
    """

    exchange: str
    queue: str

    def exchange_address(self, exchange: str, routing_key: str) -> str:
        """The target address that publishes to ``exchange`` with ``routing_key``."""
        return self.exchange.format(exchange=exchange, routing_key=routing_key)

    def queue_address(self, queue: str) -> str:
        """The source address that consumes from ``queue``."""
        return self.queue.format(queue=queue)


# RabbitMQ 3.x AMQP 1.0 plugin (reference §2.1, §6.1): /exchange/X/RK and /queue/Q.
ADDRESS_V1: Final = AddressFormat(exchange="/exchange/{exchange}/{routing_key}", queue="/queue/{queue}")
# RabbitMQ 4.x native AMQP 1.0 (reference §6.2): /exchanges/X/RK and /queues/Q.
ADDRESS_V2: Final = AddressFormat(exchange="/exchanges/{exchange}/{routing_key}", queue="/queues/{queue}")
