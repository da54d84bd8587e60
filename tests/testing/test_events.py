"""``cfx_events.wait_for`` finds envelopes by name, body fields, predicate and source, and a miss
fails with a message that says what was seen instead."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest

from gateway.outbox import Priority, StoredEvent
from gateway.testing import CFXEventCollector, EventNotSeen
from tests.testing.support import PLUGIN, setup


def stored(seq: int, name: str, source: str = "Acme.Oven.1", **body: object) -> StoredEvent:
    unique_id = str(uuid.uuid4())
    envelope = {
        "MessageName": name,
        "Version": "2.1",
        "TimeStamp": "2026-05-04T07:19:44.0000000+02:00",
        "UniqueID": unique_id,
        "Source": source,
        "Target": None,
        "RequestID": None,
        "MessageBody": {"$type": f"{name}, CFX", **body},
    }
    return StoredEvent(seq, source, name, unique_id, orjson.dumps(envelope), Priority(1), 0.0)


async def test_wait_for_returns_the_first_match_even_if_it_arrives_later() -> None:
    events = CFXEventCollector()
    await events.publish([stored(1, "CFX.Production.WorkStarted", HermesIdentifier="B1")])
    waiting = asyncio.create_task(
        events.wait_for("CFX.Production.WorkCompleted", where={"HermesIdentifier": "B2"}, timeout=5)
    )
    await events.publish(
        [
            stored(2, "CFX.Production.WorkCompleted", HermesIdentifier="B1"),
            stored(3, "CFX.Production.WorkCompleted", source="Acme.Coater.1", HermesIdentifier="B2"),
        ]
    )
    found = await waiting
    assert found["Source"] == "Acme.Coater.1" and found["MessageBody"]["HermesIdentifier"] == "B2"
    assert events.names()["CFX.Production.WorkCompleted"] == 2
    # A predicate, a source filter and a start position narrow it further.
    first = await events.wait_for("CFX.Production.WorkCompleted", where=lambda e: True, timeout=1)
    assert first["MessageBody"]["HermesIdentifier"] == "B1"
    coater = await events.wait_for("CFX.Production.WorkCompleted", source="Acme.Coater.1", timeout=1)
    assert coater is found
    with pytest.raises(EventNotSeen):
        await events.wait_for("CFX.Production.WorkStarted", since=events.mark(), timeout=0.05)


async def test_a_timeout_lists_what_was_seen_instead() -> None:
    events = CFXEventCollector()
    await events.publish(
        [
            stored(1, "CFX.Heartbeat"),
            stored(2, "CFX.Production.WorkCompleted", HermesIdentifier="B1"),
            stored(3, "CFX.Production.WorkCompleted", HermesIdentifier="B3"),
            stored(4, "CFX.Production.RecipeActivated", RecipeName="X"),
        ]
    )
    with pytest.raises(EventNotSeen) as caught:
        await events.wait_for("CFX.Production.WorkCompleted", where={"HermesIdentifier": "B2"}, timeout=0.05)
    message = str(caught.value)
    assert message.splitlines()[0] == (
        "no CFX.Production.WorkCompleted where HermesIdentifier='B2' within 0.05 s; saw 4 envelope(s) instead"
    )
    assert "      2 x CFX.Production.WorkCompleted" in message
    assert '"HermesIdentifier":"B3"' in message  # the near misses are spelled out
    with pytest.raises(EventNotSeen, match=r"did you mean CFX\.Production\.RecipeActivated\?"):
        await events.wait_for("CFX.ResourcePerformance.RecipeActivated", timeout=0.05)


def test_a_failed_wait_reads_well_in_the_report(pytester: pytest.Pytester) -> None:
    setup(pytester)
    pytester.makepyfile(
        """
        import orjson
        from gateway.outbox import Priority, StoredEvent
        from gateway.testing import CFXEventCollector

        async def test_never_completed():
            events = CFXEventCollector()
            body = {"MessageName": "CFX.Production.WorkStarted", "Source": "Acme.Oven.1",
                    "MessageBody": {"HermesIdentifier": "B1"}}
            await events.publish([StoredEvent(1, "Acme.Oven.1", "CFX.Production.WorkStarted", "u",
                                              orjson.dumps(body), Priority(1), 0.0)])
            await events.wait_for("CFX.Production.WorkCompleted", timeout=0.1)
        """
    )
    result = pytester.runpytest("-p", PLUGIN)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*EventNotSeen: no CFX.Production.WorkCompleted within 0.1 s; saw 1 envelope(s) instead",
            "*1 x CFX.Production.WorkStarted",
            '*Acme.Oven.1 CFX.Production.WorkStarted {"HermesIdentifier":"B1"}',
        ]
    )
    # The failure points at the test's line, not into the plugin's waiting loop.
    assert "_describe_miss" not in result.stdout.str()
