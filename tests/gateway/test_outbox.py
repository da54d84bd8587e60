"""The outbox keeps every committed event until each sink has acknowledged it, in order, across restarts."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from gateway.outbox import Outbox, OutboxFull, OutboxItem, OverflowPolicy, Priority


def item(source: str, n: int, priority: Priority = Priority.BULK, name: str = "CFX.X") -> OutboxItem:
    return OutboxItem(source, name, f"{source}-{n}", f"{source}:{n}".encode(), priority)


async def test_put_returns_after_commit_and_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    async with Outbox(path, sinks=["amqp"]) as outbox:
        seqs = [await outbox.put(item("A", n)) for n in range(3)]
    assert seqs == sorted(seqs)
    async with Outbox(path, sinks=["amqp"]) as outbox:
        batch = outbox.next_batch("amqp")
        assert [e.payload for e in batch] == [b"A:0", b"A:1", b"A:2"]
        assert [e.seq for e in batch] == seqs


async def test_sequence_numbers_are_never_reused(tmp_path: Path) -> None:
    """After every event was delivered and removed, new ones (one group commit, a reopen, the
    overflow path) still get numbers above all earlier ones, so no sink confuses them."""
    path = tmp_path / "outbox.sqlite"
    async with Outbox(path, sinks=["amqp"]) as outbox:
        first = await outbox.put_many(item("A", n) for n in range(3))
        outbox.ack("amqp", first)
        assert outbox.depth() == 0
        second = await outbox.put_many(item("A", n) for n in range(3, 5))
    async with Outbox(path, sinks=["amqp"], max_events=2) as outbox:
        third = await outbox.put_many(item("A", n) for n in range(5, 7))  # drops 3 and 4 to make room
    assert first + second + third == list(range(first[0], first[0] + 7))


async def test_concurrent_puts_share_a_transaction_and_keep_order(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.sqlite", sinks=["amqp"]) as outbox:
        seqs = await asyncio.gather(*(outbox.put(item("A", n)) for n in range(200)))
        assert list(seqs) == sorted(seqs)
        assert [e.payload for e in outbox.next_batch("amqp", limit=500)] == [
            f"A:{n}".encode() for n in range(200)
        ]


async def test_a_backlog_drains_in_put_order_whatever_the_priority(tmp_path: Path) -> None:
    """A state change (HIGH) put after a board event (BULK) of the same source never overtakes it:
    each source's events leave in the order they were put (docs/delivery.md)."""
    async with Outbox(tmp_path / "o.sqlite", sinks=["amqp"]) as outbox:
        await outbox.put(item("oven", 1))
        await outbox.put(item("oven", 2, Priority.HIGH))
        await outbox.put(item("solder", 3))
        await outbox.put(item("oven", 4, Priority.HIGH))
        order = [e.unique_id for e in outbox.next_batch("amqp")]
    assert order == ["oven-1", "oven-2", "solder-3", "oven-4"]


async def test_each_sink_acknowledges_separately(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.sqlite", sinks=["amqp", "mqtt"]) as outbox:
        for n in range(4):
            await outbox.put(item("A", n))
        first = outbox.next_batch("amqp", limit=2)
        outbox.ack("amqp", [e.seq for e in first])
        assert [e.payload for e in outbox.next_batch("amqp")] == [b"A:2", b"A:3"]
        assert outbox.depth("mqtt") == 4
        assert outbox.depth() == 4  # mqtt still needs all four
        outbox.ack("mqtt", [e.seq for e in first])
        assert outbox.depth() == 2
        assert outbox.depth("amqp") == 2


async def test_unacknowledged_batch_is_offered_again(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.sqlite", sinks=["amqp"]) as outbox:
        await outbox.put(item("A", 0))
        assert outbox.next_batch("amqp") == outbox.next_batch("amqp")


async def test_wait_for_events_wakes_on_put(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.sqlite", sinks=["amqp"]) as outbox:
        woke_with: list[int] = []

        async def wait() -> None:
            await outbox.wait_for_events("amqp")
            woke_with.append(outbox.depth("amqp"))

        waiter = asyncio.create_task(wait())
        await outbox.put(item("A", 0))
        await asyncio.wait_for(waiter, timeout=5)
        # It returned for the event put, not before it was committed: there was one to send.
        assert woke_with == [1]
        # With a backlog it returns at once.
        await asyncio.wait_for(outbox.wait_for_events("amqp"), timeout=5)


async def test_drop_oldest_bulk_when_full(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.sqlite", sinks=["amqp"], max_events=3) as outbox:
        await outbox.put(item("oven", 0, Priority.HIGH))
        await outbox.put(item("oven", 1))
        await outbox.put(item("oven", 2))
        with capture_logs() as logs:
            await outbox.put(item("oven", 3))
        assert [e.unique_id for e in outbox.next_batch("amqp")] == ["oven-0", "oven-2", "oven-3"]
        assert outbox.dropped == 1
    dropped = [entry for entry in logs if entry["event"] == "outbox.dropped"]
    assert dropped and dropped[0]["source"] == "oven" and dropped[0]["seq"] is not None
    async with Outbox(tmp_path / "o.sqlite", sinks=["amqp"], max_events=3) as outbox:
        assert outbox.dropped == 1  # the counter survives restarts


async def test_refuse_new_when_full(tmp_path: Path) -> None:
    async with Outbox(
        tmp_path / "o.sqlite", sinks=["amqp"], max_events=2, overflow=OverflowPolicy.REFUSE_NEW
    ) as ob:
        await ob.put(item("A", 0))
        await ob.put(item("A", 1))
        with pytest.raises(OutboxFull, match="max_events=2"):
            await ob.put(item("A", 2))
        ob.ack("amqp", [e.seq for e in ob.next_batch("amqp", limit=1)])
        await ob.put(item("A", 3))
        assert [e.unique_id for e in ob.next_batch("amqp")] == ["A-1", "A-3"]


async def test_new_sink_gets_the_backlog_removed_sink_releases_it(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    async with Outbox(path, sinks=["amqp", "file"]) as outbox:
        for n in range(3):
            await outbox.put(item("A", n))
        outbox.ack("amqp", [e.seq for e in outbox.next_batch("amqp")])
    async with Outbox(path, sinks=["amqp", "mqtt"]) as outbox:
        assert outbox.depth("amqp") == 0  # already delivered: not sent twice
        assert outbox.depth("mqtt") == 3
        outbox.ack("mqtt", [e.seq for e in outbox.next_batch("mqtt")])
        assert outbox.depth() == 0


async def test_unknown_sink_is_a_clear_error(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.sqlite", sinks=["amqp"]) as outbox:
        with pytest.raises(KeyError, match="unknown sink 'mqtt'"):
            outbox.next_batch("mqtt")


def test_invalid_settings() -> None:
    with pytest.raises(ValueError, match="at least one sink"):
        Outbox(":memory:", sinks=[])
    with pytest.raises(ValueError, match="unique"):
        Outbox(":memory:", sinks=["a", "a"])
    with pytest.raises(ValueError, match="durability"):
        Outbox(":memory:", sinks=["a"], durability="maybe")


async def test_oldest_age(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.sqlite", sinks=["amqp"]) as outbox:
        assert outbox.oldest_age() == 0.0
        await outbox.put(item("A", 0))
        created = outbox.next_batch("amqp")[0].created
        assert outbox.oldest_age(now=created + 12.5) == pytest.approx(12.5)


WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from gateway.outbox import Outbox, OutboxItem

    async def main(path):
        async with Outbox(path, sinks=["amqp"]) as outbox:
            n = 0
            while True:
                seqs = await outbox.put_many(
                    OutboxItem("A", "CFX.X", f"A-{n + i}", b"x" * 200) for i in range(10)
                )
                n += 10
                print("committed", n, flush=True)  # everything up to n is on disk

    asyncio.run(main(sys.argv[1]))
    """
)


def test_sigkill_loses_nothing_that_was_committed(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    committed = 0
    for line in proc.stdout:
        if not line.startswith("committed "):
            continue  # log lines
        committed = int(line.split()[1])
        if committed >= 500:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    reopened = Outbox(path, sinks=["amqp"])
    reopened.open()
    try:
        ids = [e.unique_id for e in reopened.next_batch("amqp", limit=1_000_000)]
    finally:
        reopened.close()
    assert len(ids) >= committed
    assert ids[:committed] == [f"A-{n}" for n in range(committed)]
