"""The serial framers: every split of the input gives the same frames; bad input raises and resyncs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from native import checksums
from protocols.errors import RemoteProtocolError
from protocols.serial import (
    Checksum,
    ChecksumMismatch,
    FrameTooLong,
    FramingError,
    GarbageBytes,
    LineFramer,
    StxEtxFramer,
)

PAYLOADS = [b"ST?", b"RS=BOARD-A;REV=3", b"X", b"EV:DONE;ID=42;THK=55.2"]


def _feed_all(
    framer: StxEtxFramer | LineFramer, chunks: list[bytes]
) -> tuple[list[bytes], list[FramingError]]:
    """Feed every chunk; collect frames and errors, continuing after each error as a caller would."""
    frames: list[bytes] = []
    errors: list[FramingError] = []
    for chunk in chunks:
        data = chunk
        while True:
            try:
                frames += framer.feed(data)
                break
            except FramingError as exc:
                frames += exc.frames
                errors.append(exc)
                data = b""
    return frames, errors


@pytest.mark.parametrize("checksum", list(Checksum))
def test_encode_layout_and_checksum_digits(checksum: Checksum) -> None:
    """A frame is STX payload ETX and two upper-case hex digits of the payload's checksum."""
    framer = StxEtxFramer(checksum)
    wire = framer.encode(b"ST?")
    expected = {Checksum.XOR8: checksums.xor8, Checksum.SUM8: checksums.sum8, Checksum.LRC: checksums.lrc}[
        checksum
    ](b"ST?")
    assert wire == b"\x02ST?\x03" + b"%02X" % expected


def test_checksum_may_cover_etx() -> None:
    """With checksum_covers_etx the ETX byte is part of the checksummed bytes."""
    wire = StxEtxFramer(Checksum.XOR8, checksum_covers_etx=True).encode(b"AB")
    assert wire[-2:] == b"%02X" % (0x41 ^ 0x42 ^ 0x03)


@pytest.mark.parametrize("checksum", list(Checksum))
def test_split_at_every_byte_boundary(checksum: Checksum) -> None:
    """Splitting the stream at any one point, or byte by byte, yields the same frames."""
    wire = b"".join(StxEtxFramer(checksum).encode(p) for p in PAYLOADS)
    for cut in range(len(wire) + 1):
        frames, errors = _feed_all(StxEtxFramer(checksum), [wire[:cut], wire[cut:]])
        assert (frames, errors) == (PAYLOADS, [])
    frames, errors = _feed_all(StxEtxFramer(checksum), [bytes([b]) for b in wire])
    assert (frames, errors) == (PAYLOADS, [])


def test_garbage_before_a_frame_raises_then_resyncs() -> None:
    """Noise before STX raises GarbageBytes naming it; the frame after it still arrives."""
    framer = StxEtxFramer()
    with pytest.raises(GarbageBytes) as info:
        framer.feed(b"\xff\x00noise" + framer.encode(b"OK"))
    assert info.value.garbage == b"\xff\x00noise"
    assert framer.feed(b"") == [b"OK"]


def test_good_frames_before_an_error_are_not_lost() -> None:
    """A frame completed before the bad bytes in the same chunk comes with the error."""
    framer = StxEtxFramer()
    with pytest.raises(GarbageBytes) as info:
        framer.feed(framer.encode(b"ONE") + b"junk" + framer.encode(b"TWO"))
    assert info.value.frames == [b"ONE"]
    assert framer.feed(b"") == [b"TWO"]


def test_bad_checksum_is_typed_and_resyncs() -> None:
    """A wrong checksum raises ChecksumMismatch (a RemoteProtocolError); the next frame is fine."""
    framer = StxEtxFramer(Checksum.SUM8)
    bad = bytearray(framer.encode(b"ST?"))
    bad[-1] = ord("0") if bad[-1] != ord("0") else ord("1")
    with pytest.raises(ChecksumMismatch) as info:
        framer.feed(bytes(bad) + framer.encode(b"RS?"))
    assert isinstance(info.value, RemoteProtocolError)
    assert info.value.payload == b"ST?"
    assert framer.feed(b"") == [b"RS?"]


def test_lower_case_checksum_digits_are_accepted() -> None:
    """Checksum digits are compared case-insensitively, as devices differ."""
    framer = StxEtxFramer(Checksum.XOR8)
    wire = framer.encode(b"\x7ez")
    assert framer.feed(wire[:-2] + wire[-2:].lower()) == [b"\x7ez"]


def test_frame_cut_short_by_new_stx() -> None:
    """A new STX before ETX drops the partial frame and starts over at the new one."""
    framer = StxEtxFramer()
    with pytest.raises(GarbageBytes):
        framer.feed(b"\x02PARTIAL" + framer.encode(b"WHOLE"))
    assert framer.feed(b"") == [b"WHOLE"]


def test_frame_missing_its_checksum_digits_does_not_eat_the_next_frame() -> None:
    """ETX followed at once by a new STX: the digit-less frame is dropped, the next one is kept."""
    framer = StxEtxFramer()
    frames, errors = _feed_all(framer, [b"\x02LOST\x03" + framer.encode(b"KEPT")])
    assert frames == [b"KEPT"]
    assert [type(e) for e in errors] == [GarbageBytes]


def test_frame_too_long_is_dropped_without_losing_sync() -> None:
    """An over-long frame raises FrameTooLong once; its tail is skipped; the next frame arrives."""
    framer = StxEtxFramer(max_frame_size=8)
    good = framer.encode(b"SHORT")
    frames, errors = _feed_all(framer, [b"\x02" + b"A" * 20, b"B" * 5 + b"\x03" + b"00" + good])
    assert frames == [b"SHORT"]
    assert [type(e) for e in errors] == [FrameTooLong]


def test_encode_refuses_control_bytes_and_oversize() -> None:
    """encode() will not build a frame the peer could not parse."""
    with pytest.raises(ValueError):
        StxEtxFramer().encode(b"A\x03B")
    with pytest.raises(ValueError):
        StxEtxFramer(max_frame_size=2).encode(b"ABC")


@given(st.lists(st.binary(max_size=40), max_size=8), st.data())
def test_fuzz_never_loses_sync(noise: list[bytes], data: st.DataObject) -> None:
    """Any bytes either parse or raise FramingError, and a good frame after them still arrives."""
    framer = StxEtxFramer(max_frame_size=64)
    _feed_all(framer, noise)
    # A lone STX at the end of noise may still be an open frame: a good frame resyncs on its STX.
    tail = framer.encode(b"SYNC")
    frames, _ = _feed_all(framer, [tail, framer.encode(b"AFTER")])
    assert frames[-1] == b"AFTER"


@given(
    st.lists(
        st.binary(min_size=1, max_size=30).filter(lambda b: b"\n" not in b and b"\r" not in b), max_size=6
    ),
    st.integers(min_value=1, max_value=7),
)
def test_line_framer_any_chunking(lines: list[bytes], chunk: int) -> None:
    """CR LF lines come out whole however the stream is chunked."""
    framer = LineFramer()
    wire = b"".join(framer.encode(line) for line in lines)
    frames, errors = _feed_all(LineFramer(), [wire[i : i + chunk] for i in range(0, len(wire), chunk)])
    assert (frames, errors) == (lines, [])


def test_line_framer_accepts_bare_lf_and_skips_empty_lines() -> None:
    """Devices that end lines with LF alone are understood; blank lines are not frames."""
    assert LineFramer().feed(b"A\nB\r\n\r\nC\n") == [b"A", b"B", b"C"]


def test_line_framer_too_long_resyncs() -> None:
    """An over-long line raises FrameTooLong; the following line arrives."""
    framer = LineFramer(max_frame_size=4)
    frames, errors = _feed_all(framer, [b"TOOLONGLINE", b"MORE\r\nOK\r\n"])
    assert frames == [b"OK"]
    assert [type(e) for e in errors] == [FrameTooLong]


def test_line_framer_cr_terminator() -> None:
    """With a CR terminator lines end at CR."""
    framer = LineFramer(terminator=b"\r")
    assert framer.feed(framer.encode(b"A") + framer.encode(b"B")) == [b"A", b"B"]
