"""What every fuzz harness shares: the :class:`Harness` description and the :class:`Recorder`.

A harness turns one input (bytes) into one pass through a decoder, the way the network code
calls it. The decoder either accepts the input or rejects it with one of the harness's
``typed`` errors; anything else escaping is a crash. The recorder counts inputs, acceptances,
rejections (by error class), crashes (by exception type and the line that raised it), inputs
slower than the per-input limit (hangs) and resident memory, and writes them as JSON.

Harness modules import nothing from atheris, so the quick test in ``tests/`` and a plain loop
can drive them as well as libFuzzer can.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import resource
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

#: One input through the decoder; returns normally when it was accepted.
Target = Callable[[bytes], object]


@dataclass(frozen=True)
class Harness:
    """One decoder under fuzz.

    Args:
        name: the short name the runner and the table use.
        covers: the code reached, for the report.
        make: builds the target once per process (event loops, temp files, adapters).
        typed: the errors that count as a clean rejection.
        seeds: valid and near-valid inputs to start from.
        max_len: the longest input libFuzzer may generate.
    """

    name: str
    covers: str
    make: Callable[[], Target]
    typed: tuple[type[BaseException], ...]
    seeds: Callable[[], Sequence[bytes]]
    max_len: int = 16384


class Crash(Exception):
    """Raised by a target for a failure that is not an exception of the decoder (a 500, a mismatch)."""


def quiet_logging() -> None:
    """Drop log lines below CRITICAL: rejections are logged by design, millions of times here."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    logging.disable(logging.ERROR)


def _rss_kib() -> int:
    """The resident set size now, in KiB (Linux /proc)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    except OSError:  # not Linux: the peak is still reported
        return 0


@dataclass
class Recorder:
    """Runs inputs through a target and keeps the figures the runner reports.

    Args:
        harness: the harness.
        target: its built target.
        runs: inputs planned (the figures are written when the last one is done).
        hang_seconds: an input taking longer than this counts as a hang.
        stats_path: where the JSON figures go (None: nowhere).
        artifacts: where crashing and hanging inputs are saved (None: not saved).
    """

    harness: Harness
    target: Target
    runs: int
    hang_seconds: float = 1.0
    stats_path: Path | None = None
    artifacts: Path | None = None
    inputs: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    crashes: Counter[str] = field(default_factory=Counter)
    hangs: int = 0
    slowest: float = 0.0
    rss_early_kib: int = 0
    started: float = field(default_factory=time.monotonic)

    def one(self, data: bytes) -> None:
        """Run one input and record its outcome; never raises for the decoder's sake."""
        began = time.perf_counter()
        try:
            self.target(data)
        except self.harness.typed as exc:
            self.rejected[type(exc).__name__] += 1
        except Exception as exc:
            self._crash(exc, data)
        else:
            self.accepted += 1
        spent = time.perf_counter() - began
        if spent > self.slowest:
            self.slowest = spent
        if spent > self.hang_seconds:
            self.hangs += 1
            self._save("hang", data)
        self.inputs += 1
        if self.inputs == max(1, self.runs // 10):
            self.rss_early_kib = _rss_kib()
        if self.inputs % 20000 == 0 or self.inputs == self.runs:
            self.write()

    def _crash(self, exc: BaseException, data: bytes) -> None:
        frames = traceback.extract_tb(exc.__traceback__)
        where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
        signature = f"{type(exc).__name__} at {where}: {str(exc)[:120]}"
        if signature not in self.crashes:
            self._save("crash", data, "".join(traceback.format_exception(exc)))
        self.crashes[signature] += 1

    def _save(self, kind: str, data: bytes, text: str | None = None) -> None:
        if self.artifacts is None:
            return
        self.artifacts.mkdir(parents=True, exist_ok=True)
        stem = self.artifacts / f"{kind}-{hashlib.sha1(data).hexdigest()[:16]}"
        stem.with_suffix(".bin").write_bytes(data)
        if text is not None:
            stem.with_suffix(".txt").write_text(text)

    def figures(self) -> dict[str, Any]:
        """The figures so far, as the runner's table reads them."""
        elapsed = time.monotonic() - self.started
        return {
            "name": self.harness.name,
            "covers": self.harness.covers,
            "inputs": self.inputs,
            "accepted": self.accepted,
            "rejected": sum(self.rejected.values()),
            "rejected_by": dict(self.rejected.most_common()),
            "crashes": sum(self.crashes.values()),
            "crash_kinds": dict(self.crashes.most_common()),
            "hangs": self.hangs,
            "slowest_s": round(self.slowest, 4),
            "hang_limit_s": self.hang_seconds,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "rss_at_10pct_mib": round(self.rss_early_kib / 1024, 1),
            "rss_end_mib": round(_rss_kib() / 1024, 1),
            "elapsed_s": round(elapsed, 1),
            "rate_per_s": round(self.inputs / elapsed) if elapsed > 0 else 0,
        }

    def write(self) -> None:
        """Write the figures to ``stats_path`` (atomically: the runner may read at any time)."""
        if self.stats_path is None:
            return
        partial = self.stats_path.with_suffix(".tmp")
        partial.write_text(json.dumps(self.figures(), indent=1))
        partial.replace(self.stats_path)


def run_plain(harness: Harness, inputs: Sequence[bytes], *, hang_seconds: float = 1.0) -> Recorder:
    """Run ``inputs`` through ``harness`` without libFuzzer (the quick test uses this)."""
    recorder = Recorder(harness, harness.make(), len(inputs), hang_seconds)
    for data in inputs:
        recorder.one(data)
    return recorder
