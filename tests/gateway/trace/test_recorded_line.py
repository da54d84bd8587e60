"""End to end: envelopes recorded from a simulated line run (``linegate demo``) through ingest.

The recording (data/demo_line.jsonl) is ``linegate demo --boards 12 --amqp ...`` read back with
``linegate events tail --amqp ... --json``, keeping boards PCB000001-6 and dropping heartbeats and
state changes; the placement machine's component lists are cut to two per feeder.
"""

from __future__ import annotations

import random

import pytest

from gateway.trace import Store, ingest
from gateway.trace import queries as q
from gateway.trace.ingest import micros
from tests.gateway.trace.conftest import recorded_line

LINE = ["linegate.placement.1", "linegate.reflow.1", "linegate.selective-solder.1", "linegate.coater.1"]


async def test_a_boards_complete_genealogy(store: Store) -> None:
    """PCB000003: four machines in line order with all four times, reflow zones, materials, faults."""
    stats = await store.run(lambda: ingest(recorded_line()))
    assert stats.duplicates == 0 and "unknown-board" not in stats.outcomes
    [board] = await store.run(lambda: q.find_boards("PCB000003"))
    record = await store.run(lambda: q.genealogy(board))
    assert [p["machine"] for p in record["passes"]] == LINE
    for passage in record["passes"]:
        assert None not in (passage["arrived"], passage["started"], passage["completed"], passage["departed"])
        assert passage["recipe"]
    assert record["passes"][0]["work_order"] == "WO-24-0001"
    assert record["first_seen"] == record["passes"][0]["arrived"]
    assert record["last_seen"] == record["passes"][-1]["departed"]
    reflow = next(p for p in record["process"] if p["kind"] == "reflow")
    assert reflow["peak_c"] == max(z["peak_c"] or 0 for z in reflow["zones"]) > 217
    assert reflow["above_liquidus_s"] > 0
    assert {m["reel"] for m in record["materials"]} >= {"REEL-RES-10K-0402-1-01-0001"}
    assert [f["code"] for f in record["faults"]] == ["OV-O2-HIGH"]
    # The same board by its Hermes BoardId.
    assert await store.run(lambda: q.find_boards(record["hermes_id"])) == [board]


async def test_boards_of_a_reel_and_boards_in_the_oven_during_the_alarm(store: Store) -> None:
    """The reel reached all six boards; the O2 alarm was active while the first boards were in the oven."""
    envelopes = recorded_line()
    await store.run(lambda: ingest(envelopes))
    reel = await store.run(lambda: q.material_boards("REEL-RES-10K-0402-1-01-0001"))
    assert sorted(r["barcode"] for r in reel) == [f"PCB00000{n}" for n in range(1, 7)]
    [occurred] = [e for e in envelopes if e.message_name.endswith("FaultOccurred")]
    [cleared] = [e for e in envelopes if e.message_name.endswith("FaultCleared")]
    occurrence = str(occurred.body.fault.fault_occurrence_id)  # type: ignore[union-attr]
    fault, boards = await store.run(lambda: q.fault_boards(occurrence))
    assert fault["machine"] == "linegate.reflow.1"
    # Expected from the events themselves: boards whose oven stay overlaps the alarm.
    start, end = micros(occurred.time_stamp), micros(cleared.time_stamp)
    in_oven: dict[str, list[int]] = {}
    for e in envelopes:
        if e.source == "linegate.reflow.1" and e.message_name.endswith(("UnitsArrived", "UnitsDeparted")):
            in_oven.setdefault(e.body.primary_identifier, []).append(micros(e.time_stamp))  # type: ignore[union-attr]
    expected = sorted(b for b, (t0, t1) in in_oven.items() if t0 <= end and t1 >= start)
    assert expected and sorted(b["barcode"] for b in boards) == expected
    window = await store.run(lambda: q.window_boards("linegate.reflow.1", start, end))
    assert sorted(b["barcode"] for b in window) == expected


@pytest.mark.parametrize("size", [25, 1000], ids=["small-batches", "one-batch"])
async def test_shuffled_and_redelivered_recording_gives_the_same_answers(store: Store, size: int) -> None:
    """Every envelope twice, in random order, in small batches or one: the same genealogy as in order."""
    envelopes = recorded_line()
    shuffled = envelopes * 2
    random.Random(17).shuffle(shuffled)
    for i in range(0, len(shuffled), size):
        await store.run(lambda i=i: ingest(shuffled[i : i + size]))
    [board] = await store.run(lambda: q.find_boards("PCB000004"))
    record = await store.run(lambda: q.genealogy(board))
    assert [p["machine"] for p in record["passes"]] == LINE
    assert all(p["departed"] and p["started"] for p in record["passes"])
    assert len(record["process"]) == 3 and record["materials"]
    assert len(await store.run(lambda: q.material_boards("REEL-RES-10K-0402-1-01-0001"))) == 6
