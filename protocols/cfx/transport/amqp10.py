"""The AMQP 1.0 message layout of CFX envelopes (reference §2.2), for python-qpid-proton.

Events: one Data section holding the UTF-8 JSON (gzipped when asked), durable, message-id =
UniqueID, subject ``"<handle>.<MessageName>"``, the CFX content type, creation-time = TimeStamp
and the ``cfx-topic``/``cfx-message``/``cfx-handle``/``cfx-target`` application properties.
Point-to-point requests use the requester's variant of §2.4: message-id ``command-request``,
reply-to = the reply address, and a single ``offset`` application property instead.

The ``Message`` objects built here go to proton's engine on the event loop (no other thread).
"""

from __future__ import annotations

from typing import Any

from proton import Message

from protocols.cfx.codec import encode_envelope
from protocols.cfx.envelope import Envelope
from protocols.cfx.transport.wire import (
    CONTENT_TYPE,
    REQUEST_MESSAGE_ID,
    application_properties,
    encode_payload,
    routing_key,
)

__all__ = ["body_bytes", "content_encoding_of", "envelope_message", "request_message"]


def envelope_message(envelope: Envelope, *, compress: bool, subject: str | None = None) -> Message:
    """Build the AMQP 1.0 message the SDK's ``MessageFromEnvelope`` builds for ``envelope``.

    Args:
        envelope: the envelope to send.
        compress: gzip the body and set content-encoding ``gzip``.
        subject: overrides the default ``"<Source>.<MessageName>"`` subject.
    """
    payload, encoding = encode_payload(encode_envelope(envelope), compress=compress)
    source = envelope.source or ""
    # Message(body=bytes, inferred=True) sends the bytes as one Data section (reference §2.2):
    # the SDK rejects AmqpValue bodies as malformed.
    message = Message(body=payload, inferred=True)
    fields: Any = message  # proton's stubs type several settable fields as read-only None
    fields.durable = True  # reference §2.2: DurableMessages defaults to true
    fields.id = str(envelope.unique_id)
    fields.address = envelope.target  # the AMQP 'to' field
    fields.reply_to = envelope.source
    fields.correlation_id = envelope.request_id
    fields.subject = subject if subject is not None else routing_key(source, envelope.message_name)
    fields.content_type = CONTENT_TYPE
    if encoding is not None:
        fields.content_encoding = encoding
    fields.creation_time = envelope.time_stamp.timestamp()
    fields.properties = application_properties(
        message_name=envelope.message_name, source=envelope.source, target=envelope.target
    )
    return message


def request_message(envelope: Envelope, *, reply_to: str, compress: bool = True) -> Message:
    """Build a point-to-point request as the SDK's ``ExecuteRequest`` does (reference §2.4).

    Args:
        envelope: the request; its Target is the responder's handle.
        reply_to: the reply address (``"<handle>-<guid>"``), also the sender link's name.
        compress: gzip the body (the SDK's default codec).
    """
    message = envelope_message(envelope, compress=compress)
    fields: Any = message
    fields.id = REQUEST_MESSAGE_ID
    fields.reply_to = reply_to
    # reference §2.2: a P2P request replaces the cfx-* application properties with offset = 1.
    fields.properties = {"offset": 1}
    return message


def body_bytes(message: Message) -> bytes | None:
    """The body of a received message as bytes, or None when it is neither binary nor text.

    A Data section arrives as bytes (or a memoryview); an AmqpValue string is accepted as its
    UTF-8 bytes, leniently, although the SDK itself would report it as malformed.
    """
    body = message.body
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    return None


def content_encoding_of(message: Message) -> str | None:
    """The content-encoding of a received message, or None when absent.

    proton 0.40 returns ``symbol(None)``, i.e. the string ``"None"``, for an absent field.
    """
    value: object = message.content_encoding
    return None if not value or value == "None" else str(value)
