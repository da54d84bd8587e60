"""PublishFramer's bytes are the frames pamqp marshals for the same publish (AMQP 0-9-1 §4.2)."""

from __future__ import annotations

from datetime import UTC, datetime

import pamqp.frame
import pytest
from pamqp import commands
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from protocols.cfx.transport.framing import PublishFramer
from protocols.errors import LocalProtocolError

CONTENT_TYPE = 'application/json; charset="utf-8"'


def reference(
    channel: int,
    frame_max: int,
    *,
    key: str,
    message_id: str,
    body: bytes,
    timestamp: int | None = None,
    encoding: str | None = None,
    mandatory: bool = False,
) -> bytes:
    """The same publish marshalled by pamqp, frame by frame."""
    properties = commands.Basic.Properties(
        content_type=CONTENT_TYPE,
        content_encoding=encoding,
        delivery_mode=2,
        message_id=message_id,
        timestamp=None if timestamp is None else datetime.fromtimestamp(timestamp, UTC),
    )
    frames: list[bytes] = [
        pamqp.frame.marshal(
            commands.Basic.Publish(exchange="cfx", routing_key=key, mandatory=mandatory), channel
        ),
        pamqp.frame.marshal(ContentHeader(0, len(body), properties), channel),
    ]
    step = frame_max - 8
    frames += [
        pamqp.frame.marshal(ContentBody(body[i : i + step]), channel) for i in range(0, len(body), step)
    ]
    return b"".join(frames)


@pytest.mark.parametrize("size", [0, 1, 131_063, 131_064, 131_065, 400_000])
def test_frames_equal_pamqp_for_bodies_around_the_frame_size(size: int) -> None:
    """Bodies are split at frame_max - 8 bytes, an empty body has no body frame."""
    body = bytes(range(256)) * (size // 256) + bytes(size % 256)
    framer = PublishFramer(1, 131_072, exchange="cfx", content_type=CONTENT_TYPE)
    got = framer.encode("A.B.C.CFX.Heartbeat", "id-1", None, body)
    assert got == reference(1, 131_072, key="A.B.C.CFX.Heartbeat", message_id="id-1", body=body)


def test_optional_properties_and_flags_equal_pamqp() -> None:
    """content-encoding, timestamp and mandatory are encoded as pamqp does; the channel is used."""
    framer = PublishFramer(
        7, 4096, exchange="cfx", content_type=CONTENT_TYPE, content_encoding="gzip", mandatory=True
    )
    for _ in range(2):  # the second call uses the cached method frame
        got = framer.encode("H.CFX.X", "uid", 1_767_225_600, b"x" * 5000)
        assert got == reference(
            7,
            4096,
            key="H.CFX.X",
            message_id="uid",
            body=b"x" * 5000,
            timestamp=1_767_225_600,
            encoding="gzip",
            mandatory=True,
        )


def test_a_routing_key_over_255_bytes_is_a_local_error() -> None:
    framer = PublishFramer(1, 131_072, exchange="cfx", content_type=CONTENT_TYPE)
    with pytest.raises(LocalProtocolError, match="routing key is 256 bytes"):
        framer.encode("k" * 256, "id", None, b"{}")
    with pytest.raises(LocalProtocolError, match="message-id"):
        framer.encode("k", "i" * 300, None, b"{}")
