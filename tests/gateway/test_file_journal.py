"""A result file's events and its journal row commit in one transaction: a file is published
once, across a restart that comes between the commit and the file's disposal, and a refused
commit leaves neither events nor row behind."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from structlog.testing import capture_logs

from adapters import observations as obs
from adapters.base import ReconnectPolicy
from adapters.files import FilesAdapter, FolderOptions, Watch
from gateway.http.collect import render_metrics
from gateway.outbox import Outbox, OutboxFull, OverflowPolicy
from gateway.recipes import RecipeService
from gateway.runtime import Gateway, MachineRuntime
from protocols.files import Readiness, ReadyRule
from tests.adapters.recorder import eventually
from tests.gateway.test_http import parse_metrics, value
from tests.protocols.files.samples import AOI_FILE, AOI_MAP


def _runtime(folder: Path, outbox: Outbox) -> MachineRuntime:
    options = FolderOptions(
        folder, watch=Watch.POLL, interval=0.05, readiness=Readiness(ReadyRule.RENAME, suffix=".tmp")
    )
    adapter = FilesAdapter("aoi", AOI_MAP, options, policy=ReconnectPolicy(base=0.02, cap=0.05))
    return MachineRuntime("aoi", "Acme.AOI.1", adapter, outbox, "finish_board")


def _inspected(outbox: Outbox) -> list[str]:
    rows = outbox.db.execute(
        "SELECT payload FROM events WHERE message_name = 'CFX.Production.TestAndInspection.UnitsInspected'"
        " ORDER BY seq"
    ).fetchall()
    return [orjson.loads(r[0])["MessageBody"]["InspectedUnits"][0]["UnitIdentifier"] for r in rows]


async def _process(runtime: MachineRuntime, until: int) -> None:
    task = asyncio.create_task(runtime.adapter.run(runtime.record))
    try:
        await eventually(lambda: runtime.events >= until)
        assert isinstance(runtime.adapter, FilesAdapter)
        await runtime.adapter.wait_scans(runtime.adapter.scans + 2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_file_committed_but_not_yet_moved_is_not_published_again(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.xml").write_bytes(AOI_FILE)
    async with Outbox(tmp_path / "outbox.sqlite", sinks=["test"]) as outbox:
        await _process(_runtime(folder, outbox), until=2)
        assert _inspected(outbox) == ["PCB0001-1", "PCB0002"]
        row = outbox.db.execute("SELECT name, size, events FROM result_files").fetchone()
        assert row == ("a.xml", len(AOI_FILE), 2)
    # The process died after the commit and before the move: the file is back, same name,
    # size and mtime (copy2 keeps the mtime).
    shutil.copy2(folder / "processed" / "a.xml", folder / "a.xml")
    (folder / "processed" / "a.xml").unlink()
    async with Outbox(tmp_path / "outbox.sqlite", sinks=["test"]) as outbox:
        runtime = _runtime(folder, outbox)
        assert isinstance(runtime.adapter, FilesAdapter)
        task = asyncio.create_task(runtime.adapter.run(runtime.record))
        try:
            await eventually(lambda: (folder / "processed" / "a.xml").exists())
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert runtime.events == 0 and runtime.adapter.stats.duplicates == 0
        assert _inspected(outbox) == ["PCB0001-1", "PCB0002"]


async def test_a_refused_group_commits_neither_events_nor_journal_row(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", sinks=["test"], max_events=1, overflow=OverflowPolicy.REFUSE_NEW)
    async with outbox:
        runtime = _runtime(tmp_path, outbox)
        assert runtime.journal is not None
        result = obs.InspectionResult(machine_id="aoi", at=datetime.now(UTC))
        read = obs.ResultFileRead(
            machine_id="aoi",
            at=datetime.now(UTC),
            file=obs.ResultFile("a.xml", 1, 1, "ab" * 32),
            results=(result, result),
        )
        with pytest.raises(OutboxFull):
            await runtime.record(read)
        assert outbox.depth() == 0
        assert runtime.journal.find("ab" * 32) is None
    db = sqlite3.connect(tmp_path / "o.sqlite")
    assert db.execute("SELECT count(*) FROM result_files").fetchone() == (0,)
    db.close()


async def test_metrics_count_processed_rejected_duplicate_files_and_unknown_boards(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.xml").write_bytes(AOI_FILE)
    (folder / "copy.xml").write_bytes(AOI_FILE)
    (folder / "bad.xml").write_bytes(AOI_FILE[:100])
    async with Outbox(tmp_path / "outbox.sqlite", sinks=["test"]) as outbox:
        runtime = _runtime(folder, outbox)
        gateway = Gateway(outbox, [runtime], [], RecipeService({"aoi": runtime}), heartbeat=None)
        adapter = runtime.adapter
        assert isinstance(adapter, FilesAdapter)
        task = asyncio.create_task(adapter.run(runtime.record))
        try:
            await eventually(lambda: not any(folder.glob("*.xml")))
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        _, samples = parse_metrics(render_metrics(gateway, None, None))
    for outcome in ("processed", "rejected", "duplicate"):
        assert value(samples, "linegate_result_files_total", machine="aoi", outcome=outcome) == 1
    # Neither board of the file was ever seen by the gateway: both went out flagged.
    assert value(samples, "linegate_unknown_board_results_total", machine="aoi") == 2


async def test_the_journal_forgets_files_older_than_journal_days(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    async with Outbox(tmp_path / "outbox.sqlite", sinks=["test"]) as outbox:
        runtime = _runtime(folder, outbox)
        journal = runtime.journal
        assert journal is not None
        old, new = obs.ResultFile("old.xml", 1, 1, "01" * 32), obs.ResultFile("new.xml", 1, 1, "02" * 32)
        await outbox.put_group([], [journal.statement(old, 0)])
        await outbox.put_group([], [journal.statement(new, 0)])
        hundred_days = datetime.now(UTC).timestamp() - 100 * 86400
        outbox.db.execute("UPDATE result_files SET processed = ? WHERE name = 'old.xml'", (hundred_days,))
        adapter = runtime.adapter
        assert isinstance(adapter, FilesAdapter) and adapter.options.journal_days == 90
        with capture_logs() as logs:
            task = asyncio.create_task(adapter.run(runtime.record))
            try:
                await adapter.wait_scans(1)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        assert journal.find("01" * 32) is None and journal.find("02" * 32) is not None
        assert [e["forgotten"] for e in logs if e["event"] == "files.journal_pruned"] == [1]
