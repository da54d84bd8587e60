"""The CFX decoder, with and without gzip, under fuzz.

Invariant: ``protocols.cfx.codec.decode_envelopes`` / ``decode_envelope`` over
``protocols.cfx.transport.wire.decode_payload`` (as the listener and the subscriber call them)
return envelopes or raise CFXDecodeError / MalformedPayload, whatever the body and its
content-encoding; gzip never inflates beyond the limit.
"""

from __future__ import annotations

import gzip

from fuzz.harness import Harness, Target
from fuzz.seeds import cfx_envelopes
from protocols.cfx.codec import CFXDecodeError, decode_envelope, decode_envelopes
from protocols.cfx.transport.wire import MalformedPayload, decode_payload

# The first input byte says how the rest arrives.
_GZIP_IT = 1  # the harness gzips the JSON and labels it gzip: the JSON inside is fuzzed
_LABEL_GZIP = 2  # labelled gzip but sent as is: the gzip stream itself is fuzzed
_SINGLE = 4  # decode_envelope (one) rather than decode_envelopes (a batch or one)
_CODEC_GZIP = 8  # let the codec gunzip (content_encoding=...) instead of wire.decode_payload


def make() -> Target:
    def one(data: bytes) -> None:
        flags, body = (data[0], data[1:]) if data else (0, b"")
        encoding = "gzip" if flags & (_GZIP_IT | _LABEL_GZIP) else None
        if flags & _GZIP_IT:
            body = gzip.compress(body, compresslevel=1, mtime=0)
        decoder = decode_envelope if flags & _SINGLE else decode_envelopes
        if flags & _CODEC_GZIP:
            decoder(body, content_encoding=encoding)
        else:
            decoder(decode_payload(body, encoding))

    return one


def seeds() -> list[bytes]:
    out: list[bytes] = []
    for envelope in cfx_envelopes():
        out += [b"\x00" + envelope, b"\x01" + envelope, b"\x0d" + envelope]
        out.append(b"\x02" + gzip.compress(envelope, mtime=0))
        out.append(b"\x0a" + gzip.compress(envelope, mtime=0))
    return out


HARNESSES = [
    Harness(
        "cfx-codec",
        "protocols/cfx/codec.py, lenient.py, transport/wire.py (gzip)",
        make,
        (CFXDecodeError, MalformedPayload),
        seeds,
    )
]
