"""``gateway.heap``: with the mmap threshold pinned, large blocks stay mapped after one was freed."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

from gateway.heap import ENV_TUNABLE

# Runs in a fresh interpreter: mallopt changes the whole process, and the test needs the
# allocator's state from the start. Prints how much of a 256 KiB block glibc mapped.
_PROBE = """
import ctypes, sys
from gateway.heap import pin_mmap_threshold

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "pin":
    assert pin_mmap_threshold()
big = bytes(1 << 20)  # mapped: over glibc's initial 128 KiB threshold
del big  # unmapping it is what raises a dynamic threshold to 1 MiB
before = libc.mallinfo2().hblkhd
block = bytes(256 * 1024)  # the size of asyncio's receive buffer
print(libc.mallinfo2().hblkhd - before)
"""


def _glibc_with_mallinfo2() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        return hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _glibc_with_mallinfo2(), reason="needs glibc 2.33+ (mallinfo2)")


def _mapped(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != ENV_TUNABLE}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, timeout=30, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


def test_pinned_threshold_keeps_a_256_kib_block_mapped_after_a_larger_one_was_freed() -> None:
    """Pinned, a 256 KiB block is mapped (and goes back to the system when freed); left to glibc,
    the same block comes from the heap once a 1 MiB block has been unmapped."""
    assert _mapped("pin") >= 256 * 1024
    assert _mapped("dynamic") == 0


def test_the_operators_tunable_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``MALLOC_MMAP_THRESHOLD_`` set, nothing is changed and the call says so."""
    from gateway.heap import pin_mmap_threshold

    monkeypatch.setenv(ENV_TUNABLE, "262144")
    assert pin_mmap_threshold() is False
