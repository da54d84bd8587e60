"""The AMQP 1.0 CFX listener's request path and its SASL gate under fuzz.

Two harnesses:

* ``cfx-listener-request``: a transfer as the engine's handler hands it on (body, its
  content-encoding, message-id, reply-to, the node address) goes through
  ``CFXListener._received``'s work, ``_answer`` (decode, built-in or handler response,
  NotSupportedResponse for garbage, the reply message built) or ``_accept_events``.
  Invariant: every request is answered or counted malformed; nothing escapes.
* ``cfx-sasl-gate``: the bytes a peer sends to the TLS/SASL front door go through
  ``SecurityGate._serve`` (headers, SASL init frame, PLAIN credentials), with and without
  credentials configured. Invariant: the peer is admitted (handed to proton's engine) or refused or
  dropped with one of the errors the gate handles; nothing else escapes ``_serve``.
"""

from __future__ import annotations

import asyncio
import gzip
from typing import Any, cast

from proton import symbol

from fuzz.harness import Crash, Harness, Target
from fuzz.seeds import cfx_envelopes
from protocols.cfx.envelope import Envelope
from protocols.cfx.messages.production import ActivateRecipeResponse
from protocols.cfx.transport.listener import CFXListener, _Inbound
from protocols.cfx.transport.security import (
    AMQP_HEADER,
    SASL_HEADER,
    SASL_INIT,
    SecurityGate,
    ServerSecurity,
    _sasl_frame,
)

HANDLE = "Acme.Oven.1"
EVENTS = "/queue/events"
USER, PASSWORD = "line", "s3cret"


class Rejected(Exception):
    """The listener answered a request as malformed, or the gate refused or dropped the peer."""


# --- the request path ---------------------------------------------------------------------

# First input byte: how the transfer arrived.
_GZIP_IT, _LABEL_GZIP, _NO_BODY, _NO_ID, _TO_EVENTS, _NO_REPLY_TO = 1, 2, 4, 8, 16, 32


def make_request() -> Target:
    loop = asyncio.new_event_loop()
    listener = CFXListener(event_addresses=[EVENTS])

    async def handler(request: Envelope) -> ActivateRecipeResponse | None:
        # A handler that answers some requests and declines the rest, as gateway/recipes does.
        return ActivateRecipeResponse() if "Recipe" in request.message_name else None

    listener.add_handle(HANDLE, handler)

    def one(data: bytes) -> None:
        flags, body = (data[0], data[1:]) if data else (0, b"")
        if flags & _GZIP_IT:
            body = gzip.compress(body, compresslevel=1, mtime=0)
        inbound = _Inbound(
            connection_id=1,
            address=EVENTS if flags & _TO_EVENTS else HANDLE,
            body=None if flags & _NO_BODY else body,
            content_encoding="gzip" if flags & (_GZIP_IT | _LABEL_GZIP) else None,
            message_id=None if flags & _NO_ID else "urn:uuid:1",
            reply_to=None if flags & _NO_REPLY_TO else "reply/1",
        )
        malformed = listener.malformed_count
        if inbound.address == HANDLE and inbound.reply_to:
            # With no connection (no reply link), _answer builds the reply message and stops short of sending.
            loop.run_until_complete(listener._answer(inbound))
        else:
            listener._accept_events(inbound, token=1)
            listener._events.clear()
        if listener.malformed_count != malformed:
            raise Rejected("malformed")

    return one


def request_seeds() -> list[bytes]:
    out = []
    for envelope in cfx_envelopes():
        out += [b"\x00" + envelope, b"\x01" + envelope, b"\x10" + envelope, b"\x02" + gzip.compress(envelope)]
    return out


# --- the SASL gate ------------------------------------------------------------------------


class _Writer:
    """What the gate writes to: collects bytes."""

    def __init__(self) -> None:
        self.sent = bytearray()

    def write(self, data: bytes) -> None:
        self.sent += data

    async def drain(self) -> None:
        pass

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default


class _Gate(SecurityGate):
    """The gate with the engine behind it replaced by a note that the peer was admitted."""

    admitted = False

    def __init__(self, security: ServerSecurity) -> None:
        super().__init__(security, self._admit)

    async def _admit(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.admitted = True


def make_gate() -> Target:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    gates = [_Gate(ServerSecurity(credentials={USER: PASSWORD})), _Gate(ServerSecurity())]

    def one(data: bytes) -> None:
        gate = gates[data[0] & 1] if data else gates[0]
        gate.admitted = False
        refused = gate.refused
        reader = asyncio.StreamReader(loop=loop)
        reader.feed_data(data[1:])
        reader.feed_eof()
        loop.run_until_complete(gate._serve(reader, cast(asyncio.StreamWriter, _Writer())))
        if gate.admitted:
            if gate is gates[0] and USER.encode() not in data:
                raise Crash("admitted without the user name in the input")
            return
        raise Rejected("refused" if gate.refused != refused else "dropped")

    return one


def gate_seeds() -> list[bytes]:
    plain = _sasl_frame(SASL_INIT, [symbol("PLAIN"), f"\0{USER}\0{PASSWORD}".encode()])
    anonymous = _sasl_frame(SASL_INIT, [symbol("ANONYMOUS"), b""])
    wrong = _sasl_frame(SASL_INIT, [symbol("PLAIN"), f"\0{USER}\0nope".encode()])
    return [
        b"\x00" + SASL_HEADER + plain + AMQP_HEADER,
        b"\x01" + SASL_HEADER + anonymous + AMQP_HEADER,
        b"\x00" + SASL_HEADER + anonymous + AMQP_HEADER,
        b"\x00" + SASL_HEADER + wrong + AMQP_HEADER,
        b"\x01" + AMQP_HEADER,
        b"\x00" + b"GET / HTTP/1.1\r\n\r\n",
    ]


HARNESSES = [
    Harness(
        "cfx-listener-request",
        "protocols/cfx/transport/listener.py (_answer, _accept_events, reply building)",
        make_request,
        (Rejected,),
        request_seeds,
    ),
    Harness(
        "cfx-sasl-gate",
        "protocols/cfx/transport/security.py (SecurityGate._serve, SASL init, PLAIN)",
        make_gate,
        (Rejected,),
        gate_seeds,
        max_len=1024,
    ),
]
