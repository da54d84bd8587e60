"""AMQP 0-9-1 ``basic.publish`` frames as bytes, so a batch of messages is one socket write.

Sans-IO: :class:`PublishFramer` turns (routing key, message-id, timestamp, body) into the three
frame kinds of one publish (AMQP 0-9-1 §2.3.5 and §4.2.6): the method frame (class 60
``basic``, method 40 ``publish``), the content header with the basic properties linegate sets,
and the body split to the negotiated ``frame_max``. The bytes equal what pamqp marshals for the
same frames (tests/protocols/cfx_transport/test_framing.py checks it); building them here costs a
few ``struct.pack`` calls per message instead of pamqp's per-property encoding.
"""

from __future__ import annotations

import struct

from protocols.errors import LocalProtocolError

__all__ = ["PublishFramer"]

# AMQP 0-9-1 §4.2.3: type octet, channel short, size long, payload, frame-end octet 0xCE.
_FRAME_HEADER = struct.Struct(">BHI")
_FRAME_END = b"\xce"
_FRAME_OVERHEAD = _FRAME_HEADER.size + len(_FRAME_END)
_METHOD, _HEADER, _BODY = 1, 2, 3
_BASIC_CLASS, _PUBLISH_METHOD = 60, 40
# Content header: class-id, weight (always 0), body size (longlong), property flags.
_CONTENT_HEADER = struct.Struct(">HHQH")
_TIMESTAMP = struct.Struct(">Q")
# Basic property flag bits, highest first in the order the values follow (§4.2.6.1, the
# ``basic`` class's property list in the 0-9-1 XML spec).
_CONTENT_TYPE = 0x8000
_CONTENT_ENCODING = 0x4000
_DELIVERY_MODE = 0x1000
_MESSAGE_ID = 0x0080
_TIMESTAMP_FLAG = 0x0040
_PERSISTENT = 2
# A cache of method frames per routing key; a line has a few handles times a few dozen message
# names, so this bound is only a guard against a caller that makes up keys.
_MAX_CACHED_KEYS = 4096


def _short_string(value: str, what: str) -> bytes:
    raw = value.encode()
    if len(raw) > 255:  # AMQP shortstr: one length octet
        raise LocalProtocolError(f"{what} is {len(raw)} bytes; AMQP allows at most 255: {value[:60]!r}...")
    return bytes((len(raw),)) + raw


class PublishFramer:
    """Encodes persistent ``basic.publish`` messages for one channel of one connection.

    Args:
        channel: the channel number the frames are sent on.
        frame_max: the negotiated largest frame, in bytes (0: no limit).
        exchange: the exchange every message goes to.
        content_type: the ``content-type`` property of every message.
        content_encoding: the ``content-encoding`` property, or None to leave it out.
        mandatory: ask the broker to return messages no queue takes (``basic.return``).
    """

    def __init__(
        self,
        channel: int,
        frame_max: int,
        *,
        exchange: str,
        content_type: str,
        content_encoding: str | None = None,
        mandatory: bool = False,
    ) -> None:
        if frame_max and frame_max <= _FRAME_OVERHEAD:
            raise LocalProtocolError(f"frame_max {frame_max} leaves no room for a body")
        self.channel = channel
        self._body_max = frame_max - _FRAME_OVERHEAD if frame_max else 0
        self._exchange = _short_string(exchange, "exchange name")
        self._mandatory = b"\x01" if mandatory else b"\x00"
        self._flags = _CONTENT_TYPE | _DELIVERY_MODE | _MESSAGE_ID
        fixed = _short_string(content_type, "content type")
        if content_encoding is not None:
            self._flags |= _CONTENT_ENCODING
            fixed += _short_string(content_encoding, "content encoding")
        self._fixed_properties = fixed + bytes((_PERSISTENT,))
        self._methods: dict[str, bytes] = {}

    def encode(self, routing_key: str, message_id: str, timestamp: int | None, body: bytes) -> bytes:
        """The frames of one publish: method, content header, body frames.

        Args:
            routing_key: the topic routing key.
            message_id: the ``message-id`` property.
            timestamp: the ``timestamp`` property in whole seconds since the epoch, or None.
            body: the message body.

        Raises:
            LocalProtocolError: the routing key or message-id is longer than 255 bytes.
        """
        method = self._methods.get(routing_key)
        if method is None:
            method = self._method_frame(routing_key)
        flags = self._flags
        properties = self._fixed_properties + _short_string(message_id, "message-id")
        if timestamp is not None:
            flags |= _TIMESTAMP_FLAG
            properties += _TIMESTAMP.pack(timestamp)
        header = _CONTENT_HEADER.pack(_BASIC_CLASS, 0, len(body), flags) + properties
        parts = [method, _FRAME_HEADER.pack(_HEADER, self.channel, len(header)), header, _FRAME_END]
        step = self._body_max or len(body)
        for start in range(0, len(body), step or 1):
            chunk = body[start : start + step]
            parts += (_FRAME_HEADER.pack(_BODY, self.channel, len(chunk)), chunk, _FRAME_END)
        return b"".join(parts)

    def _method_frame(self, routing_key: str) -> bytes:
        # reserved-1 (short 0), exchange, routing-key, then the bits mandatory and immediate.
        payload = (
            struct.pack(">HHH", _BASIC_CLASS, _PUBLISH_METHOD, 0)
            + self._exchange
            + _short_string(routing_key, "routing key")
            + self._mandatory
        )
        frame = _FRAME_HEADER.pack(_METHOD, self.channel, len(payload)) + payload + _FRAME_END
        if len(self._methods) >= _MAX_CACHED_KEYS:
            self._methods.clear()
        self._methods[routing_key] = frame
        return frame
