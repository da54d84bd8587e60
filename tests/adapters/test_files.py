"""The result-file adapter: complete files become one observation each, in both watch modes;
bad files are moved aside with a reason and never block the next; duplicates are refused; a
processed file is kept, moved or deleted; a folder that disappears and comes back is survived."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from adapters import observations as obs
from adapters.base import AdapterState, ReconnectPolicy
from adapters.files import Disposal, FilesAdapter, FolderOptions, Watch
from protocols.files import Readiness, ReadyRule
from tests.adapters.recorder import Recorder, eventually
from tests.protocols.files.samples import AOI_FILE, AOI_MAP, XRAY_FILE, XRAY_MAP

RENAME = Readiness(ReadyRule.RENAME, suffix=".tmp")


def _drop(folder: Path, name: str, data: bytes) -> Path:
    """Write as a station following the rename convention does: temporary name, then rename."""
    temporary = folder / f"{name}.tmp"
    temporary.write_bytes(data)
    return temporary.replace(folder / name)


@asynccontextmanager
async def _running(adapter: FilesAdapter, recorder: Recorder) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(adapter.run(recorder))
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _adapter(folder: Path, **options: object) -> FilesAdapter:
    settings = {"watch": Watch.POLL, "interval": 0.05, "readiness": RENAME, **options}
    return FilesAdapter(
        "aoi",
        AOI_MAP,
        FolderOptions(folder, **settings),  # type: ignore[arg-type]
        policy=ReconnectPolicy(base=0.02, cap=0.05),
    )


def _files(recorder: Recorder) -> list[obs.ResultFileRead]:
    return [o for o in recorder.seen if isinstance(o, obs.ResultFileRead)]


@pytest.mark.parametrize("watch", [Watch.POLL, Watch.EVENTS])
async def test_a_dropped_file_becomes_one_observation_with_every_board(tmp_path: Path, watch: Watch) -> None:
    # With events the safety listing is slow (10 s), so only the OS event can be what finds the file.
    adapter = _adapter(tmp_path, watch=watch, interval=0.05 if watch is Watch.POLL else 10.0)
    recorder = Recorder()
    async with _running(adapter, recorder):
        await adapter.wait_connected(5)
        await adapter.wait_scans(1)
        _drop(tmp_path, "a.xml", AOI_FILE)
        read = await recorder.next(obs.ResultFileRead)
        await eventually(lambda: (tmp_path / "processed" / "a.xml").exists())  # after the emit
    assert read.file.name == "a.xml" and read.file.size == len(AOI_FILE)
    assert [r.barcode for r in read.results] == ["PCB0001", "PCB0002"]
    defects = read.results[0].positions[1].defects
    assert [(d.refdes, d.verification) for d in defects] == [
        ("C12", obs.Verification.CONFIRMED),
        ("R3", obs.Verification.FALSE_CALL),
    ]
    assert not (tmp_path / "a.xml").exists() and (tmp_path / "processed" / "a.xml").exists()
    assert adapter.stats.processed == 1 and adapter.stats.boards == 2


async def test_a_file_still_being_written_is_not_read_until_its_size_settles(tmp_path: Path) -> None:
    # A long interval: the folder is listed only when the test asks (rescan), so each listing
    # is one observation of the growing file.
    adapter = _adapter(tmp_path, readiness=Readiness(ReadyRule.STABLE, checks=3), interval=30.0)
    recorder = Recorder()
    half = AOI_FILE[: len(AOI_FILE) // 2]
    (tmp_path / "a.xml").write_bytes(half)

    async def listed(times: int) -> None:
        for _ in range(times):
            scans = adapter.scans
            adapter.rescan()
            await adapter.wait_scans(scans + 1)

    async with _running(adapter, recorder):
        await adapter.wait_scans(1)
        await listed(1)  # the same size twice: not yet three times
        with (tmp_path / "a.xml").open("ab") as f:
            f.write(AOI_FILE[len(half) :])
        await listed(2)  # the new size twice
        assert _files(recorder) == [] and adapter.stats.rejected == 0
        await listed(1)
        read = await recorder.next(obs.ResultFileRead)
    assert read.file.size == len(AOI_FILE) and adapter.stats.rejected == 0


async def test_a_companion_file_says_when_the_result_is_complete(tmp_path: Path) -> None:
    readiness = Readiness(ReadyRule.COMPANION, suffix=".done", pattern=(".xml",))
    adapter = _adapter(tmp_path, readiness=readiness)
    recorder = Recorder()
    (tmp_path / "a.xml").write_bytes(AOI_FILE)
    async with _running(adapter, recorder):
        await adapter.wait_scans(2)
        assert _files(recorder) == []
        (tmp_path / "a.done").write_bytes(b"")
        await recorder.next(obs.ResultFileRead)
        await eventually(lambda: not (tmp_path / "a.done").exists())
    assert sorted(p.name for p in (tmp_path / "processed").iterdir()) == ["a.done", "a.xml"]


async def test_a_malformed_file_is_moved_aside_with_its_reason_and_the_next_is_read(tmp_path: Path) -> None:
    adapter = _adapter(tmp_path)
    recorder = Recorder()
    with capture_logs() as logs:
        async with _running(adapter, recorder):
            _drop(tmp_path, "bad.xml", AOI_FILE[:200])
            await eventually(lambda: (tmp_path / "rejected" / "bad.xml").exists())
            _drop(tmp_path, "good.xml", AOI_FILE)
            read = await recorder.next(obs.ResultFileRead)
    assert read.file.name == "good.xml" and len(_files(recorder)) == 1
    reason = (tmp_path / "rejected" / "bad.xml.reason").read_text()
    assert "bad.xml (line" in reason and "byte" in reason
    assert adapter.stats.rejected == 1
    (event,) = [e for e in logs if e["event"] == "files.rejected"]
    assert event["file"] == "bad.xml" and event["line"] is not None


async def test_the_same_content_under_a_new_name_is_a_duplicate(tmp_path: Path) -> None:
    adapter = _adapter(tmp_path)
    recorder = Recorder()
    with capture_logs() as logs:
        async with _running(adapter, recorder):
            _drop(tmp_path, "a.xml", AOI_FILE)
            await recorder.next(obs.ResultFileRead)
            _drop(tmp_path, "copy-of-a.xml", AOI_FILE)
            await eventually(lambda: (tmp_path / "rejected" / "copy-of-a.xml").exists())
            _drop(tmp_path, "a.xml", AOI_FILE)  # the same file again, same name
            await eventually(lambda: (tmp_path / "rejected" / "a.xml").exists())
    assert len(_files(recorder)) == 1 and adapter.stats.duplicates == 2
    assert "duplicate of a.xml" in (tmp_path / "rejected" / "copy-of-a.xml.reason").read_text()
    assert [e["duplicate_of"] for e in logs if e["event"] == "files.duplicate"] == ["a.xml", "a.xml"]


@pytest.mark.parametrize("disposal", list(Disposal))
async def test_a_processed_file_is_kept_moved_or_deleted(tmp_path: Path, disposal: Disposal) -> None:
    adapter = _adapter(tmp_path, processed=disposal, processed_folder=tmp_path / "done")
    recorder = Recorder()
    async with _running(adapter, recorder):
        _drop(tmp_path, "a.xml", AOI_FILE)
        await recorder.next(obs.ResultFileRead)
        scans = adapter.scans
        await adapter.wait_scans(scans + 3)  # a kept file is not read again
    assert len(_files(recorder)) == 1
    assert (tmp_path / "a.xml").exists() is (disposal is Disposal.KEEP)
    assert (tmp_path / "done" / "a.xml").exists() is (disposal is Disposal.MOVE)


@pytest.mark.parametrize("watch", [Watch.POLL, Watch.EVENTS])
async def test_a_folder_that_disappears_and_comes_back_is_survived(tmp_path: Path, watch: Watch) -> None:
    folder = tmp_path / "share"
    folder.mkdir()
    adapter = _adapter(folder, watch=watch)
    recorder = Recorder()
    async with _running(adapter, recorder):
        await adapter.wait_connected(5)
        aside = tmp_path / "share-down"
        folder.rename(aside)  # the share goes away
        await eventually(lambda: adapter.health.state is not AdapterState.CONNECTED)
        assert adapter.health.last_error is not None and "share" in adapter.health.last_error
        aside.rename(folder)
        await adapter.wait_connected(5)
        _drop(folder, "a.xml", AOI_FILE)
        read = await recorder.next(obs.ResultFileRead)
    assert read.file.name == "a.xml" and adapter.health.connects >= 2


async def test_a_csv_station_works_the_same_way(tmp_path: Path) -> None:
    adapter = FilesAdapter(
        "xray", XRAY_MAP, FolderOptions(tmp_path, watch=Watch.POLL, interval=0.05, readiness=RENAME)
    )
    recorder = Recorder()
    async with _running(adapter, recorder):
        _drop(tmp_path, "x.csv", XRAY_FILE)
        read = await recorder.next(obs.ResultFileRead)
    assert [r.method for r in read.results] == ["AXI", "AXI"]


async def test_an_emit_that_fails_leaves_the_file_for_the_next_session(tmp_path: Path) -> None:
    adapter = _adapter(tmp_path)
    recorder = Recorder()
    failures = [RuntimeError("outbox closed")]

    async def flaky(o: obs.Observation) -> None:
        if failures and isinstance(o, obs.ResultFileRead):
            raise failures.pop()
        await recorder(o)

    task = asyncio.create_task(adapter.run(flaky))
    try:
        _drop(tmp_path, "a.xml", AOI_FILE)
        with pytest.raises(RuntimeError):
            await task  # the supervisor in the gateway restarts a crashed adapter
        assert (tmp_path / "a.xml").exists()
        task = asyncio.create_task(adapter.run(flaky))
        read = await recorder.next(obs.ResultFileRead)
        assert read.file.name == "a.xml"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_file_the_gateway_may_not_read_is_set_aside_and_blocks_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tests run as root, whom chmod does not stop: the refusal is injected at the read.
    adapter = _adapter(tmp_path)
    read = adapter._read

    async def refuse(path: Path, name: str, stat: object) -> object:
        if name == "locked.xml":
            raise PermissionError(13, "Permission denied")
        return await read(path, name, stat)  # type: ignore[arg-type]

    monkeypatch.setattr(adapter, "_read", refuse)
    recorder = Recorder()
    async with _running(adapter, recorder):
        _drop(tmp_path, "locked.xml", AOI_FILE)
        _drop(tmp_path, "next.xml", AOI_FILE.replace(b"PCB", b"NXT"))
        found = await recorder.next(obs.ResultFileRead)
        await eventually(lambda: (tmp_path / "rejected" / "locked.xml.reason").exists())
    assert found.file.name == "next.xml" and adapter.stats.rejected == 1
    assert "Permission denied" in (tmp_path / "rejected" / "locked.xml.reason").read_text()
