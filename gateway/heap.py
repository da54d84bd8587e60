"""Keeps a long-running gateway's heap from growing with free memory glibc never hands back.

asyncio's socket transports receive into a fresh 256 KiB buffer on every read (``max_size`` in
``asyncio.selector_events``) and shrink it to what arrived. glibc serves blocks that large with
``mmap`` at first, but each time it unmaps one it raises its mmap threshold to that size (the
dynamic threshold, mallopt(3)), and from then on the 256 KiB buffers come from the heap, where
the small survivors among them leave holes that later requests do not fill. With 100 machines
(about 300 sockets) the soak saw the heap's free part grow by about 2 MB a minute while the live
part stayed flat; with the threshold fixed, the heap stayed flat (``bench/soak.py``).

Setting ``M_MMAP_THRESHOLD`` explicitly turns the dynamic adjustment off. The price is a
``mmap``/``munmap`` pair per large block, a few percent of one core in the same soak.
"""

from __future__ import annotations

import ctypes
import os
import sys

#: mallopt(3) parameter number of M_MMAP_THRESHOLD in glibc's <malloc.h>.
M_MMAP_THRESHOLD = -3
#: glibc's own initial threshold: blocks from this size up are mapped, never taken from the heap.
MMAP_THRESHOLD = 128 * 1024
#: glibc's environment tunable; when the operator set it, their value stands.
ENV_TUNABLE = "MALLOC_MMAP_THRESHOLD_"


def pin_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes, turning its dynamic adjustment off.

    Returns:
        True when the threshold was set; False without glibc (another C library, another OS),
        or when ``MALLOC_MMAP_THRESHOLD_`` is in the environment (the operator's choice wins).
    """
    if not sys.platform.startswith("linux") or ENV_TUNABLE in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False  # not glibc (musl has no mallopt): nothing to tune
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))


__all__ = ["MMAP_THRESHOLD", "M_MMAP_THRESHOLD", "pin_mmap_threshold"]
