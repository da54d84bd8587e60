"""CFX codec throughput over the SDK's own envelopes: typed decode+encode against orjson loads+dumps.

Input: every file of the CFX SDK conformance set (``shared/conformance/cfx-sdk``, 514 envelopes the
official SDK wrote; ``--dir`` or ``LINEGATE_CFX_CONFORMANCE`` point elsewhere). For each envelope the
same run times

- typed: ``encode_envelope(decode_envelope(data))``: bytes → typed models → the SDK's bytes;
- baseline: ``orjson.dumps(orjson.loads(data))``: bytes → plain dicts → bytes, no types, no rules;

and prints, for the whole set and per size class, the mean time per envelope and the ratio
baseline / typed (1.0: as fast as orjson; the target is ≥ 0.5 everywhere).

Run: ``python bench/cfx_codec.py [--dir PATH] [--repeat N]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

import native
from protocols.cfx import decode_envelope, encode_envelope

ROOT = Path(__file__).resolve().parent.parent
CLASSES = [
    ("< 1 KiB", 0, 1024),
    ("1-2 KiB", 1024, 2048),
    ("2-4 KiB", 2048, 4096),
    (">= 4 KiB", 4096, 1 << 30),
]
TARGET = 0.5


def best(func: Callable[[], Any], number: int, repeat: int) -> float:
    """Best CPU time per call in microseconds (CPU time: other work on the machine skews it less)."""
    return (
        min(timeit.Timer(func, timer=time.process_time).repeat(number=number, repeat=repeat)) / number * 1e6
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("LINEGATE_CFX_CONFORMANCE") or str(
        ROOT.parent / "shared" / "conformance" / "cfx-sdk"
    )
    parser.add_argument("--dir", default=default, help="folder of envelope files (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=5, help="timing repeats per envelope (best is kept)")
    args = parser.parse_args()
    files = sorted(Path(args.dir).glob("*.json"))
    if not files:
        print(f"cfx_codec: no envelopes in {args.dir} (give --dir)", file=sys.stderr)
        return 2
    print(f"{len(files)} envelopes from {args.dir}; native: {native.implementation()}")
    rows: dict[str, list[float]] = {name: [0.0, 0.0, 0.0] for name, _, _ in CLASSES}
    total = [0.0, 0.0, 0.0]
    worst: list[tuple[float, str, int]] = []
    for path in files:
        data = path.read_bytes().strip()
        assert orjson.loads(encode_envelope(decode_envelope(data))) == orjson.loads(data)
        number = max(20, 20000 // max(len(data) // 64, 1))
        typed = best(lambda data=data: encode_envelope(decode_envelope(data)), number, args.repeat)  # type: ignore[misc]
        base = best(lambda data=data: orjson.dumps(orjson.loads(data)), number, args.repeat)  # type: ignore[misc]
        name = next(n for n, low, high in CLASSES if low <= len(data) < high)
        for row in (rows[name], total):
            row[0] += 1
            row[1] += typed
            row[2] += base
        worst.append((base / typed, path.name, len(data)))
    print(f"{'size':<10}{'files':>6}{'typed us':>11}{'orjson us':>11}{'ratio':>8}")
    for name, (count, typed, base) in [*rows.items(), ("all", total)]:
        if count:
            ratio = base / typed
            mark = "" if ratio >= TARGET else "   (below the 0.5 target)"
            print(f"{name:<10}{int(count):>6}{typed / count:>11.2f}{base / count:>11.2f}{ratio:>8.2f}{mark}")
    print("slowest relative to orjson:")
    for ratio, name, size in sorted(worst)[:5]:
        print(f"  {ratio:5.2f}  {name} ({size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
