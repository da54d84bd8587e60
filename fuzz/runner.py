"""Run the fuzz campaign: every harness under atheris, one process after another, then a table.

Usage::

    python -m fuzz.runner [--runs N] [--only NAME[,NAME...]] [--hang-seconds S] [--workdir DIR]

``--runs`` defaults to ``FUZZ_RUNS`` (1,000,000). Each harness runs in its own child process
(``--child NAME``) so its peak RSS is its own and a hard hang or a memory blow-up kills only
that child: libFuzzer's ``-timeout`` (default 30 s per input) and ``-rss_limit_mb`` (2 GiB)
catch what the recorder cannot. Per harness the table gives inputs tried, accepted, rejected
with a typed error, crashes (any other exception, or a broken invariant), hangs (inputs slower
than ``--hang-seconds``, or a libFuzzer timeout), the slowest input, peak RSS and RSS at 10 % of
the run against RSS at the end (growth would show a leak). Crashing and hanging inputs are saved
under ``<workdir>/<name>/``. The exit status is 1 if any harness crashed, hung or died.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fuzz.harness import Harness, Recorder, quiet_logging

#: The harness modules, in campaign order.
MODULES = (
    "fuzz.hermes_framer",
    "fuzz.hermes_xml",
    "fuzz.hermes_codec",
    "fuzz.cfx_codec",
    "fuzz.serial_framers",
    "fuzz.modbus_adapter",
    "fuzz.cfx_listener",
    "fuzz.http_api",
    "fuzz.result_files",
)
#: Our code, instrumented for coverage feedback; libraries run uninstrumented (faster).
INSTRUMENTED = ["protocols", "native", "adapters", "gateway"]
DEFAULT_RUNS = 1_000_000


def harnesses() -> list[Harness]:
    """Every harness, in campaign order."""
    return [h for module in MODULES for h in importlib.import_module(module).HARNESSES]


def _child(name: str, runs: int, hang_seconds: float, workdir: Path, seed: int, timeout: int) -> None:
    """Run one harness under libFuzzer (this process exits when libFuzzer is done)."""
    import atheris

    quiet_logging()
    with atheris.instrument_imports(include=INSTRUMENTED):
        for module in MODULES:
            importlib.import_module(module)
    harness = next(h for h in harnesses() if h.name == name)
    out = workdir / name
    corpus = out / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(harness.seeds()):
        (corpus / f"seed-{i:03d}").write_bytes(data)
    recorder = Recorder(
        harness, harness.make(), runs, hang_seconds, stats_path=out / "stats.json", artifacts=out
    )
    args = [
        sys.argv[0],
        f"-runs={runs}",
        f"-seed={seed}",
        f"-timeout={timeout}",
        "-rss_limit_mb=2048",
        f"-max_len={harness.max_len}",
        f"-artifact_prefix={out}/",
        "-print_final_stats=1",
        str(corpus),
    ]
    atheris.Setup(args, recorder.one)
    atheris.Fuzz()


def _run_one(harness: Harness, args: argparse.Namespace) -> dict[str, Any]:
    out: Path = args.workdir / harness.name
    out.mkdir(parents=True, exist_ok=True)
    stats = out / "stats.json"
    stats.unlink(missing_ok=True)
    log = out / "libfuzzer.log"
    command = [
        sys.executable,
        "-m",
        "fuzz.runner",
        "--child",
        harness.name,
        f"--runs={args.runs}",
        f"--hang-seconds={args.hang_seconds}",
        f"--workdir={args.workdir}",
        f"--seed={args.seed}",
        f"--timeout={args.timeout}",
    ]
    began = time.monotonic()
    with log.open("wb") as sink:
        code = subprocess.call(command, stdout=sink, stderr=subprocess.STDOUT)
    figures: dict[str, Any] = json.loads(stats.read_text()) if stats.exists() else {"name": harness.name}
    figures["wall_s"] = round(time.monotonic() - began, 1)
    figures["exit"] = code
    text = log.read_text(errors="replace")
    figures["libfuzzer_timeout"] = "libFuzzer: timeout" in text
    figures["libfuzzer_oom"] = "out-of-memory" in text
    done = re.search(r"Done (\d+) runs", text)
    figures["libfuzzer_runs"] = int(done.group(1)) if done else None
    return figures


_COLUMNS = (
    ("decoder", "name", "<"),
    ("inputs", "inputs", ">"),
    ("accepted", "accepted", ">"),
    ("rejected", "rejected", ">"),
    ("crashes", "crashes", ">"),
    ("hangs", "hangs", ">"),
    ("slowest s", "slowest_s", ">"),
    ("peak RSS MiB", "peak_rss_mib", ">"),
    ("RSS@10% MiB", "rss_at_10pct_mib", ">"),
    ("RSS end MiB", "rss_end_mib", ">"),
    ("inputs/s", "rate_per_s", ">"),
    ("wall s", "wall_s", ">"),
)


def _table(rows: list[dict[str, Any]]) -> str:
    cells = [[str(row.get(key, "-")) for _, key, _ in _COLUMNS] for row in rows]
    widths = [max(len(title), *(len(c[i]) for c in cells)) for i, (title, _, _) in enumerate(_COLUMNS)]
    lines = [" | ".join(f"{t:{a}{w}}" for (t, _, a), w in zip(_COLUMNS, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    for c in cells:
        lines.append(" | ".join(f"{v:{a}{w}}" for v, (_, _, a), w in zip(c, _COLUMNS, widths, strict=True)))
    return "\n".join(lines)


def _verdict(row: dict[str, Any], runs: int) -> list[str]:
    problems = []
    if row.get("crashes"):
        problems.append(f"crashes: {row.get('crash_kinds')}")
    if row.get("hangs") or row.get("libfuzzer_timeout"):
        problems.append("hangs")
    if row.get("libfuzzer_oom"):
        problems.append("out of memory")
    if row.get("exit") not in (0, None) and not problems:
        problems.append(f"exit status {row.get('exit')}")
    if row.get("inputs", 0) < runs:
        problems.append(f"only {row.get('inputs', 0)} of {runs} inputs")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=int(os.environ.get("FUZZ_RUNS", DEFAULT_RUNS)))
    parser.add_argument("--only", default=os.environ.get("FUZZ_ONLY", ""), help="comma-separated names")
    parser.add_argument("--hang-seconds", type=float, default=float(os.environ.get("FUZZ_HANG_SECONDS", 1.0)))
    parser.add_argument("--timeout", type=int, default=30, help="libFuzzer's hard per-input limit, s")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED", 1)))
    parser.add_argument("--workdir", type=Path, default=Path(os.environ.get("FUZZ_WORKDIR", "build/fuzz")))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.workdir = args.workdir.resolve()
    if args.child:
        _child(args.child, args.runs, args.hang_seconds, args.workdir, args.seed, args.timeout)
        return 0
    chosen = [h for h in harnesses() if not args.only or h.name in args.only.split(",")]
    rows = []
    for harness in chosen:
        print(f"fuzz: {harness.name} ({harness.covers}), {args.runs} inputs ...", flush=True)
        row = _run_one(harness, args)
        rows.append(row)
        print(f"fuzz: {harness.name}: {row.get('inputs', 0)} inputs, {row.get('wall_s')} s", flush=True)
    print()
    print(_table(rows))
    failed = False
    for row in rows:
        problems = _verdict(row, args.runs)
        if problems:
            failed = True
            print(f"FAIL {row['name']}: {'; '.join(problems)} (see {args.workdir / row['name']})")
        else:
            typed = ", ".join(f"{k} {v}" for k, v in row.get("rejected_by", {}).items()) or "none"
            print(f"ok   {row['name']}: every rejection typed ({typed})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
