"""The soak's readings and report: one sample of the gateway, the RSS bar and trend, the printed figures.

Used by ``bench/soak.py`` (run as a script, so this module is imported from beside it).
"""

from __future__ import annotations

import collections
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TARGET_MB = 120.0
TARGET_GROWTH = 5.0


@dataclasses.dataclass(slots=True)
class Sample:
    """One reading of the gateway."""

    t: float
    rss_mb: float
    hwm_mb: float
    anon_mb: float  # heap, stacks: what the process allocated
    file_mb: float  # mapped files: the interpreter, shared libraries, extension modules
    threads: int
    fds: int
    cpu_percent: float  # of one core, since the previous sample
    committed: int
    delivered: int
    backlog: int
    boards: int  # open work transactions over all machines (boards_in_process)
    committed_per_s: float
    delivered_per_s: float


def bar(mb: float, width: int = 40) -> str:
    """RSS as a bar where the full width is the 120 MB target."""
    filled = min(width, round(mb / TARGET_MB * width))
    return "#" * filled + "." * (width - filled)


def trend_mb_per_hour(samples: Sequence[Sample]) -> float:
    """Least-squares slope of RSS over time, in MB per hour."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mean_t = sum(s.t for s in samples) / n
    mean_r = sum(s.rss_mb for s in samples) / n
    var = sum((s.t - mean_t) ** 2 for s in samples)
    if var == 0:
        return 0.0
    return 3600.0 * sum((s.t - mean_t) * (s.rss_mb - mean_r) for s in samples) / var


def compare_snapshots(workdir: Path, top: int = 25) -> list[str]:
    """What grew between the first and the last snapshot, biggest first."""
    import tracemalloc

    first = tracemalloc.Snapshot.load(str(workdir / "snapshot-1.pickle"))
    last = tracemalloc.Snapshot.load(str(workdir / "snapshot-2.pickle"))
    return [str(stat) for stat in last.compare_to(first, "lineno")[:top]]


def log_levels(path: Path) -> collections.Counter[str]:
    """How many JSON log lines of each level, and of each warning/error event, the gateway wrote."""
    counts: collections.Counter[str] = collections.Counter()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        level = record.get("level", "?")
        counts[level] += 1
        if level in ("warning", "error", "critical"):
            counts[f"{level}: {record.get('event')}"] += 1
    return counts


def print_report(report: dict[str, Any]) -> None:
    """The figures, with the targets beside them."""
    n = report["machines"]
    print()
    print(f"mix: {report['mix']}")
    print(f"peak RSS (VmHWM):        {report['peak_rss_mb']:7.1f} MB   (target <= {TARGET_MB:g} MB)")
    warm = report["warmup_seconds"]
    print(f"RSS at end of warm-up:   {report['rss_at_warmup_mb']:7.1f} MB   (t = {warm:g} s)")
    print(f"RSS at end:              {report['rss_at_end_mb']:7.1f} MB")
    print(f"max RSS after warm-up:   {report['max_rss_after_warmup_mb']:7.1f} MB")
    print(
        f"growth after warm-up:    {report['growth_after_warmup_percent']:+7.2f} %    "
        f"(target <= {TARGET_GROWTH:g} %; trend {report['trend_after_warmup_mb_per_hour']:+.1f} MB/h)"
    )
    print(
        f"events: {report['events_committed']} committed ({report['events_per_second']:.1f}/s), "
        f"{report['events_delivered']} delivered to RabbitMQ, backlog at end {report['backlog_at_end']}"
    )
    print(f"gateway CPU: {report['cpu_percent_mean']:.1f} % of one core on average")
    print(
        f"machines with events: {report['machines_with_events']}/{n}; "
        f"still producing after warm-up: {report['machines_flowing_after_warmup']}/{n}"
    )
    if report["silent_machines"]:
        print(f"silent: {', '.join(report['silent_machines'])}")
    if report["stalled_after_warmup"]:
        print(f"no events after warm-up: {', '.join(report['stalled_after_warmup'])}")
    noisy = {k: v for k, v in report["gateway_log"].items() if ":" in k}
    levels = {k: v for k, v in report["gateway_log"].items() if ":" not in k}
    print(f"gateway log lines by level: {levels or 'none'}")
    for event, count in list(noisy.items())[:10]:
        print(f"  {count:6d}  {event}")
    for line in report.get("tracemalloc_top", []):
        print(f"  grew: {line}")


__all__ = [
    "TARGET_GROWTH",
    "TARGET_MB",
    "Sample",
    "bar",
    "compare_snapshots",
    "log_levels",
    "print_report",
    "trend_mb_per_hour",
]
