"""``bench/soak.py`` in a tiny configuration, so the soak cannot rot between its long runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"

pytestmark = [pytest.mark.broker, pytest.mark.timeout(300)]


def test_soak_prints_the_figures_and_every_machine_produced_events(tmp_path: Path) -> None:
    """Six machines (every kind: placement, oven, selective solder, coater, then an oven and a
    coater) through ``linegate run`` for a few seconds: the soak exits 0, prints the RSS curve
    and its figures, and its JSON shows every machine kept producing events after the warm-up."""
    target = tmp_path / "soak.json"
    done = subprocess.run(
        [
            sys.executable,
            str(SOAK),
            "--machines",
            "6",
            "--seconds",
            "15",
            "--warmup",
            "5",
            "--interval",
            "2.5",
            "--time-scale",
            "100",
            "--json",
            str(target),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for figure in (
        "peak RSS (VmHWM):",
        "RSS at end of warm-up:",
        "growth after warm-up:",
        "machines with events:",
    ):
        assert figure in done.stdout, done.stdout
    report = json.loads(target.read_text(encoding="utf-8"))
    assert report["machines"] == 6
    kinds = ("placement", "reflow_oven", "selective_solder", "coater")
    assert all(f"{kind} (" in report["mix"] for kind in kinds), report["mix"]
    assert report["silent_machines"] == [], report["events_by_handle"]
    assert report["stalled_after_warmup"] == [], report["events_by_handle"]
    assert report["machines_flowing_after_warmup"] == 6
    assert len(report["samples"]) >= 6
    assert all(sample["rss_mb"] > 0 for sample in report["samples"])
    assert report["events_committed"] > 0 and report["events_delivered"] > 0
    assert report["peak_rss_mb"] >= report["rss_at_end_mb"]
