"""Intake from one CFX machine that publishes straight to the gateway (the SDK's AddListener):
AMQP 1.0 transfers into the CFX-native adapter, checked, committed to the SQLite outbox, and
only then accepted, against a bare proton engine (on the event loop, no gate) that accepts
every transfer on arrival and stores nothing (same run, same publisher, same credit).

The machine is a child process (an AMQP10Publisher with up to IN_FLIGHT transfers unsettled,
the way a pipelining CFX publisher sends), so its encoding does not share our interpreter. A
third row is the same gateway path with one commit per envelope, as the adapter did before
batches. The sides alternate for ROUNDS rounds and the best round of each counts.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from proton import Event
from proton.handlers import MessagingHandler

from adapters.base import ReconnectPolicy
from adapters.cfx_native import CFXNativeAdapter, DirectEvents
from adapters.observations import Observation
from gateway.outbox import Outbox
from gateway.runtime import MachineRuntime
from protocols.cfx import Envelope
from protocols.cfx import messages as cfx
from protocols.cfx.enums import ResourceState
from protocols.cfx.transport import AMQP10Publisher
from protocols.cfx.transport.engine import AMQPEngine
from protocols.cfx.transport.engine_io import EngineStream

HANDLE = "Bench.Placer.1"
ADDRESS = "linegate"
BOARDS = 2_000  # five envelopes per board: arrived, started, state, completed, departed
IN_FLIGHT = 1_000
ROUNDS = 3


def stream() -> list[Envelope]:
    """A placement machine's traffic: per board its unit flow, work and a state change."""
    out: list[Envelope] = []
    for n in range(BOARDS):
        board, barcode = str(uuid.UUID(int=n + 1)), f"SN{n:06d}"
        work = cfx.WorkStarted(hermes_identifier=board, primary_identifier=barcode, lane=1, recipe_name="P-A")
        for body in (
            cfx.UnitsArrived(hermes_identifier=board, primary_identifier=barcode, lane=1),
            work,
            cfx.StationStateChanged(old_state=ResourceState("1000"), new_state=ResourceState("1100")),
            cfx.WorkCompleted(transaction_id=work.transaction_id, result=cfx.WorkResult.COMPLETED),
            cfx.UnitsDeparted(hermes_identifier=board, primary_identifier=barcode, lane=1),
        ):
            out.append(Envelope.create(body, source=HANDLE, time_stamp=datetime.now(UTC)))
    return out


# --- the machine (child process) ------------------------------------------------------------


def machine(uri: str, envelopes: list[bytes], done: Any) -> None:
    """Publish every envelope with up to IN_FLIGHT unsettled; report the seconds it took."""
    from protocols.cfx.codec import decode_envelope

    async def run() -> float:
        decoded = [decode_envelope(e) for e in envelopes]
        window = asyncio.Semaphore(IN_FLIGHT)
        async with AMQP10Publisher(uri, ADDRESS, handle=HANDLE) as publisher:
            start = time.perf_counter()

            async def one(envelope: Envelope) -> None:
                try:
                    await publisher.publish(envelope)
                finally:
                    window.release()

            tasks = []
            for envelope in decoded:
                await window.acquire()
                tasks.append(asyncio.create_task(one(envelope)))
            await asyncio.gather(*tasks)
            return time.perf_counter() - start

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    done.send(asyncio.run(run()))


async def _publish_from_child(uri: str, envelopes: list[Envelope]) -> float:
    """Run the machine in a child process; returns its wall-clock seconds."""
    from protocols.cfx.codec import encode_envelope

    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe(duplex=False)
    child = context.Process(target=machine, args=(uri, [encode_envelope(e) for e in envelopes], theirs))
    child.start()
    try:
        return float(await asyncio.to_thread(ours.recv))
    finally:
        await asyncio.to_thread(child.join, 30)


# --- the baseline: a bare proton receiver ---------------------------------------------------


class _Counter(MessagingHandler):
    """Accepts every transfer on arrival (proton's defaults) and counts them."""

    def __init__(self, expected: int, done: asyncio.Future[float]) -> None:
        super().__init__(prefetch=IN_FLIGHT)
        self.expected, self.done = expected, done
        self.count, self.start = 0, 0.0

    def on_message(self, event: Event) -> None:
        if self.count == 0:
            self.start = time.perf_counter()
        self.count += 1
        if self.count == self.expected:
            self.done.set_result(time.perf_counter() - self.start)


async def bare(envelopes: list[Envelope]) -> float:
    """envelopes/s a bare proton engine takes from the machine (no gate, nothing decoded or stored)."""
    done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    handler = _Counter(len(envelopes), done)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        engine = AMQPEngine(handler)
        sasl: Any = engine.transport.sasl()
        sasl.allowed_mechs("ANONYMOUS")
        await EngineStream(engine, reader, writer).run()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    try:
        await _publish_from_child(f"amqp://127.0.0.1:{port}", envelopes)
        return len(envelopes) / await done
    finally:
        server.close()


# --- the gateway path -----------------------------------------------------------------------


class _OnePerCommit:
    """The adapter as it was: each envelope committed on its own before the next is read."""

    def __init__(self, runtime: MachineRuntime) -> None:
        self.runtime = runtime

    async def forward(self, envelopes: Sequence[Envelope]) -> None:
        for envelope in envelopes:
            await self.runtime.forward([envelope])


async def gateway(envelopes: list[Envelope], folder: Path, *, batched: bool) -> float:
    """envelopes/s from the machine's first transfer to the last one committed and accepted."""
    async with Outbox(folder / f"{uuid.uuid4().hex}.sqlite", sinks=["amqp"]) as outbox:
        adapter = CFXNativeAdapter(
            "placer",
            handle=HANDLE,
            events=DirectEvents(host="127.0.0.1", address=ADDRESS),
            liveness_timeout=600.0,
            policy=ReconnectPolicy(),
        )
        runtime = MachineRuntime("placer", HANDLE, adapter, outbox, "refuse")
        forward = runtime.forward if batched else _OnePerCommit(runtime).forward

        async def observe(observation: Observation) -> None:
            await runtime.observe(observation)

        running = asyncio.create_task(adapter.run(observe, forward=forward))
        try:
            await adapter.wait_connected(10)
            assert adapter.events_uri is not None
            seconds = await _publish_from_child(adapter.events_uri, envelopes)
            assert runtime.events == len(envelopes), (runtime.events, len(envelopes))
            assert outbox.depth() == len(envelopes)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    # The machine's last publish returned when its transfer was accepted, i.e. committed.
    return len(envelopes) / seconds


async def main() -> None:
    envelopes = stream()
    rows: dict[str, list[float]] = {"bare": [], "batched": [], "single": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for _ in range(ROUNDS):
            rows["bare"].append(await bare(envelopes))
            rows["batched"].append(await gateway(envelopes, folder, batched=True))
        rows["single"].append(await gateway(envelopes[: len(envelopes) // 5], folder, batched=False))
    base_best, base_median = max(rows["bare"]), statistics.median(rows["bare"])
    print(
        f"one CFX machine publishing to the gateway's AMQP 1.0 listener: {len(envelopes)} envelopes"
        f" per round, {IN_FLIGHT} in flight, {ROUNDS} rounds"
    )
    print(f"{'path':<62}{'best env/s':>11}{'median env/s':>14}{'best/best':>11}{'med/med':>9}")
    labels = {
        "bare": "bare proton receiver (accepts on arrival, stores nothing)",
        "batched": "CFX-native adapter -> outbox, settled after group commit",
        "single": "  same, one commit per envelope (before batching; 1 round)",
    }
    for key, label in labels.items():
        best, median = max(rows[key]), statistics.median(rows[key])
        ratios = f"{best / base_best:>10.2f}x{median / base_median:>8.2f}x"
        print(f"{label:<62}{best:>11,.0f}{median:>14,.0f}{ratios}")


if __name__ == "__main__":
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    asyncio.run(main())
