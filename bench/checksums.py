"""Checksum throughput: the Cython extension against its pure-Python twin on the same 16 MB."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from native import _checksums, checksums_pure

SIZE = 16 * 1024 * 1024


def _rate(fn: Callable[[bytes], int], data: bytes, min_seconds: float) -> float:
    """MB/s of ``fn`` over ``data``, repeated until ``min_seconds`` have passed."""
    runs = 0
    start = time.perf_counter()
    while True:
        fn(data)
        runs += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return runs * len(data) / elapsed / 1e6


def main() -> None:
    data = os.urandom(SIZE)
    print(f"checksums over {SIZE // (1024 * 1024)} MiB of random bytes (MB/s)")
    print(f"{'function':<14}{'cython':>12}{'python':>12}{'ratio':>10}")
    for name in ("crc16_modbus", "lrc", "xor8", "sum8"):
        fast = _rate(getattr(_checksums, name), data, 0.5)
        slow = _rate(getattr(checksums_pure, name), data, 0.5)
        print(f"{name:<14}{fast:>12.1f}{slow:>12.1f}{fast / slow:>9.1f}x")


if __name__ == "__main__":
    main()
