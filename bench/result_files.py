"""A 30 MB AOI result with 50,000 defects, from the file appearing to its CFX envelope published.

The file (one panel of 4 positions, 50,000 defects, about 600 bytes of XML each, as
``simulators.result_files.aoi_xml(detail=True)`` writes it) is generated once. Then, each in a
fresh process so that its peak RSS is its own:

- baseline: ``xml.etree.ElementTree.parse`` of the file and a count of its defects: the memory
  and time of simply loading the document, what a naive reader pays;
- gateway: a result-file machine (FilesAdapter, events mode, rename rule) on a SQLite outbox
  drained to RabbitMQ by the AMQP sink, as ``linegate run`` builds them; the file is renamed into
  the watched folder, the first clock stops when its UnitsInspected envelope and journal row are
  committed, the second when the broker has confirmed the envelope (a durable queue bound to the
  exchange, as an MES has; the bench declares and deletes both).

Each prints wall time, peak RSS (VmHWM) and the RSS the process had before the file (imports,
loop, outbox, broker connection): the difference is what the file cost, publishing included.
The summary gives the ratios gateway / baseline; the issue asks that the file not need ten times
its size in memory.

Second, a sustained stream: small AOI results (one board of 2 positions, a few defects, about
1 KB) dropped at 1,000 files a minute by a separate station process for ``--seconds`` seconds;
the gateway side (outbox drained to the broker as above) reports the CPU it used (user + system,
as a share of one core) and the lag from each file's rename to its events committed and to its
UnitsInspected confirmed by the broker (median, 99th percentile, worst).

``--broker URL`` names the RabbitMQ (default the local test broker); ``--broker none`` stops the
clocks at committed, as before there was a broker to hand.

Run: ``python bench/result_files.py [--defects N] [--keep DIR] [--rate N] [--seconds S] [--broker URL]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from gateway.outbox import Outbox, StoredEvent

ROOT = Path(__file__).resolve().parent.parent
BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"
INSPECTED = "CFX.Production.TestAndInspection.UnitsInspected"
# The sustained part's boards are S00000, S00001, ...: a UnitsInspected names its file by them.
_BOARD = re.compile(rb'"S(\d{5})')


class _Confirmed:
    """The AMQP sink, noting when the broker confirmed each UnitsInspected (by its board)."""

    def __init__(self, inner: object) -> None:
        from gateway.sinks.amqp import AmqpSink

        assert isinstance(inner, AmqpSink)
        self.inner = inner
        self.name = inner.name
        self.pipeline_depth = inner.pipeline_depth
        self.confirmed: dict[str, float] = {}  # board number (or "" for an unnamed board) -> time
        self.changed = asyncio.Event()
        self.largest = 0  # bytes of the largest UnitsInspected envelope

    async def publish(self, batch: list[StoredEvent]) -> None:
        await self.inner.publish(batch)
        now = time.time()
        for event in batch:
            if event.message_name == INSPECTED:
                self.largest = max(self.largest, len(event.payload))
                found = _BOARD.search(event.payload[:4096])
                self.confirmed[found[1].decode() if found else ""] = now
        self.changed.set()

    async def wait(self, count: int) -> None:
        while len(self.confirmed) < count:
            self.changed.clear()
            await self.changed.wait()


@contextlib.asynccontextmanager
async def _published(outbox: Outbox, broker: str | None) -> AsyncIterator[_Confirmed | None]:
    """The outbox drained to ``broker`` through a fresh exchange and durable queue (deleted after);
    None without a broker."""
    if broker is None:
        yield None
        return
    import aio_pika

    from gateway.sinks.amqp import AmqpSink
    from gateway.sinks.base import drain
    from protocols.cfx.transport import CFXPublisher

    name = f"linegate-bench-files-{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect(broker)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(name, durable=True)
        await queue.bind(exchange, "#")
        try:
            async with CFXPublisher(broker, exchange=name) as publisher:
                await publisher.wait_connected(10)
                sink = _Confirmed(AmqpSink(publisher))
                draining = asyncio.create_task(drain(outbox, sink))
                try:
                    yield sink
                finally:
                    draining.cancel()
                    await asyncio.gather(draining, return_exceptions=True)
        finally:
            await queue.delete(if_unused=False, if_empty=False)
            await exchange.delete()


def _memory() -> tuple[float, float]:
    """(resident now, peak resident) in MiB. From /proc where there is one: ``ru_maxrss``
    survives exec on Linux, so a child would report its parent's peak."""
    status = Path("/proc/self/status")
    if status.exists():
        fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return peak, peak


def generate(path: Path, defects: int) -> None:
    from simulators.result_files import aoi_xml, random_board

    board = random_board(random.Random(30), "PANEL-0001", positions=4, defects=defects, readings=200)
    with path.open("wb") as out:
        for chunk in aoi_xml([board], operator="op7", detail=True):
            out.write(chunk)


def baseline(path: Path) -> dict[str, float]:
    import xml.etree.ElementTree as ET

    before, _ = _memory()
    start = time.perf_counter()
    tree = ET.parse(path)
    count = sum(1 for _ in tree.iter("Defect"))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mib": _memory()[1], "before_mib": before, "defects": count}


def gateway(path: Path, broker: str | None) -> dict[str, float]:
    return asyncio.run(_gateway(path, broker))


async def _gateway(path: Path, broker: str | None) -> dict[str, float]:
    from adapters.files import FilesAdapter, FolderOptions, Watch
    from adapters.maps import builtin_map
    from adapters.observations import Observation
    from gateway.outbox import Outbox
    from gateway.runtime import MachineRuntime
    from protocols.files import Readiness, ReadyRule

    work = Path(tempfile.mkdtemp(prefix="linegate-bench-files-"))
    folder = work / "in"
    folder.mkdir()
    result_map = builtin_map("aoi_xml").result  # type: ignore[union-attr]
    options = FolderOptions(folder, watch=Watch.EVENTS, readiness=Readiness(ReadyRule.RENAME, suffix=".tmp"))
    async with Outbox(work / "outbox.sqlite", sinks=["amqp"]) as outbox, _published(outbox, broker) as sink:
        adapter = FilesAdapter("aoi", result_map, options)
        runtime = MachineRuntime("aoi", "Bench.AOI.1", adapter, outbox, "finish_board")
        committed = asyncio.Event()

        async def record(observation: Observation) -> None:
            await runtime.record(observation)  # returns once a file's events are committed
            committed.set()

        task = asyncio.create_task(adapter.run(record))
        await adapter.wait_connected(10)
        await adapter.wait_scans(1)
        staged = folder / (path.name + ".tmp")
        staged.hardlink_to(path)  # the station has written it; the rename makes it appear
        before, _ = _memory()
        start = time.perf_counter()
        staged.rename(folder / path.name)
        await committed.wait()
        seconds = time.perf_counter() - start
        if sink is not None:
            await sink.wait(1)
            payload = sink.largest
        else:
            (payload,) = outbox.db.execute("SELECT max(length(payload)) FROM events").fetchone()
        published = time.perf_counter() - start if sink is not None else float("nan")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return {
        "seconds": seconds,
        "published_seconds": published,
        "peak_mib": _memory()[1],
        "before_mib": before,
        "envelope_mib": payload / 2**20,
    }


def drop(folder: Path, rate: float, count: int) -> None:
    """The station: ``count`` small results at ``rate`` files a minute, each renamed into place;
    ``folder/../manifest`` gets each file's name and rename time."""
    from simulators.result_files import ResultFolder, aoi_xml, random_board

    rng = random.Random(1000)
    station = ResultFolder(folder, "rename")
    every = 60.0 / rate
    start = time.monotonic()
    with (folder.parent / "manifest").open("w") as manifest:
        for i in range(count):
            delay = start + i * every - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            board = random_board(rng, f"S{i:05d}", positions=2, defects=rng.randint(0, 8), readings=4)
            station.drop(f"r{i:05d}.xml", aoi_xml([board]))
            manifest.write(f"r{i:05d}.xml {time.time()}\n")
            manifest.flush()


def sustained(rate: float, seconds: float, broker: str | None) -> dict[str, float]:
    return asyncio.run(_sustained(rate, seconds, broker))


async def _sustained(rate: float, seconds: float, broker: str | None) -> dict[str, float]:
    from adapters.files import FilesAdapter, FolderOptions, Watch
    from adapters.maps import builtin_map
    from adapters.observations import Observation, ResultFileRead
    from gateway.outbox import Outbox
    from gateway.runtime import MachineRuntime
    from protocols.files import Readiness, ReadyRule

    count = int(rate * seconds / 60)
    work = Path(tempfile.mkdtemp(prefix="linegate-bench-rate-"))
    folder = work / "in"
    folder.mkdir()
    options = FolderOptions(folder, watch=Watch.EVENTS, readiness=Readiness(ReadyRule.RENAME, suffix=".tmp"))
    committed: dict[str, float] = {}
    all_done = asyncio.Event()
    async with Outbox(work / "outbox.sqlite", sinks=["amqp"]) as outbox, _published(outbox, broker) as sink:
        adapter = FilesAdapter("aoi", builtin_map("aoi_xml").result, options)  # type: ignore[union-attr]
        runtime = MachineRuntime("aoi", "Bench.AOI.1", adapter, outbox, "finish_board")

        async def record(observation: Observation) -> None:
            await runtime.record(observation)
            if isinstance(observation, ResultFileRead):
                committed[observation.file.name] = time.time()
                if len(committed) >= count:
                    all_done.set()

        task = asyncio.create_task(adapter.run(record))
        await adapter.wait_scans(1)
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        station = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--child", "drop", f"{folder}|{rate}|{count}", cwd=ROOT
        )
        await all_done.wait()
        if sink is not None:
            await sink.wait(count)
        used = resource.getrusage(resource.RUSAGE_SELF)
        await station.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    appeared = dict(line.split() for line in (work / "manifest").read_text().splitlines())
    lags = sorted(committed[name] - float(t) for name, t in appeared.items())
    busy = (used.ru_utime - cpu.ru_utime) + (used.ru_stime - cpu.ru_stime)
    done = max(sink.confirmed.values()) if sink is not None else max(committed.values())
    window = done - min(float(t) for t in appeared.values())
    result = {"files": count, "cpu_share": busy / window, **_percentiles("lag", lags)}
    if sink is not None:
        out = sorted(sink.confirmed[name[1:6]] - float(t) for name, t in appeared.items())
        result |= _percentiles("published", out)
    return result


def _percentiles(name: str, lags: list[float]) -> dict[str, float]:
    return {
        f"{name}_p50_ms": lags[len(lags) // 2] * 1000,
        f"{name}_p99_ms": lags[min(len(lags) - 1, int(len(lags) * 0.99))] * 1000,
        f"{name}_max_ms": lags[-1] * 1000,
    }


def _child(mode: str, path: Path | str, broker: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path), "--broker", broker],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--defects", type=int, default=50_000)
    parser.add_argument("--keep", type=Path, help="write the generated file here and keep it")
    parser.add_argument("--rate", type=float, default=1000.0, help="files a minute (sustained part)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the sustained part")
    parser.add_argument(
        "--broker",
        default=BROKER_URL,
        help=f"RabbitMQ to publish to (default {BROKER_URL}); none: stop at committed",
    )
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    broker = None if args.broker == "none" else args.broker
    if args.child:
        # Log lines cost CPU and would be measured: warnings only.
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
        mode, path = args.child
        if mode == "drop":
            folder, rate, count = path.split("|")
            drop(Path(folder), float(rate), int(count))
            return 0
        if mode == "sustained":
            rate_text, seconds_text = path.split("|")
            print(json.dumps(sustained(float(rate_text), float(seconds_text), broker)))
            return 0
        print(json.dumps(baseline(Path(path)) if mode == "baseline" else gateway(Path(path), broker)))
        return 0
    with tempfile.TemporaryDirectory(prefix="linegate-bench-") as tmp:
        path = (args.keep or Path(tmp)) / "aoi-result.xml"
        generate(path, args.defects)
        size = path.stat().st_size / 2**20
        base = _child("baseline", path, args.broker)
        ours = _child("gateway", path, args.broker)
    print(f"AOI result file: {size:.1f} MiB, {args.defects} defects (one panel, 4 positions, 200 readings)")
    print(f"{'':32} {'time s':>8} {'peak RSS MiB':>13} {'before MiB':>11} {'file cost MiB':>14}")
    for name, r in (("baseline ElementTree.parse", base), ("gateway file→CFX committed", ours)):
        cost = r["peak_mib"] - r["before_mib"]
        print(f"{name:32} {r['seconds']:8.2f} {r['peak_mib']:13.1f} {r['before_mib']:11.1f} {cost:14.1f}")
    if broker is not None:
        published = ours["published_seconds"]
        print(f"{'gateway file→CFX published':32} {published:8.2f}  (broker confirm, in the RSS above)")
    base_cost = base["peak_mib"] - base["before_mib"]
    ours_cost = ours["peak_mib"] - ours["before_mib"]
    print(f"UnitsInspected envelope: {ours['envelope_mib']:.1f} MiB of JSON")
    ratio_time = ours["seconds"] / base["seconds"]
    print(
        f"file cost / file size: gateway {ours_cost / size:.2f}x, baseline {base_cost / size:.2f}x;"
        f" gateway / baseline: memory {ours_cost / base_cost:.2f}, time {ratio_time:.2f}"
    )
    rate = _child("sustained", f"{args.rate}|{args.seconds}", args.broker)
    print(
        f"\nsustained {args.rate:g} files/min for {args.seconds:g} s ({rate['files']:g} files of ~1 KB):"
        f" gateway CPU {rate['cpu_share'] * 100:.1f} % of one core; lag rename→committed"
        f" p50 {rate['lag_p50_ms']:.0f} ms, p99 {rate['lag_p99_ms']:.0f} ms, max {rate['lag_max_ms']:.0f} ms"
    )
    if broker is not None:
        print(
            f"  lag rename→published (broker confirm) p50 {rate['published_p50_ms']:.0f} ms,"
            f" p99 {rate['published_p99_ms']:.0f} ms, max {rate['published_max_ms']:.0f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
