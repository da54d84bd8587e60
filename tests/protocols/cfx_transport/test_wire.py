"""Byte-level CFX/AMQP facts: routing keys, application properties, gzip framing, addresses, backoff."""

from __future__ import annotations

import gzip

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.backoff import Backoff
from protocols.cfx import codec
from protocols.cfx.transport.wire import (
    ADDRESS_V1,
    ADDRESS_V2,
    CONTENT_TYPE,
    MalformedPayload,
    application_properties,
    cfx_topic,
    decode_payload,
    encode_payload,
    is_gzip,
    redact_url,
    reply_address,
    routing_key,
    with_heartbeat,
)
from protocols.errors import RemoteProtocolError


def test_routing_key_is_source_dot_message_name() -> None:
    """reference §2.2: the default subject is "<Source>.<MessageName>"."""
    assert (
        routing_key("AcmeThermal.RF-X10.SN20451", "CFX.ResourcePerformance.FaultOccurred")
        == "AcmeThermal.RF-X10.SN20451.CFX.ResourcePerformance.FaultOccurred"
    )


def test_application_properties_follow_the_sdk() -> None:
    """cfx-topic is the namespace, cfx-message the name, cfx-handle/target the addressing."""
    assert application_properties(message_name="CFX.Production.WorkStarted", source="A.B.C", target=None) == {
        "cfx-topic": "CFX.Production",
        "cfx-message": "CFX.Production.WorkStarted",
        "cfx-handle": "A.B.C",
        "cfx-target": None,
    }
    assert cfx_topic("CFX.Heartbeat") == "CFX"


def test_content_type_is_the_sdk_string() -> None:
    assert CONTENT_TYPE == 'application/json; charset="utf-8"'


@pytest.mark.parametrize("encoding", ["gzip", "GZIP", " Gzip "])
def test_gzip_is_recognised_case_insensitively(encoding: str) -> None:
    assert is_gzip(encoding)


def test_other_encodings_are_not_gzip() -> None:
    assert not is_gzip(None)
    assert not is_gzip("deflate")


@given(st.binary(max_size=4096), st.booleans())
def test_payload_round_trips(data: bytes, compress: bool) -> None:
    """encode_payload then decode_payload gives the JSON bytes back, compressed or not."""
    body, encoding = encode_payload(data, compress=compress)
    assert (encoding == "gzip") is compress
    assert decode_payload(body, encoding) == data


def test_gzip_payload_is_standard_gzip() -> None:
    body, _ = encode_payload(b'{"a":1}', compress=True)
    assert gzip.decompress(body) == b'{"a":1}'


@pytest.mark.parametrize("body", [b"", b"{}", b"\x1f\x8b\x08garbage", gzip.compress(b"{}")[:-6]])
def test_bad_gzip_raises_remote_protocol_error(body: bytes) -> None:
    with pytest.raises(MalformedPayload) as info:
        decode_payload(body, "gzip")
    assert isinstance(info.value, RemoteProtocolError)


def test_gzip_bomb_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A body inflating past the cap is refused without inflating it all (cap lowered for speed)."""
    assert codec.MAX_INFLATED_SIZE >= 32 * 1024 * 1024  # reference §5: 20-30 MB messages exist
    monkeypatch.setattr(codec, "MAX_INFLATED_SIZE", 1024 * 1024)  # the one bound, in the codec
    bomb = gzip.compress(b"\x00" * (1024 * 1024 + 1))
    with pytest.raises(MalformedPayload, match="inflates beyond"):
        decode_payload(bomb, "gzip")


def test_raw_payload_is_passed_through_untouched() -> None:
    assert decode_payload(b"\x1f\x8bnot gzip", None) == b"\x1f\x8bnot gzip"


def test_address_formats_v1_and_v2() -> None:
    """RabbitMQ 3.x uses /exchange/X/RK and /queue/Q; 4.x /exchanges/X/RK and /queues/Q."""
    assert ADDRESS_V1.exchange_address("cfx", "A.CFX.Heartbeat") == "/exchange/cfx/A.CFX.Heartbeat"
    assert ADDRESS_V1.queue_address("q1") == "/queue/q1"
    assert ADDRESS_V2.exchange_address("cfx", "k") == "/exchanges/cfx/k"
    assert ADDRESS_V2.queue_address("q1") == "/queues/q1"


def test_reply_address_is_handle_dash_guid_and_unique() -> None:
    first, second = reply_address("Line1.Gateway"), reply_address("Line1.Gateway")
    assert first.startswith("Line1.Gateway-") and len(first) == len("Line1.Gateway-") + 36
    assert first != second


def test_backoff_grows_to_its_cap_and_never_spins() -> None:
    """Each delay is at least the floor and at most min(cap, base * factor**attempt)."""
    backoff = Backoff(base=0.1, cap=2.0, floor=0.05)
    delays = [backoff.next_delay() for _ in range(40)]
    assert all(0.05 <= delay <= 2.0 for delay in delays)
    for attempt, delay in enumerate(delays):
        assert delay <= max(0.05, min(2.0, 0.1 * 2.0**attempt))
    assert max(delays[10:]) > 0.2  # it does grow (20+ draws below 0.2 of 2.0 are vanishingly rare)


def test_backoff_reset_starts_over() -> None:
    backoff = Backoff(base=0.1, cap=10.0, floor=0.01)
    for _ in range(10):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() <= 0.1


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("amqp://line:s3cret@broker:5672/") == "amqp://line:***@broker:5672/"
    assert redact_url("amqps://broker:5671") == "amqps://broker:5671"
    assert redact_url("amqp://user@broker") == "amqp://user@broker"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("amqp://guest:guest@mq1:5672/", "amqp://guest:guest@mq1:5672/?heartbeat=10"),
        ("amqps://mq1/factory?connection_timeout=5", "amqps://mq1/factory?connection_timeout=5&heartbeat=10"),
        ("amqp://mq1/?heartbeat=3", "amqp://mq1/?heartbeat=3"),  # the user's own value wins
        ("amqp://mq1/?a=1&heartbeat=0", "amqp://mq1/?a=1&heartbeat=0"),  # off, as asked
        ("amqp://mq1/#x", "amqp://mq1/?heartbeat=10#x"),
    ],
)
def test_a_broker_url_without_heartbeat_asks_for_a_short_one(url: str, expected: str) -> None:
    assert with_heartbeat(url) == expected
