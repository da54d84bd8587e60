"""The Hermes framer finds messages as lib_cpp does, however the stream is split (reference §1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.hermes import messages as m
from protocols.hermes.codec import MAX_MESSAGE_SIZE, HermesDecodeError, decode, encode
from protocols.hermes.framing import Framer, HermesFramingError

CHECK_ALIVE = encode(m.CheckAlive())
SERVICE = encode(m.ServiceDescription("M1", 1, "1.6", m.SupportedFeatures.all()))
PING = encode(m.CheckAlive(m.CheckAliveType.PING, "7"))


def _frames(framer: Framer) -> list[bytes]:
    out = []
    while (frame := framer.next_frame()) is not None:
        out.append(frame)
    return out


def _feed_in_chunks(stream: bytes, cuts: list[int]) -> list[bytes]:
    framer = Framer()
    frames: list[bytes] = []
    start = 0
    for cut in [*sorted(cuts), len(stream)]:
        framer.feed(stream[start:cut])
        frames += _frames(framer)
        start = cut
    return frames


def test_one_message() -> None:
    framer = Framer()
    framer.feed(SERVICE)
    assert _frames(framer) == [SERVICE]
    assert framer.buffered == 0


def test_several_messages_in_one_packet() -> None:
    # Acceptance checklist: CheckAlive + ServiceDescription + CheckAlive in one packet.
    framer = Framer()
    framer.feed(CHECK_ALIVE + SERVICE + CHECK_ALIVE)
    assert _frames(framer) == [CHECK_ALIVE, SERVICE, CHECK_ALIVE]


def test_remainder_is_kept_for_the_next_message() -> None:
    # The acceptance tool's own framer drops it (reference §4.2); we must not.
    framer = Framer()
    framer.feed(CHECK_ALIVE + SERVICE[:10])
    assert _frames(framer) == [CHECK_ALIVE]
    assert framer.buffered == 10
    framer.feed(SERVICE[10:])
    assert _frames(framer) == [SERVICE]


def test_declaration_whitespace_and_garbage_between_messages_are_skipped() -> None:
    stream = b'<?xml version="1.0" encoding="utf-8"?>\r\n' + SERVICE + b"\n \r\n" + b"junk<Her" + PING + b"\n"
    assert _feed_in_chunks(stream, []) == [SERVICE, PING]


def test_lib_pretty_printed_message_frames_whole() -> None:
    pretty = b'<Hermes Timestamp="2024-05-14T08:15:02.117">\n <CheckAlive />\n</Hermes >\n'
    assert _feed_in_chunks(pretty + pretty, []) == [pretty.rstrip(b"\n")] * 2


STREAM = b'<?xml version="1.0"?>\n' + SERVICE + b"\r\n" + CHECK_ALIVE + b"  " + PING + b"\n"


def test_split_at_every_byte_boundary() -> None:
    expected = [SERVICE, CHECK_ALIVE, PING]
    for cut in range(len(STREAM) + 1):
        assert _feed_in_chunks(STREAM, [cut]) == expected, cut


def test_fed_one_byte_at_a_time() -> None:
    assert _feed_in_chunks(STREAM, list(range(len(STREAM)))) == [SERVICE, CHECK_ALIVE, PING]


@given(st.lists(st.integers(0, len(STREAM)), max_size=12))
def test_any_chunking_gives_the_same_frames(cuts: list[int]) -> None:
    assert _feed_in_chunks(STREAM, cuts) == [SERVICE, CHECK_ALIVE, PING]


def _message_of_exactly(size: int) -> bytes:
    head = b'<Hermes Timestamp="2024-05-14T08:15:02.117">'
    head += b'<ServiceDescription MachineId="M" LaneId="1" Version="1.6" Pad="'
    tail = b'"><SupportedFeatures/></ServiceDescription></Hermes>'
    return head + b"p" * (size - len(head) - len(tail)) + tail


def test_message_of_65536_bytes_split_across_packets() -> None:
    # Acceptance checklist: a message of exactly 65,536 bytes, split across packets.
    big = _message_of_exactly(MAX_MESSAGE_SIZE)
    frames = _feed_in_chunks(big + CHECK_ALIVE, list(range(0, len(big), 1460)))
    assert frames == [big, CHECK_ALIVE]
    assert decode(frames[0]) == m.ServiceDescription("M", 1, "1.6")


def test_byte_at_a_time_over_64_kib_is_linear() -> None:
    big = _message_of_exactly(MAX_MESSAGE_SIZE)
    framer = Framer()
    for index in range(len(big)):
        framer.feed(big[index : index + 1])
        frame = framer.next_frame()
    assert frame == big


def test_more_than_64_kib_without_a_complete_message_is_refused() -> None:
    framer = Framer()
    framer.feed(b"<Hermes Timestamp='x'>" + b" " * MAX_MESSAGE_SIZE)
    with pytest.raises(HermesFramingError) as info:
        framer.next_frame()
    assert isinstance(info.value, HermesDecodeError)
    assert info.value.hint == m.Notification(
        m.NotificationCode.PROTOCOL_ERROR, m.SeverityType.FATAL, str(info.value)
    )
    # The framer stays broken: the connection is to be closed.
    framer.feed(CHECK_ALIVE)
    with pytest.raises(HermesFramingError):
        framer.next_frame()


def test_complete_message_over_the_limit_is_refused() -> None:
    framer = Framer()
    framer.feed(_message_of_exactly(MAX_MESSAGE_SIZE + 1))
    with pytest.raises(HermesFramingError, match="65537"):
        framer.next_frame()


def test_waiting_for_the_closing_bracket_counts_toward_the_limit() -> None:
    framer = Framer(max_size=100)
    framer.feed(b"<Hermes></Hermes" + b" " * 100)
    with pytest.raises(HermesFramingError):
        framer.next_frame()


def test_garbage_without_a_message_start_is_not_buffered() -> None:
    framer = Framer()
    for _ in range(100):
        framer.feed(b"x" * 1000 + b"<Herm")
        assert framer.next_frame() is None
    # Only the possible start of "<Hermes" is kept.
    assert framer.buffered == len(b"<Herm")
    framer.feed(CHECK_ALIVE[len(b"<Herm") :])
    assert _frames(framer) == [CHECK_ALIVE]


def test_lookalike_start_is_skipped() -> None:
    assert _feed_in_chunks(b"<Herald/><HermeX" + CHECK_ALIVE, [3, 12]) == [CHECK_ALIVE]
