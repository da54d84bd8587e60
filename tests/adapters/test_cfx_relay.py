"""A CFX machine's traffic relayed through linegate changes nothing (issue 15).

The SDK's own envelopes (every event of the conformance set) are sent as a CFX machine sends them,
over AMQP 1.0 to the CFX-native adapter's listener; what the gateway stores for publishing is the
very bytes that came in. Non-canonical input is forwarded unchanged too, with its findings logged.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import orjson
import pytest
from proton import Message
from proton.utils import BlockingConnection
from structlog.testing import capture_logs

from gateway.runtime import outbox_item
from protocols.cfx import is_request
from tests.adapters.test_cfx_native import ADDRESS, WAIT, Gateway, make_adapter, running
from tests.protocols.cfx.helpers import conformance_files

SDK_SOURCE = "SDKGen.Source.1"  # the Source of every envelope in the set


def _events() -> list[bytes]:
    events = []
    for path in conformance_files():
        data = path.read_bytes().strip()
        doc = orjson.loads(data)
        name = doc["MessageName"]
        if not (is_request(name) or name.endswith("Response") or doc["Target"] or doc["RequestID"]):
            events.append(data)
    return events


EVENTS = _events()


def _send(uri: str, bodies: list[bytes]) -> None:
    # As a CFX machine publishes: one AMQP 1.0 transfer per envelope, the JSON as its data section.
    connection = BlockingConnection(uri, timeout=WAIT)
    try:
        sender = connection.create_sender(ADDRESS)
        for body in bodies:
            sender.send(Message(body=body, inferred=True), timeout=WAIT)
    finally:
        connection.close()


@pytest.mark.skipif(not EVENTS, reason="no CFX SDK conformance set beside this checkout")
async def test_sdk_published_events_are_stored_as_they_came() -> None:
    """All 319 events the SDK wrote, every polymorphic variant included: byte for byte, no finding."""
    gateway = Gateway()
    adapter = make_adapter(gateway, SimpleNamespace(uri=None), handle=SDK_SOURCE)  # type: ignore[arg-type]
    with capture_logs() as logs:
        async with running(adapter):
            assert adapter.events_uri is not None
            sending = asyncio.create_task(asyncio.to_thread(_send, adapter.events_uri, EVENTS))
            stored = [outbox_item(await gateway.next_envelope()).payload for _ in EVENTS]
            await sending
    assert len(EVENTS) == 319
    assert stored == EVENTS
    assert (adapter.stats.forwarded, adapter.stats.rejected, adapter.stats.findings) == (319, 0, 0)
    assert not [e for e in logs if e["event"] in ("envelope.findings", "envelope.rejected")]


@pytest.mark.skipif(not EVENTS, reason="no CFX SDK conformance set beside this checkout")
async def test_what_the_sdk_would_not_write_is_relayed_unchanged_with_its_findings() -> None:
    """Lower-case member names, a naive timestamp, 8 fractional digits: forwarded as received, logged."""
    odd = (
        EVENTS[0]
        .replace(
            b'"TimeStamp":"2026-05-04T07:01:12.1234567+02:00"', b'"TimeStamp":"2026-05-04T07:01:12.12345678"'
        )
        .replace(b'"Version"', b'"version"')
    )
    assert odd != EVENTS[0]
    gateway = Gateway()
    adapter = make_adapter(gateway, SimpleNamespace(uri=None), handle=SDK_SOURCE)  # type: ignore[arg-type]
    with capture_logs() as logs:
        async with running(adapter):
            assert adapter.events_uri is not None
            await asyncio.to_thread(_send, adapter.events_uri, [odd])
            stored = outbox_item(await gateway.next_envelope()).payload
    assert stored == odd
    assert adapter.stats.findings == 1
    [finding] = [e for e in logs if e["event"] == "envelope.findings"]
    rules = " ".join(finding["findings"])
    assert "[key-casing]" in rules and "[timestamp-format]" in rules and "[timestamp-naive]" in rules
