"""A result-file machine in ``linegate run`` and ``linegate check``: the config is checked with
key paths, and a gateway killed with SIGKILL while it works through a folder of results, then
started again, publishes every file's results exactly once."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
import watchfiles

from gateway.assemble import check_line
from gateway.config import load_config
from protocols.errors import ConfigError
from simulators.result_files import ResultFolder, aoi_xml, random_board

pytestmark = pytest.mark.timeout(180)
INSPECTED = "CFX.Production.TestAndInspection.UnitsInspected"


def _config(tmp_path: Path, connection: str, map_: str = "builtin:aoi_xml") -> Path:
    path = tmp_path / "line.toml"
    path.write_text(
        f"""
[line]
name = "files"

[outbox]
path = "{tmp_path / "outbox.sqlite"}"

[listener]
port = 0

[http]
port = 0

[[machines]]
id = "aoi"
handle = "Acme.AOI.1"
protocol = "files"
map = "{map_}"
connection = {connection}
""",
        encoding="utf-8",
    )
    return path


def test_check_accepts_a_files_machine(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        '{ folder = "in", watch = "poll", interval = 1.5, ready = { rule = "stable", checks = 3 },'
        ' processed = "delete", pattern = ".xml", journal_days = 30 }',
    )
    check_line(load_config(config))


@pytest.mark.parametrize(
    ("connection", "key", "problem"),
    [
        ('{ watch = "poll" }', "machines[0].connection.folder", "is required"),
        ('{ folder = "in", watch = "inotify" }', "machines[0].connection.watch", "'events', 'poll'"),
        ('{ folder = "in", ready = "done" }', "machines[0].connection.ready.rule", "'stable'"),
        (
            '{ folder = "in", ready = { rule = "stable", checks = 1 } }',
            "machines[0].connection.ready.checks",
            "2",
        ),
        (
            '{ folder = "in", ready = { rule = "rename", suffix = "tmp" } }',
            "machines[0].connection.ready.suffix",
            ".",
        ),
        ('{ folder = "in", processed = "archive" }', "machines[0].connection.processed", "'keep'"),
        ('{ folder = "in", interval = 0 }', "machines[0].connection.interval", "between"),
        ('{ folder = "in", intervall = 2 }', "machines[0].connection.intervall", "unknown key"),
        ('{ folder = "in", interval = 30 }', "line.link_grace", "too short"),
        ('{ folder = "in", journal_days = -1 }', "machines[0].connection.journal_days", "0 (for ever)"),
    ],
)
def test_check_names_the_wrong_key(tmp_path: Path, connection: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_line(load_config(_config(tmp_path, connection)))
    assert caught.value.key == key and problem in caught.value.problem


def test_check_refuses_another_protocols_map(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        check_line(load_config(_config(tmp_path, '{ folder = "in" }', map_="builtin:coater")))
    assert caught.value.key == "machines[0].map" and "files map" in caught.value.problem


def test_a_files_map_with_a_wrong_key_names_it(tmp_path: Path) -> None:
    (tmp_path / "aoi.toml").write_text(
        '[machine]\nprotocol = "files"\n[files]\nformat = "xml"\n[elements]\nboard = "Board"\n'
        '[board]\nbarcode = "@barcode"\n[defect]\ncode = "@code"\nrefdez = "@ref"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        check_line(load_config(_config(tmp_path, '{ folder = "in" }', map_="aoi.toml")))
    # Named by the config file and key that reference the map, then the map file and its key.
    assert (caught.value.path, caught.value.key) == (str(tmp_path / "line.toml"), "machines[0].map")
    assert caught.value.problem.startswith(f"{tmp_path / 'aoi.toml'}: defect.refdez: unknown field")


async def _start(config: Path, events: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "LINEGATE_LOG_LEVEL": "warning"}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "run",
        str(config),
        "--events-file",
        str(events),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
    )


async def _until(condition: Callable[[], bool], folder: Path, deadline: float = 60.0) -> None:
    # The gateway is another process: its progress shows in the folder, so the test waits on
    # the folder's change events (and looks again every half second should one be missed).
    async with asyncio.timeout(deadline):
        async for _ in watchfiles.awatch(
            folder, debounce=20, step=10, rust_timeout=500, yield_on_timeout=True
        ):
            if condition():
                return


async def test_sigkill_mid_stream_and_restart_publish_every_file_once(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    station = ResultFolder(folder, "rename")
    rng = random.Random(16)
    before, during = 80, 20  # files dropped before the first start, and while the gateway is down
    files = before + during

    def drop(numbers: range) -> None:
        for i in numbers:
            boards = [random_board(rng, f"F{i:03d}-{side}", positions=2, defects=100) for side in "AB"]
            station.drop(f"r{i:03d}.xml", aoi_xml(boards))

    drop(range(before))
    config = _config(tmp_path, '{ folder = "in", watch = "events", interval = 0.2, ready = "rename" }')
    events = tmp_path / "events.jsonl"
    processed = folder / "processed"

    def done() -> int:
        return len(list(processed.glob("*.xml"))) if processed.exists() else 0

    gateway = await _start(config, events)
    try:
        await _until(lambda: done() >= 10, folder)
        gateway.send_signal(signal.SIGKILL)
        assert await gateway.wait() == -signal.SIGKILL
        assert done() < before, "the kill came after the last file: nothing was mid-stream"
        drop(range(before, files))
        gateway = await _start(config, events)
        await _until(lambda: done() == files, folder)
        gateway.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(gateway.wait(), 60) == 0
    finally:
        if gateway.returncode is None:
            gateway.kill()
            await gateway.wait()
    # Delivery to the events file is at least once (an event written just before the kill is
    # written again): count each envelope once by its UniqueID, then each board.
    envelopes = {e["UniqueID"]: e for e in map(orjson.loads, events.read_bytes().splitlines())}
    boards = Counter(
        e["MessageBody"]["InspectedUnits"][0]["UnitIdentifier"].rsplit("-", 1)[0]
        for e in envelopes.values()
        if e["MessageName"] == INSPECTED
    )
    expected = {f"F{i:03d}-{side}" for i in range(files) for side in "AB"}
    assert set(boards) == expected
    assert [b for b, n in boards.items() if n != 1] == []
    db = sqlite3.connect(tmp_path / "outbox.sqlite")
    try:
        assert db.execute("SELECT count(*), sum(events) FROM result_files").fetchone() == (files, 2 * files)
    finally:
        db.close()
    assert list(folder.glob("*.xml")) == [] and not (folder / "rejected").exists()
