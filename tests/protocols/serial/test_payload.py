"""The ``TAG:K=V;K=V`` payload (coater.md §3): encoding, decoding, and cleaning free text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.errors import RemoteProtocolError
from protocols.serial import SEPARATORS, clean_text, decode_payload, encode_payload


def test_a_tag_alone_and_a_tag_with_fields() -> None:
    """``TAG`` and ``TAG:K=V;K=V`` encode in field order and decode back (values as text)."""
    assert encode_payload("ST") == b"ST"
    assert encode_payload("ST", {}) == b"ST"
    payload = encode_payload("RS", {"NAME": "SILICONE-75", "REV": 2})
    assert payload == b"RS:NAME=SILICONE-75;REV=2"
    assert decode_payload(payload) == ("RS", {"NAME": "SILICONE-75", "REV": "2"})
    assert decode_payload(b"ST") == ("ST", {})


def test_the_manuals_examples_decode() -> None:
    """The status answer and an event frame of coater.md §4-§5, as the coater writes them."""
    status = b"ST:STATE=2202;RCP=ACRYLIC-50;REV=1;BOARDS=0;ALARMS=-"
    assert decode_payload(status) == (
        "ST",
        {"STATE": "2202", "RCP": "ACRYLIC-50", "REV": "1", "BOARDS": "0", "ALARMS": "-"},
    )
    assert decode_payload(b"EV:TYPE=AC;CODE=E231") == ("EV", {"TYPE": "AC", "CODE": "E231"})


@pytest.mark.parametrize("value", ["A;B", "A=B", "A:B"])
def test_a_separator_in_a_value_is_refused(value: str) -> None:
    """Values never contain ``;``, ``=`` or ``:`` (coater.md §3): encoding one is a ValueError."""
    with pytest.raises(ValueError, match="may not contain"):
        encode_payload("RS", {"NAME": value})


def test_a_value_that_is_not_ascii_is_refused() -> None:
    """The payload is ASCII (coater.md §2)."""
    with pytest.raises(ValueError):
        encode_payload("RS", {"NAME": "Lötstopp"})


@pytest.mark.parametrize(
    ("payload", "needle"),
    [(b"ST:STATE", "has no '='"), (b"ST:\xff=1", "not ASCII"), (b"RS:NAME=A;REV", "'REV' of RS")],
)
def test_what_does_not_parse_is_the_peers_fault(payload: bytes, needle: str) -> None:
    """A field without ``=`` or a byte that is not ASCII: RemoteProtocolError naming it."""
    with pytest.raises(RemoteProtocolError, match=needle):
        decode_payload(payload)


def test_empty_fields_are_skipped_and_a_value_keeps_later_equals_signs() -> None:
    """``;;`` separates nothing; a key ends at the first ``=`` (what a lenient peer may send)."""
    assert decode_payload(b"AL:COUNT=0;;CODES=-;") == ("AL", {"COUNT": "0", "CODES": "-"})
    assert decode_payload(b"ER:TEXT=a=b") == ("ER", {"TEXT": "a=b"})


def test_clean_text_replaces_what_the_manual_says() -> None:
    """coater.md §3: ``;`` → ``,``, ``=`` → ``-``, ``:`` → ``-``; STX/ETX → space; not ASCII → ``?``."""
    assert clean_text("door open; see: A=1") == "door open, see- A-1"
    assert clean_text("a\x02b\x03c") == "a b c"
    assert clean_text("Lötstopp") == "L?tstopp"
    assert clean_text(42) == "42"


_KEYS = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters=SEPARATORS), min_size=1
)
_VALUES = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters=SEPARATORS)
)


@given(st.dictionaries(_KEYS, _VALUES, max_size=5))
def test_fields_round_trip(fields: dict[str, str]) -> None:
    """Fields of printable ASCII without separators decode to the same fields."""
    assert decode_payload(encode_payload("RS", fields)) == ("RS", fields)


@given(st.text(max_size=40))
def test_any_cleaned_text_encodes_and_round_trips(text: str) -> None:
    """Whatever the text, cleaned it is accepted by the encoder and decodes to itself."""
    cleaned = clean_text(text)
    assert decode_payload(encode_payload("ER", {"TEXT": cleaned})) == ("ER", {"TEXT": cleaned})


@given(st.binary(max_size=64))
def test_any_payload_parses_or_is_a_remote_protocol_error(payload: bytes) -> None:
    """Whatever a peer sends, decoding parses it or raises RemoteProtocolError, nothing else."""
    try:
        tag, fields = decode_payload(payload)
    except RemoteProtocolError:
        return
    assert isinstance(tag, str) and all(isinstance(v, str) for v in fields.values())
