"""IPC-CFX (IPC-2591) for linegate: envelope, message models, the SDK-exact codec, validator, requests.

Sans-IO: nothing here touches a socket or a clock beyond ``datetime.now()`` for new envelopes.
The AMQP transport lives in ``protocols.cfx.transport``.
"""

from __future__ import annotations

from protocols.cfx.codec import (
    CFXDecodeError,
    decode_envelope,
    decode_envelopes,
    encode_body,
    encode_envelope,
    encode_envelopes,
)
from protocols.cfx.envelope import CFX_VERSION, Envelope, RawMessage
from protocols.cfx.messages import *  # noqa: F403  (the whole catalogue, listed in messages.__all__)
from protocols.cfx.messages import __all__ as _messages_all
from protocols.cfx.requests import (
    is_request,
    make_response,
    new_request,
    not_supported_response,
    response_type_for,
)
from protocols.cfx.validate import Problem, validate_bytes, validate_envelope, validate_json

__all__ = [
    "CFX_VERSION",
    "CFXDecodeError",
    "Envelope",
    "Problem",
    "RawMessage",
    "decode_envelope",
    "decode_envelopes",
    "encode_body",
    "encode_envelope",
    "encode_envelopes",
    "is_request",
    "make_response",
    "new_request",
    "not_supported_response",
    "response_type_for",
    "validate_bytes",
    "validate_envelope",
    "validate_json",
    *_messages_all,
]
