"""LaneStream, the lane's asyncio protocol: what it does in its callbacks (issue 19).

Driven through its asyncio.Protocol methods with a recording transport, so each callback's
effect is seen at once: messages handed over as their bytes arrive, those received before
``start`` kept for it, reading paused while the peer does not take our bytes, the end of the
session, and a handler's own exception raised again by ``wait_ended``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from protocols.hermes import messages as m
from protocols.hermes.codec import decode, encode
from protocols.hermes.connection import HorizontalConnection
from protocols.hermes.state import Role, State
from protocols.hermes.transport.lane_stream import LaneStream

DESCRIPTION = m.ServiceDescription(machine_id="DOWN", lane_id=1, version="1.6")
PING = m.CheckAlive(type=m.CheckAliveType.PING, id="p1")


class RecordingTransport:
    """What LaneStream uses of a transport; records writes and reading pauses."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.reading = True
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 50101) if name == "peername" else default

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def get_protocol(self) -> None:
        return None


OURS = m.ServiceDescription(machine_id="UP", lane_id=1, version="1.6")


def sender_stream() -> tuple[LaneStream, RecordingTransport, list[object]]:
    stream = LaneStream(HorizontalConnection(Role.SENDER, check_alive_period=None), message_timeout=None)
    transport = RecordingTransport()
    stream.connection_made(transport)  # type: ignore[arg-type]
    return stream, transport, []


def answering(stream: LaneStream, seen: list[object]) -> Any:
    """A handler that records and, as the sender lane does, answers the ServiceDescription."""

    def handle(message: object) -> None:
        seen.append(message)
        if isinstance(message, m.ServiceDescription):
            stream.send_nowait(OURS)

    return handle


async def test_messages_received_before_start_are_handed_over_on_start_in_order() -> None:
    stream, _, seen = sender_stream()
    stream.data_received(encode(DESCRIPTION) + encode(m.MachineReady(failed_board=m.BoardQuality.ANY)))
    assert seen == []
    stream.start(answering(stream, seen))  # the answer goes out before MachineReady is checked
    assert [type(message) for message in seen] == [m.ServiceDescription, m.MachineReady]
    assert stream.connection.state is State.MACHINE_READY


async def test_each_message_is_handled_in_the_callback_and_a_split_one_once_complete() -> None:
    stream, _, seen = sender_stream()
    stream.start(seen.append)
    data = encode(DESCRIPTION)
    stream.data_received(data[:10])
    assert seen == []
    stream.data_received(data[10:])
    assert seen == [DESCRIPTION]


async def test_a_ping_is_answered_from_the_callback() -> None:
    stream, transport, seen = sender_stream()
    stream.start(answering(stream, seen))
    stream.data_received(encode(DESCRIPTION) + encode(PING))
    pong = decode(transport.written[-1])
    assert pong == m.CheckAlive(type=m.CheckAliveType.PONG, id="p1")


async def test_while_the_peer_does_not_take_our_bytes_reading_pauses_and_messages_wait() -> None:
    stream, transport, seen = sender_stream()
    stream.start(answering(stream, seen))
    stream.data_received(encode(DESCRIPTION))
    assert len(transport.written) == 1  # our ServiceDescription
    stream.pause_writing()
    assert not transport.reading
    stream.data_received(encode(PING) * 3)
    assert len(seen) == 1 and len(transport.written) == 1  # no Pong queued behind a full buffer
    stream.resume_writing()
    assert transport.reading
    assert len(seen) == 4 and len(transport.written) == 4


async def test_the_peer_closing_ends_the_session_after_what_it_sent() -> None:
    stream, _, seen = sender_stream()
    stream.start(seen.append)
    stream.data_received(encode(DESCRIPTION))
    assert stream.eof_received() is True  # half-closed: our close still sends the last bytes
    async with asyncio.timeout(1):
        await stream.wait_ended()
    assert seen == [DESCRIPTION]
    assert stream.end_reason is not None


async def test_a_protocol_error_answers_with_the_notification_and_ends_the_session() -> None:
    stream, transport, seen = sender_stream()
    stream.start(seen.append)
    stream.data_received(encode(m.StartTransport(board_id="b1")))  # before the handshake
    async with asyncio.timeout(1):
        await stream.wait_ended()
    notification = decode(transport.written[-1])
    assert isinstance(notification, m.Notification)
    assert notification.notification_code is m.NotificationCode.PROTOCOL_ERROR
    assert seen == []


async def test_a_handler_exception_is_raised_again_by_wait_ended() -> None:
    stream, _, _ = sender_stream()

    def broken(message: object) -> None:
        raise KeyError("the application's bug")

    stream.start(broken)
    stream.data_received(encode(DESCRIPTION))
    with pytest.raises(KeyError):
        await stream.wait_ended()
