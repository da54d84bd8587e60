"""Hermes message decoding and the sans-IO lane connection under fuzz.

Invariants: ``protocols.hermes.codec.decode`` returns a message or raises HermesDecodeError,
the same message (field types included) or the same error text as its general path gives with
the shapes of ``native.hermes_codec`` switched off.
A ``HorizontalConnection`` (either role) fed any stream returns events or raises
RemoteProtocolError carrying a Notification hint; afterwards it stays in ERROR (every later
``next_event`` raises ProtocolError).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any
from unittest import mock

from fuzz.harness import Crash, Harness, Target
from fuzz.seeds import hermes_hostile, hermes_messages
from protocols.errors import ProtocolError, RemoteProtocolError
from protocols.hermes import messages as m
from protocols.hermes.codec import MAX_MESSAGE_SIZE, HermesDecodeError, decode
from protocols.hermes.connection import CLOSED, NEED_DATA, HorizontalConnection
from protocols.hermes.state import Role

_MAX_EVENTS = 10_000  # a stream of at most max_len bytes cannot hold more messages than this
_OVER_LIMIT = MAX_MESSAGE_SIZE + 4096


@contextlib.contextmanager
def _general_path() -> Iterator[None]:
    from protocols.hermes import codec

    with (
        mock.patch.object(codec, "_SHAPES", {}),
        mock.patch.object(codec, "_MESSAGE_SHAPES", {}),
        mock.patch.object(codec, "_MESSAGE_SHAPES_BY_TAG", {}),
    ):
        yield


def _typed(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value), [(f.name, _typed(getattr(value, f.name))) for f in dataclasses.fields(value)])
    if isinstance(value, tuple):
        return (tuple, [_typed(item) for item in value])
    return (type(value), repr(value))


def make_decode() -> Target:
    def one(data: bytes) -> None:
        try:
            message = decode(data)
        except HermesDecodeError as exc:
            with _general_path():
                try:
                    decode(data)
                except HermesDecodeError as general:
                    if str(general) != str(exc):
                        raise Crash(f"shapes and general path differ: {exc} / {general}") from None
                    raise
            raise Crash(f"the shapes refuse what the general path reads: {exc}") from None
        with _general_path():
            try:
                general_message = decode(data)
            except HermesDecodeError as general:
                raise Crash(f"the general path refuses what the shapes read: {general}") from None
        if _typed(message) != _typed(general_message):
            raise Crash(f"shapes and general path differ: {message!r} / {general_message!r}")

    return one


def make_connection() -> Target:
    ours = m.ServiceDescription(machine_id="linegate", lane_id=1, version="1.5")

    def one(data: bytes) -> None:
        head, data = (data[0], data[1:]) if data else (0, b"")
        role = Role.RECEIVER if head & 1 else Role.SENDER
        chunk = 1 << ((head >> 2) & 15)  # the stream arrives in pieces of 1 byte up to 32 KiB
        if head & 2 and data:
            # Repeated past the 64 KiB limit (libFuzzer's inputs stay far smaller by themselves).
            data = data * (_OVER_LIMIT // len(data) + 1)
            chunk = max(chunk, 256)
        connection = HorizontalConnection(role, check_alive_period=None)
        if role is Role.RECEIVER:
            connection.send(ours)  # the receiver speaks first (reference §3)
        try:
            for start in range(0, len(data), chunk):
                connection.receive_data(data[start : start + chunk])
                for _ in range(_MAX_EVENTS):
                    event = connection.next_event()
                    if event is NEED_DATA or event is CLOSED:
                        break
                else:
                    raise Crash("next_event never asked for more data")
            connection.receive_data(b"")
            if connection.next_event() is not CLOSED:
                raise Crash("no CLOSED after EOF")
        except RemoteProtocolError as exc:
            if not isinstance(exc.hint, m.Notification):
                raise Crash(f"no Notification hint on {exc!r}") from exc
            try:
                connection.next_event()
            except ProtocolError:
                raise exc from None
            raise Crash("connection left ERROR after a protocol error") from exc

    return one


def seeds() -> list[bytes]:
    messages = hermes_messages()
    sender_side = b"".join(messages[i] for i in (0, 2, 3, 4))  # what a receiver sends us
    receiver_side = b"".join(messages[i] for i in (0, 1, 5, 8, 9))  # what a sender sends us
    return [
        b"\x3c" + sender_side,  # whole
        b"\x3d" + receiver_side,
        b"\x00" + sender_side,  # byte by byte
        b"\x0d" + receiver_side,  # 8 bytes at a time
        b"\x3e" + messages[1],  # repeated past 64 KiB: many messages
        b'\x3e<Hermes Timestamp="x"><Notification Description="' + b"y" * 200,  # ... none complete
        *(b"\x3c" + message for message in messages),
        *(b"\x3d" + hostile for hostile in hermes_hostile()),
    ]


HARNESSES = [
    Harness(
        "hermes-codec",
        "protocols/hermes/codec.py (decode over the selected parser and shapes, against its general path)",
        make_decode,
        (HermesDecodeError,),
        lambda: [*hermes_messages(), *hermes_hostile()],
    ),
    Harness(
        "hermes-connection",
        "protocols/hermes/connection.py (framer, codec, state table; both roles)",
        make_connection,
        (RemoteProtocolError,),
        seeds,
        max_len=1 << 16,
    ),
]
