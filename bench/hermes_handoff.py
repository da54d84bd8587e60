"""Hermes board handoffs over loopback: cycles/s on one lane and on 20 lanes, p50/p99 latency.

One handoff is the full cycle through the high-level lane API (SenderLane.hand_over against
ReceiverLane.take_over): BoardAvailable, MachineReady, StartTransport, TransportFinished,
StopTransport, every message encoded, framed, parsed and checked against the state table.
Both sides run in this one process and event loop, so the figures include both machines' work.

Baseline, measured in the same run: the same five messages, pre-encoded, bounced between two
bare asyncio streams with TCP_NODELAY and no parsing: what the loop and the sockets cost alone.

``--split`` runs the receiving machines in a second process (two machines, two processes) and
also prints the CPU time each side spent per handoff, which the shared machine's noise disturbs
far less than the rate. ``--reference DIR`` measures, in the same run, the C++ reference pair
(hermes-org/lib_cpp's sender and receiver as built by ``tools/hermes/peers/build.sh`` into DIR,
TCP_NODELAY forced on, no conveyor delay, the same small board) and prints linegate's ratio to it.

Targets (issue 5): one lane >= 2,000 handoffs/s (lib_cpp reaches ~2,070/s with TCP_NODELAY,
reference §5a); 20 lanes p99 <= 5 ms. Issue 19: two processes >= 0.6x the C++ pair.

``--placement`` pins the two processes of ``--split`` (and the lib_cpp pair, and the floor)
alike: ``spread`` one core each, ``shared`` one core for both, ``free`` the scheduler's choice
(the default; several, comma-separated). The floor is two bare asyncio processes bouncing the
same bytes in a lane's order with no Hermes at all: what Python, the loop and the sockets cost.

Where the time goes (issue 19; callgrind instruction counts, which the load does not disturb,
and CPU time per process; 2-core VM). A handoff is a ping-pong of four hops, so the rate is
bounded by both sides' CPU per handoff plus four wake-ups. The lane handles a message in its
socket callback (``transport/lane_stream.py``: one task step per message, one write); decoding
and encoding of childless elements, the envelope timestamp included, are compiled
(``native.hermes_codec``); a message class's ``__init__`` stores its fields through their slots
and checks its arguments in one generated function; the framer cuts whole messages without its
search bookkeeping. Instructions per handoff, both sides in one process: 792k at first, 706k
with the callback stream, 440k now. The placement decides the rest. lib_cpp's pair makes about
12,500 handoffs/s on one shared core (a cheap context switch per hop, about 40 us of CPU per
side) and 4,900-6,500 on two cores (a cross-core wake-up per hop, which also leaves each process
with cold caches); a bare asyncio floor makes 20,500-21,400 and 7,300-8,700. Two runs of
``--split --uvloop --handoffs 3000 --reference DIR --placement spread,free,shared``, quiet
machine: spread 4,076 and 3,957 handoffs/s (0.70x, 0.70x lib_cpp), free 3,729 and 3,652 (0.57x,
0.74x), shared 5,509 and 5,325 (0.44x, 0.42x; about 92 us of CPU per side per handoff). Six
interleaved rounds against the code before (same machine): spread 0.65-0.81x (median 0.74x,
before 0.57x), free 0.52-0.74x (0.61x, before 0.51x), shared 0.41-0.49x (before 0.28-0.31x).
On one shared core 0.6x of lib_cpp would leave about 66 us of CPU per side per handoff, of
which the bare floor alone takes 25 us; the Hermes work of a side is about 220k instructions,
more than that budget, and two Python processes alternating on one core evict each other's
caches: a limit of message processing in Python, not of this implementation's layering.

Usage: python bench/hermes_handoff.py [--uvloop] [--split] [--handoffs N] [--reference DIR]
       [--placement free|spread|shared[,...]]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar, cast

from protocols.hermes import messages as m
from protocols.hermes.codec import encode
from protocols.hermes.transport import ReceiverLane, SenderLane

T = TypeVar("T")

LANES = 20
# The paced run: each lane offers a board every 10 ms (a real line: one every few seconds).
PACED_PERIOD = 0.010
PACED_PER_LANE = 150

#: CPUs of (the sending process, the receiving process); None: wherever the scheduler puts them.
Placement = tuple[set[int], set[int]] | None
#: ``--placement``: the same for linegate's two processes, the bare floor and the lib_cpp pair.
#: On two cores, "spread" makes every message wake the other core and "shared" makes it a
#: context switch on one; "free" lets the scheduler choose, which is either, run by run.
PLACEMENTS: dict[str, Placement] = {"free": None, "spread": ({0}, {1}), "shared": ({0}, {0})}


def _board(board_id: str) -> m.BoardAvailable:
    return m.BoardAvailable(board_id, "UP", m.BoardQuality.GOOD, m.FlippedBoard.TOP_SIDE_IS_UP, length=160.0)


async def _take_all(port: int, lane_id: int, count: int) -> None:
    async with ReceiverLane("127.0.0.1", port, machine_id="DOWN", lane_id=lane_id, fast_retry=0.01) as down:
        for _ in range(count):
            await down.take_over()


def _receivers_process(
    ports: list[int],
    count: int,
    report: Connection | None = None,
    use_uvloop: bool = False,
    cpus: set[int] | None = None,
) -> None:
    """The receiving machines, in a process of their own (``--split``); sends its CPU seconds."""
    if cpus:
        os.sched_setaffinity(0, cpus)

    async def run() -> None:
        await asyncio.gather(*(_take_all(port, lane_id, count) for lane_id, port in enumerate(ports, 1)))

    started = time.process_time()
    if use_uvloop:  # the same loop as the sending process
        import uvloop

        uvloop.run(run())
    else:
        asyncio.run(run())
    if report is not None:
        report.send(time.process_time() - started)


async def _send_all(up: SenderLane, count: int, period: float, latencies: list[float]) -> None:
    loop = asyncio.get_running_loop()
    # Lanes are out of phase, as on a real line (in phase, 20 boards would arrive at once).
    next_at = loop.time() + period * up.lane_id / LANES
    for _ in range(count):
        board = _board(str(uuid.uuid4()))
        if period:
            # Paced: the next board is ready one period after the previous one was.
            next_at += period
            await asyncio.sleep(max(0.0, next_at - loop.time()))
        started = time.perf_counter()
        await up.hand_over(board)
        latencies.append(time.perf_counter() - started)


async def handoffs(
    lanes: int,
    per_lane: int,
    period: float = 0.0,
    split: bool = False,
    cpu: list[float] | None = None,
    placement: Placement = None,
) -> tuple[float, list[float]]:
    """Run ``per_lane`` handoffs on each of ``lanes`` lanes; return (handoffs/s, latencies).

    With ``period`` 0 every lane hands boards over back to back (saturation); otherwise each
    lane offers one board per ``period`` seconds. With ``split`` the receiving machines run in
    a second process (two machines, two processes); otherwise in this event loop too. ``cpu``,
    if given, receives the CPU seconds of this process and (with ``split``) of the receivers'.
    ``placement`` pins the two processes (see :data:`PLACEMENTS`).
    """
    latencies: list[float] = []
    cpu_started = time.process_time()
    sending, receiving = placement or (None, None)
    async with contextlib.AsyncExitStack() as stack:
        stack.enter_context(_pinned(sending))
        ups = [
            await stack.enter_async_context(
                SenderLane(machine_id="UP", lane_id=lane_id, host="127.0.0.1", port=0)
            )
            for lane_id in range(1, lanes + 1)
        ]
        ports = [up.port for up in ups]
        report, child_end = multiprocessing.Pipe(duplex=False)
        if split:
            child = multiprocessing.get_context("spawn").Process(
                target=_receivers_process, args=(ports, per_lane, child_end, _on_uvloop(), receiving)
            )
            child.start()
            stack.callback(child.join)
            receivers: list[asyncio.Task[None]] = []
        else:
            receivers = [
                asyncio.create_task(_take_all(port, lane_id, per_lane))
                for lane_id, port in enumerate(ports, 1)
            ]
        connected = asyncio.gather(*(up.wait_connected() for up in ups))
        await (_watched(child, connected) if split else connected)
        started = time.perf_counter()
        sent = asyncio.gather(*(_send_all(up, per_lane, period, latencies) for up in ups))
        await (_watched(child, sent) if split else sent)
        elapsed = time.perf_counter() - started
        await asyncio.gather(*receivers)
    if cpu is not None:
        cpu.append(time.process_time() - cpu_started)
        if split:
            cpu.append(report.recv())
    return lanes * per_lane / elapsed, latencies


async def _watched(child: BaseProcess, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` unless ``child`` fails first: a receiving process that died would
    leave this one waiting for its peer forever. Its end is an event: its sentinel turns
    readable."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(awaitable)
    ended: asyncio.Future[None] = loop.create_future()

    def on_end() -> None:
        if not ended.done():
            ended.set_result(None)

    loop.add_reader(child.sentinel, on_end)
    either: list[asyncio.Future[Any]] = [task, ended]
    try:
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    finally:
        loop.remove_reader(child.sentinel)
    if not task.done():
        child.join()  # it has ended: this only reaps it
        if child.exitcode != 0:
            task.cancel()
            raise RuntimeError(f"the receiving process failed (exit code {child.exitcode})")
    return await task  # a child that ended well did its part: ours finishes


@contextlib.contextmanager
def _pinned(cpus: set[int] | None) -> Iterator[None]:
    """Run this process on ``cpus`` for the block (nothing when None)."""
    if not cpus:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _on_uvloop() -> bool:
    return type(asyncio.get_running_loop()).__module__.startswith("uvloop")


def reference_pair(peers: str, count: int, placement: Placement = None) -> float:
    """Handoffs/s of lib_cpp's sender and receiver on one lane, TCP_NODELAY on, no delay."""
    sending, receiving = placement or (None, None)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    env = dict(
        os.environ,
        HERMES_PEER_DELAY_MS="0",
        HERMES_PEER_DATA="bench",
        HERMES_PEER_CHECKALIVE_S="0",
        HERMES_PEER_NODELAY="1",
    )
    sender = subprocess.Popen(
        [os.path.join(peers, "sender"), port, str(count), "1", "300"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        preexec_fn=_pin_child(sending),
    )
    try:
        time.sleep(0.5)  # the sender listens before the receiver connects
        subprocess.run(
            [os.path.join(peers, "receiver"), "127.0.0.1", port, str(count), "1", "300"],
            capture_output=True,
            env=env,
            timeout=320,
            check=False,
            preexec_fn=_pin_child(receiving),
        )
        out, _ = sender.communicate(timeout=320)
    finally:
        if sender.poll() is None:
            sender.kill()
    summary = next(line for line in reversed(out.splitlines()) if line.startswith("{"))
    return float(json.loads(summary)["handoffs_per_s"])


def _pin_child(cpus: set[int] | None) -> Callable[[], None] | None:
    return None if not cpus else functools.partial(os.sched_setaffinity, 0, cpus)


def _floor_parts() -> dict[str, bytes]:
    board_id = str(uuid.uuid4())
    complete = m.TransferState.COMPLETE
    return {
        "BA": encode(_board(board_id)),
        "MR": encode(m.MachineReady(failed_board=m.BoardQuality.ANY)),
        "ST": encode(m.StartTransport(board_id=board_id)),
        "TF": encode(
            m.TransportFinished(transfer_state=m.TransferState.COMPLETE, board_id=str(uuid.uuid4()))
        ),
        "SP": encode(m.StopTransport(transfer_state=complete, board_id=board_id)),
    }


def _floor_steps(role: str, parts: dict[str, bytes], cycles: int) -> list[bytes | int]:
    """One side of the floor run: bytes to send, or a count of the peer's bytes to wait for.

    The order of a lane at full speed: the receiver announces MachineReady once; then each
    cycle is BoardAvailable, StartTransport, TransportFinished, StopTransport + MachineReady,
    and the sender offers the next board on the StopTransport (4 hops a cycle).
    """
    ba, mr, st, tf, sp = (parts[name] for name in ("BA", "MR", "ST", "TF", "SP"))
    if role == "sender":
        return [ba, len(mr) + len(st), tf, len(sp)] * cycles
    cycle: list[bytes | int] = [len(ba), st, len(tf), sp, mr]
    return [mr, *cycle * cycles]


class _Bounce(asyncio.Protocol):
    """A bare asyncio protocol that plays its steps (:func:`_floor_steps`): no parsing, no state."""

    def __init__(self, steps: list[bytes | int], done: asyncio.Future[float]) -> None:
        self.steps = steps
        self.done = done
        self.at = 0
        self.unread = 0
        self.started = 0.0  # when the connection was made: the clock starts there
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.started = time.perf_counter()
        self._advance()

    def data_received(self, data: bytes) -> None:
        self.unread += len(data)
        self._advance()

    def _advance(self) -> None:
        assert self.transport is not None
        steps = self.steps
        while self.at < len(steps):
            step = steps[self.at]
            if isinstance(step, bytes):
                self.transport.write(step)
            elif self.unread >= step:
                self.unread -= step
            else:
                return
            self.at += 1
        if not self.done.done():
            self.done.set_result(time.perf_counter() - self.started)


def _floor_receiver(
    port: int, cycles: int, parts: dict[str, bytes], cpus: set[int] | None, use_uvloop: bool
) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)

    async def run() -> None:
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        steps = _floor_steps("receiver", parts, cycles)
        transport, _ = await asyncio.get_running_loop().create_connection(
            lambda: _Bounce(steps, done), "127.0.0.1", port
        )
        await done
        transport.close()

    if use_uvloop:
        import uvloop

        uvloop.run(run())
    else:
        asyncio.run(run())


async def floor_split(cycles: int, placement: Placement = None) -> float:
    """The floor of ``--split``: the same bytes, in a lane's order, between two processes that
    only count them (bare asyncio protocols, no Hermes): cycles/s."""
    sending, receiving = placement or (None, None)
    parts = _floor_parts()
    done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    steps = _floor_steps("sender", parts, cycles)
    with _pinned(sending):
        server = await asyncio.get_running_loop().create_server(lambda: _Bounce(steps, done), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        child = multiprocessing.get_context("spawn").Process(
            target=_floor_receiver, args=(port, cycles, parts, receiving, _on_uvloop())
        )
        child.start()
        try:
            elapsed = await _watched(child, done)
        finally:
            server.close()
            await asyncio.get_running_loop().run_in_executor(None, child.join)
    return cycles / elapsed


async def baseline(cycles: int) -> float:
    """Bare streams, same five messages, same directions, no Hermes logic: cycles/s."""
    parts = [
        ("S", encode(_board(str(uuid.uuid4())))),
        ("R", encode(m.MachineReady(failed_board=m.BoardQuality.ANY))),
        ("R", encode(m.StartTransport(board_id="x"))),
        ("S", encode(m.TransportFinished(transfer_state=m.TransferState.COMPLETE, board_id="x"))),
        ("R", encode(m.StopTransport(transfer_state=m.TransferState.COMPLETE, board_id="x"))),
    ]
    accepted: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
        asyncio.get_running_loop().create_future()
    )

    def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set_result((reader, writer))

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    r_reader, r_writer = await asyncio.open_connection("127.0.0.1", port)
    s_reader, s_writer = await accepted
    for writer in (r_writer, s_writer):
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ends = {"S": (s_writer, r_reader), "R": (r_writer, s_reader)}
    started = time.perf_counter()
    for _ in range(cycles):
        for who, data in parts:
            writer, reader = ends[who]
            writer.write(data)
            await reader.readexactly(len(data))
    elapsed = time.perf_counter() - started
    for writer in (r_writer, s_writer):
        writer.close()
    server.close()
    await server.wait_closed()
    return cycles / elapsed


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(count: int, split: bool, reference: str | None, placements: list[str]) -> None:
    where = "sender and receivers in two processes" if split else "sender and receivers in one event loop"
    print(f"({where})")
    base = await baseline(count)
    print(f"baseline (bare streams, same 5 messages, no Hermes): {base:10,.0f} cycles/s")
    for name in placements:
        await one_lane(count, split, reference, name)
    per_lane = max(1, count // LANES)
    rate, latencies = await handoffs(LANES, per_lane, split=split)
    print(
        f"{LANES} lanes: {rate:10,.0f} handoffs/s  ({rate / base:.2f}x baseline)  "
        f"p50 {_ms(latencies, 0.5):.3f} ms  p99 {_ms(latencies, 0.99):.3f} ms (target <= 5 ms)  "
        f"mean {1000 * statistics.fmean(latencies):.3f} ms"
    )
    rate, latencies = await handoffs(LANES, PACED_PER_LANE, PACED_PERIOD, split=split)
    print(
        f"{LANES} lanes paced at {1 / PACED_PERIOD:.0f} boards/s each ({rate:,.0f} handoffs/s in all): "
        f"p50 {_ms(latencies, 0.5):.3f} ms  p99 {_ms(latencies, 0.99):.3f} ms (target <= 5 ms)"
    )


async def one_lane(count: int, split: bool, reference: str | None, placement_name: str) -> None:
    """The one-lane figures; with ``split``, in one placement, beside its floor and lib_cpp's."""
    placement = PLACEMENTS[placement_name] if split else None
    cpu: list[float] = []
    rate, latencies = await handoffs(1, count, split=split, cpu=cpu, placement=placement)
    label = f"1 lane ({placement_name}):" if split else "1 lane:"
    print(
        f"{label:18} {rate:10,.0f} handoffs/s  (target >= 2,000)  "
        f"p50 {_ms(latencies, 0.5):.3f} ms  p99 {_ms(latencies, 0.99):.3f} ms"
    )
    names = ("sender", "receiver") if split else ("both sides, one process",)
    sides = "  ".join(f"{name} {1e6 * cpu_s / count:.0f} us" for name, cpu_s in zip(names, cpu, strict=True))
    print(f"{'':18} CPU per handoff: {sides}")
    if split:
        floor = await floor_split(count, placement)
        print(
            f"{'':18} floor (two processes, the same bytes, no Hermes): {floor:10,.0f} cycles/s "
            f"({rate / floor:.2f}x)"
        )
    if reference is not None:
        lib = reference_pair(reference, count, placement)
        print(
            f"{'':18} lib_cpp pair (C++, TCP_NODELAY, 2 processes): {lib:10,.0f} handoffs/s "
            f"({rate / lib:.2f}x)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handoffs", type=int, default=5000, help="handoffs per scenario (default 5000)")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop instead of asyncio's loop")
    parser.add_argument("--split", action="store_true", help="run the receiving machines in a second process")
    parser.add_argument(
        "--reference",
        metavar="DIR",
        help="also run lib_cpp's sender/receiver pair built into DIR (peers/build.sh)",
    )
    parser.add_argument(
        "--placement",
        default="free",
        help="with --split, where the two processes run: free (the scheduler), spread (one core "
        "each), shared (one core for both), or several, comma-separated (default free)",
    )
    args = parser.parse_args()
    chosen = args.placement.split(",")
    unknown = [name for name in chosen if name not in PLACEMENTS]
    if unknown:
        parser.error(f"unknown placement {unknown[0]!r}; choose from {', '.join(PLACEMENTS)}")
    if "spread" in chosen and len(os.sched_getaffinity(0)) < 2:
        parser.error("--placement spread needs two CPUs")
    if args.uvloop:
        import uvloop

        uvloop.run(main(args.handoffs, args.split, args.reference, chosen))
    else:
        asyncio.run(main(args.handoffs, args.split, args.reference, chosen))
