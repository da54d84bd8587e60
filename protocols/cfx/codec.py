"""Encode envelopes exactly as the CFX SDK (Newtonsoft.Json) writes them; decode them leniently.

Writing (cfx.md §1.1-§1.3): keys in the SDK's order (MessageName, Version, TimeStamp, UniqueID,
Source, Target, RequestID, MessageBody), unindented UTF-8 without BOM, nulls written, ``$type``
first in the body and in tagged polymorphic values, enums as the SDK writes them, lowercase GUIDs,
DateTime and TimeSpan in Newtonsoft's forms (see ``timefmt``), ``byte[]`` as base64.

Reading takes two paths. The fast path is msgspec's typed decoder, which accepts only canonical
input (exact casing, known members). Whatever it refuses is parsed again with orjson and built by
``lenient``, which accepts everything the SDK's reader accepts. Either path yields equal models.
"""

from __future__ import annotations

import uuid
import zlib
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any, Union

import msgspec
import orjson

from native.cfx_time import DecodeHook
from protocols.cfx.envelope import CFX_VERSION, Envelope, RawMessage
from protocols.cfx.lenient import LenientError, build_envelope
from protocols.cfx.messages.base import (
    MESSAGE_TYPES,
    STRUCTURE_TYPES,
    CFXMessage,
    UnknownStructure,
    build_polymorphic,
    needs_hook,
    reaches,
    sdk_form,
    wire_name,
)
from protocols.cfx.timefmt import TimeSpan, Timestamp, writable_time
from protocols.errors import LocalProtocolError, RemoteProtocolError

#: The most a gzip body may inflate to (reference §5: 20-30 MB messages exist).
MAX_INFLATED_SIZE = 64 * 1024 * 1024


class CFXDecodeError(RemoteProtocolError):
    """Bytes that are not a CFX envelope the SDK would accept.

    Attributes:
        path: JSON path of the offending value (``$`` for the whole document).
    """

    def __init__(self, message: str, *, path: str = "$") -> None:
        super().__init__(message)
        self.path = path


def _enc_hook(obj: Any) -> Any:
    kind = type(obj)
    if kind is Timestamp or kind is TimeSpan:
        try:
            return obj._text  # as read: all 7 digits, the offset form
        except AttributeError:
            return obj.wire()  # made here: the SDK's form
    if kind is UnknownStructure:
        return obj.value
    raise LocalProtocolError(f"cannot write {kind.__name__} in a CFX message")


def _other_kinds(kind: Any, obj: Any) -> Any:
    # msgspec calls the decode hook for the types it does not know: a DateTime or TimeSpan in the
    # SDK's forms is read in C (native.cfx_time.DecodeHook), the rest comes here. A
    # TypeError/ValueError here becomes a ValidationError, and so the lenient path.
    if kind is Timestamp or kind is TimeSpan:
        if type(obj) is not str:
            raise TypeError(f"{kind.__name__} from {type(obj).__name__}")
        return kind.from_wire(obj)
    declared = getattr(kind, "DECLARED", None)
    if declared is not None:
        return None if obj is None else build_polymorphic(declared, obj, _convert)
    raise TypeError(f"{kind.__name__} from {type(obj).__name__}")


_dec_hook = DecodeHook(Timestamp, TimeSpan, _other_kinds)


def _convert(obj: Any, cls: Any) -> Any:
    # msgspec.convert parses its keywords on every call: leave the hook out where no member needs it.
    if needs_hook(cls):
        return msgspec.convert(obj, cls, dec_hook=_dec_hook)
    return msgspec.convert(obj, cls)


class _EnvelopeOut(msgspec.Struct, rename=wire_name, gc=False):
    # Field order is the SDK's write order (cfx.md §1.1).
    message_name: str
    version: str
    time_stamp: datetime
    unique_id: uuid.UUID = msgspec.field(name="UniqueID")
    source: str | None
    target: str | None
    request_id: str | None = msgspec.field(name="RequestID")
    message_body: Any


class _EnvelopeIn(msgspec.Struct, rename=wire_name, forbid_unknown_fields=True, gc=False):
    message_name: str
    time_stamp: Timestamp
    unique_id: uuid.UUID = msgspec.field(name="UniqueID")
    message_body: msgspec.Raw
    version: str = CFX_VERSION
    source: str | None = None
    target: str | None = None
    request_id: str | None = msgspec.field(default=None, name="RequestID")


# C# decimals are written as JSON numbers with every digit they have (Newtonsoft's ToString).
_ENCODER = msgspec.json.Encoder(enc_hook=_enc_hook, decimal_format="number")

_ENVELOPE_DECODER = msgspec.json.Decoder(_EnvelopeIn, dec_hook=_dec_hook)
_BATCH_DECODER = msgspec.json.Decoder(list[msgspec.Raw])


@cache
def _body_decoder(cls: type[CFXMessage], exact: bool) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(cls, dec_hook=_dec_hook, float_hook=Decimal if exact else None)


def encode_body(body: CFXMessage | RawMessage) -> bytes:
    """Encode one message body (``$type`` first) as the SDK writes MessageBody.

    A body built in Python is first put in the SDK's form (``$type`` on polymorphic values exactly
    where the SDK writes it; see ``messages.base.sdk_form``).

    Raises:
        LocalProtocolError: a value cannot be written (a naive datetime, an unsupported type).
    """
    if isinstance(body, RawMessage):
        return _ENCODER.encode(body.body)
    return _ENCODER.encode(sdk_form(body))


def encode_envelope(envelope: Envelope) -> bytes:
    """Encode an envelope as UTF-8 JSON, unindented, exactly as the SDK's ``ToJson()`` writes it.

    Raises:
        LocalProtocolError: a value cannot be written (a naive datetime, an unsupported type).
    """
    body = envelope.body
    stamp = envelope.time_stamp
    out = _EnvelopeOut(
        envelope.message_name,
        envelope.version,
        stamp if type(stamp) is Timestamp else writable_time(stamp),
        envelope.unique_id,
        envelope.source,
        envelope.target,
        envelope.request_id,
        body.body if type(body) is RawMessage else body,
    )
    return _ENCODER.encode(out)


def encode_envelopes(envelopes: list[Envelope]) -> bytes:
    """Encode a batch: a JSON array of envelopes (cfx.md §2.2, MaxMessagesPerTransmit > 1)."""
    return b"[" + b",".join(encode_envelope(e) for e in envelopes) + b"]"


def decode_envelope(data: bytes | str, *, content_encoding: str | None = None) -> Envelope:
    """Decode exactly one envelope.

    Args:
        data: the AMQP body (UTF-8 JSON, or gzip of it).
        content_encoding: the AMQP content-encoding; ``gzip`` (any case) means gunzip first.

    Returns:
        The envelope; an unknown MessageName gives a RawMessage body.

    Raises:
        CFXDecodeError: not gzip when told so, not UTF-8 JSON, a batch, or a value the SDK refuses.
    """
    if content_encoding is None and type(data) is bytes and data[:1] == b"{":
        # The common case, canonical bytes, in one msgspec pass and no further Python frames.
        try:
            wire: Any = _one_pass_decoder(False).decode(data)
            if type(wire.message_body).MESSAGE_NAME in _decimal_messages() and _names_decimals(data):
                wire = _one_pass_decoder(True).decode(data)  # see _names_decimals
        except (msgspec.ValidationError, msgspec.DecodeError):
            pass
        else:
            body = wire.message_body
            if wire.message_name == type(body).MESSAGE_NAME:
                return Envelope(
                    wire.message_name,
                    wire.time_stamp,
                    wire.unique_id,
                    wire.source,
                    wire.target,
                    wire.request_id,
                    body,
                    wire.version,
                )
    raw = _prepare(data, content_encoding)
    if raw[:1] == b"[":
        raise CFXDecodeError("expected one envelope, got a JSON array (use decode_envelopes)")
    return _decode_one(raw, "$")


def decode_envelopes(
    data: bytes | str, *, content_encoding: str | None = None, keep_data: bool = False
) -> list[Envelope]:
    """Decode a single envelope or a JSON array of envelopes (a batch) into a list.

    Args:
        data: the AMQP body (UTF-8 JSON, or gzip of it).
        content_encoding: the AMQP content-encoding; ``gzip`` (any case) means gunzip first.
        keep_data: set each envelope's ``data`` to the bytes it was decoded from (a transport
            does, so that a relay forwards exactly what it received).

    Raises:
        CFXDecodeError: as ``decode_envelope``; the path names the failing array element.
    """
    raw = _prepare(data, content_encoding)
    if raw[:1] != b"[":
        pieces = [(raw, "$")]
    else:
        try:
            items = _BATCH_DECODER.decode(raw)
        except msgspec.DecodeError as exc:
            raise CFXDecodeError(f"not a JSON array of envelopes: {exc}") from None
        pieces = [(bytes(item), f"$[{i}]") for i, item in enumerate(items)]
    if keep_data:
        return [msgspec.structs.replace(_decode_one(piece, path), data=piece) for piece, path in pieces]
    return [_decode_one(piece, path) for piece, path in pieces]


def gunzip(data: bytes) -> bytes:
    """Inflate a gzip body, at most ``MAX_INFLATED_SIZE`` bytes of it (the one bounded gunzip).

    A few KiB of gzip can inflate to gigabytes, and ``gzip.decompress`` has no limit.

    Raises:
        CFXDecodeError: not gzip, truncated, or inflating beyond the limit.
    """
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        raw = inflater.decompress(data, MAX_INFLATED_SIZE)
    except zlib.error as exc:
        raise CFXDecodeError(f"content-encoding is gzip but the body is not valid gzip: {exc}") from None
    if inflater.unconsumed_tail:
        raise CFXDecodeError(f"the gzip body inflates beyond {MAX_INFLATED_SIZE} bytes")
    if not inflater.eof:
        raise CFXDecodeError("content-encoding is gzip but the gzip stream is truncated")
    return raw


def is_gzip(content_encoding: str | None) -> bool:
    """True for the AMQP content-encoding ``gzip`` (any case, surrounding blanks ignored)."""
    return content_encoding is not None and content_encoding.strip().lower() == "gzip"


def _prepare(data: bytes | str, content_encoding: str | None) -> bytes:
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if is_gzip(content_encoding):
        raw = gunzip(raw)
    # The SDK's batch check trims whitespace first (cfx.md §1.2); a BOM is tolerated as .NET does.
    return raw.removeprefix(b"\xef\xbb\xbf").strip()


def _decode_one(raw: bytes, path: str) -> Envelope:
    try:
        return _decode_fast(raw)
    except (msgspec.ValidationError, msgspec.DecodeError, _NotFast):
        pass
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CFXDecodeError(f"{path}: not valid UTF-8 JSON: {exc}", path=path) from None
    try:
        return build_envelope(obj, path)
    except LenientError as exc:
        raise CFXDecodeError(str(exc), path=exc.path) from None
    except (ValueError, TypeError, OverflowError) as exc:  # a value no C# type can hold either
        raise CFXDecodeError(f"{path}: {exc}", path=path) from None


class _NotFast(Exception):
    """The fast path does not apply (unknown message); use the lenient path."""


@cache
def _one_pass_decoder(exact: bool) -> msgspec.json.Decoder[Any]:
    # Every body starts with "$type" (cfx.md §1.2), so msgspec can pick the class from that tag
    # while it parses: one pass over the bytes. Built on first use, when the catalogue is complete.
    union = Union[tuple(MESSAGE_TYPES.values())]  # type: ignore[valid-type]  # noqa: UP007
    one_pass = msgspec.defstruct(
        "EnvelopeOnePass",
        [("message_body", union)],
        bases=(_EnvelopeIn,),
        rename=wire_name,
        forbid_unknown_fields=True,
        gc=False,
    )
    return msgspec.json.Decoder(one_pass, dec_hook=_dec_hook, float_hook=Decimal if exact else None)


def _names_decimals(data: bytes) -> bool:
    """Whether ``data`` names a class with C# decimal members in a ``$type``.

    A polymorphic value is read generically before its class is known, and a double holds only 17
    of a decimal's 28 digits; reading every number of a document as a Decimal (float_hook) keeps
    them but costs a Python call per number. So a message that can hold such a class
    (``_decimal_messages``) and names one (the SDK tags them in the slots that hold them) is read
    again that way.
    """
    return any(mark in data for mark in _decimal_marks())


@cache
def _decimal_messages() -> frozenset[str]:
    return frozenset(name for name, cls in MESSAGE_TYPES.items() if reaches(cls, _is_decimal))


@cache
def _decimal_marks() -> tuple[bytes, ...]:
    namespaces = {
        cls.CFX_TYPE.rsplit(".", 1)[0]
        for cls in (*STRUCTURE_TYPES.values(), *MESSAGE_TYPES.values())
        if any(_is_decimal(f.type) for f in msgspec.structs.fields(cls))
    }
    return tuple(f'"{namespace}.'.encode() for namespace in sorted(namespaces))


def _is_decimal(tp: Any) -> bool:
    return tp is Decimal


def _decode_fast(raw: bytes) -> Envelope:
    try:
        wire: Any = _one_pass_decoder(False).decode(raw)
        if type(wire.message_body).MESSAGE_NAME in _decimal_messages() and _names_decimals(raw):
            wire = _one_pass_decoder(True).decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        wire = None
    if wire is not None and wire.message_name == type(wire.message_body).MESSAGE_NAME:
        return Envelope(
            wire.message_name,
            wire.time_stamp,
            wire.unique_id,
            wire.source,
            wire.target,
            wire.request_id,
            wire.message_body,
            wire.version,
        )
    # A body without "$type" (older SDKs), or whose "$type" disagrees with MessageName: the
    # MessageName decides, as in the SDK's FromJson fallback.
    wire = _ENVELOPE_DECODER.decode(raw)
    cls = MESSAGE_TYPES.get(wire.message_name)
    if cls is None:
        raise _NotFast
    exact = wire.message_name in _decimal_messages() and _names_decimals(raw)
    body = _body_decoder(cls, exact).decode(wire.message_body)
    return Envelope(
        message_name=wire.message_name,
        time_stamp=wire.time_stamp,
        unique_id=wire.unique_id,
        source=wire.source,
        target=wire.target,
        request_id=wire.request_id,
        body=body,
        version=wire.version,
    )


__all__ = [
    "MAX_INFLATED_SIZE",
    "CFXDecodeError",
    "decode_envelope",
    "decode_envelopes",
    "encode_body",
    "encode_envelope",
    "encode_envelopes",
    "gunzip",
    "is_gzip",
]
