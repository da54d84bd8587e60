"""Hostile peers for the hardening tests: a slow sender, a peer that never reads, a burst.

Everything runs over real sockets on 127.0.0.1. Waits are on the socket's end (EOF or reset),
bounded by :data:`WAIT`; no sleep is used to order events.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from protocols.transport.guard import BACKLOG, PeerGuard

#: Upper bound of any wait; the deadlines under test are a fraction of it.
WAIT = 10.0

#: The size of a connection burst (issue 10).
BURST = 1000

#: The handshake deadline of the silent burst connections: a legitimate peer must get in well
#: before it, by evicting one of them once it is a quarter of this old.
BURST_DEADLINE = 6.0


def rss_kib() -> int:
    """This process's resident set size in KiB (Linux /proc)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


async def wait_dropped(reader: asyncio.StreamReader, timeout: float = WAIT) -> float:
    """Read until the server closes or resets the connection; return how long that took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    with contextlib.suppress(ConnectionResetError):
        async with asyncio.timeout(timeout):
            while await reader.read(65536):
                pass
    return loop.time() - start


async def trickle_until_dropped(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes, pace: float
) -> tuple[float, int]:
    """Send ``data`` one byte every ``pace`` seconds (a slowloris) until the server drops us.

    Returns:
        (seconds until the drop, bytes sent).
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    dropped = asyncio.ensure_future(wait_dropped(reader))
    sent = 0
    try:
        for byte in data:
            if dropped.done():
                break
            try:
                writer.write(bytes([byte]))
                await writer.drain()
            except (ConnectionError, RuntimeError):
                break
            sent += 1
            # The pace of the attack, not synchronisation: the test waits on `dropped`.
            await asyncio.wait({dropped}, timeout=pace)
        await dropped
    finally:
        dropped.cancel()
        writer.close()
    return loop.time() - start, sent


def never_reading_socket(port: int) -> socket.socket:
    """A connected, non-blocking client socket with a tiny receive buffer (it never reads)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


# The attacker runs in its own process, as it would on the network: its 1,000 sockets must not
# count against this process's file descriptors.
_BURST_SCRIPT = """
import errno, socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
held = []
for _ in range(count):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    code = sock.connect_ex(("127.0.0.1", port))
    if code not in (0, errno.EINPROGRESS, errno.EAGAIN):
        sys.exit(f"burst connect failed: {errno.errorcode.get(code, code)}")
    held.append(sock)
print("fired", flush=True)
sys.stdin.read()  # hold every socket open until the test closes our stdin
"""


class Burst:
    """``count`` non-blocking connection attempts to one port from a child process, made as
    fast as the kernel takes them, and held open (silent) until :meth:`close` (the hardening
    conftest closes any left open by a failed test)."""

    #: Bursts fired and not closed yet.
    alive: ClassVar[set[Burst]] = set()

    def __init__(self, port: int, count: int = BURST) -> None:
        self.port = port
        self.count = count
        self._process: asyncio.subprocess.Process | None = None

    async def fire(self) -> None:
        """Start the attacker and return once it has made every connection attempt."""
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _BURST_SCRIPT,
            str(self.port),
            str(self.count),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        Burst.alive.add(self)
        assert self._process.stdout is not None
        async with asyncio.timeout(WAIT):
            line = await self._process.stdout.readline()
        if line.strip() != b"fired":
            raise RuntimeError(f"the burst process failed: {line!r}")

    async def close(self) -> None:
        """Close every burst socket (the attacker exits)."""
        process, self._process = self._process, None
        Burst.alive.discard(self)
        if process is None:
            return
        assert process.stdin is not None
        process.stdin.close()
        async with asyncio.timeout(WAIT):
            await process.wait()


@dataclass
class Sample:
    """Task count and memory before a burst and at their peak while it ran."""

    tasks_before: int = 0
    tasks_peak: int = 0
    tasks_settled: int = 0
    rss_before_kib: int = 0
    rss_after_kib: int = 0
    traced_peak_bytes: int = 0


@contextlib.contextmanager
def measured() -> Iterator[Sample]:
    """Measure tasks (``len(asyncio.all_tasks())``), RSS and traced allocations around a block;
    call :func:`sample_tasks` inside to update the peak task count."""
    gc.collect()
    sample = Sample(tasks_before=len(asyncio.all_tasks()), rss_before_kib=rss_kib())
    sample.tasks_peak = sample.tasks_before
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        yield sample
    finally:
        sample.traced_peak_bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        gc.collect()
        sample.rss_after_kib = rss_kib()


def sample_tasks(sample: Sample) -> None:
    """Record the current task count into ``sample``'s peak."""
    sample.tasks_peak = max(sample.tasks_peak, len(asyncio.all_tasks()))


async def until(condition: Callable[[], bool], sample: Sample | None = None, timeout: float = WAIT) -> None:
    """Wait until ``condition()`` holds, checking on every loop turn (and sampling tasks).

    Raises:
        TimeoutError: it did not hold within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if sample is not None:
            sample_tasks(sample)
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        # Yield to the loop (the server's accept and close callbacks run here).
        await asyncio.sleep(0.001)


def _accepting(task: asyncio.Task[object]) -> bool:
    return getattr(task.get_coro(), "__qualname__", "").endswith("_accept_connection2")


async def settle(sample: Sample, also: Callable[[], bool] = lambda: True) -> None:
    """Wait until asyncio's accept tasks of the burst are gone (and ``also()`` holds, e.g. the
    server's own refusals have closed); record the task count then."""
    await until(lambda: also() and not any(_accepting(task) for task in asyncio.all_tasks()), sample)
    sample.tasks_settled = len(asyncio.all_tasks())


def report(name: str, sample: Sample) -> str:
    """One line of figures, printed by the burst tests (``pytest -s`` shows them)."""
    return (
        f"[{name}] tasks before={sample.tasks_before} peak={sample.tasks_peak} "
        f"settled={sample.tasks_settled}; "
        f"RSS before={sample.rss_before_kib} KiB after={sample.rss_after_kib} KiB "
        f"(+{sample.rss_after_kib - sample.rss_before_kib} KiB); "
        f"tracemalloc peak={sample.traced_peak_bytes // 1024} KiB"
    )


def check_burst(
    guard: PeerGuard, sample: Sample, *, cap: int, tasks_per_connection: int, refused: int | None = None
) -> None:
    """The verdict on a burst of :data:`BURST` connections at a server capped at ``cap``: all
    past the cap were refused or evicted, and tasks, RSS and traced allocations stayed bounded.

    Args:
        tasks_per_connection: the tasks one admitted connection of this server keeps.
        refused: for a server that refuses admitted connections itself (a Hermes lane holds one
            session and answers the others with Notification 2), how many it refused; they
            count with the guard's refusals, and stand in for its evictions.
    """
    turned_away = guard.dropped["connection_limit"] + guard.dropped["evicted"] + (refused or 0)
    assert turned_away >= BURST - cap
    assert guard.dropped["evicted"] >= 1 if refused is None else refused >= 1
    # Transient: asyncio's accept tasks, at most about two turns of the backlog at once.
    assert sample.tasks_peak - sample.tasks_before <= 2 * BACKLOG + 4 * cap
    # Settled: only the admitted connections' own tasks remain.
    assert sample.tasks_settled - sample.tasks_before <= tasks_per_connection * cap + 4
    assert sample.rss_after_kib - sample.rss_before_kib < 32 * 1024
    assert sample.traced_peak_bytes < 16 * 1024 * 1024
