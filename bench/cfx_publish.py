"""CFX over AMQP: confirmed persistent publish rate of CFXPublisher against a bare aio-pika loop
with the same confirm window (same run, same broker), and request/response round trips per
second over loopback AMQP 1.0.

Needs RabbitMQ on 127.0.0.1:5672. Publishing goes to a fresh durable topic exchange bound to a
durable queue, so every message is really persisted before its confirm; both are deleted at the
end. Each side runs ROUNDS times, interleaved (so both see the same broker and machine load), and
the best run of each side counts; the medians are printed too.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
import uuid

import aio_pika
import structlog

from protocols.cfx.codec import encode_envelope
from protocols.cfx.envelope import Envelope
from protocols.cfx.messages import AreYouThereRequest, Heartbeat
from protocols.cfx.requests import new_request
from protocols.cfx.transport import CFXListener, CFXPublisher, CFXRequester
from protocols.cfx.transport.wire import CONTENT_TYPE, routing_key

BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"
WINDOW = 256
MESSAGES = 8_000
ROUNDS = 4
HANDLE = "Bench.Reflow.1"


def _figures(count: int, start: float, cpu: float) -> tuple[float, float]:
    """(messages per wall-clock second, CPU microseconds per message) since start/cpu."""
    return count / (time.perf_counter() - start), (time.process_time() - cpu) * 1e6 / count


def _envelopes(count: int) -> list[Envelope]:
    return [Envelope.create(Heartbeat(cfx_handle=HANDLE), source=HANDLE) for _ in range(count)]


async def bare_loop(exchange_name: str, envelopes: list[Envelope]) -> tuple[float, float]:
    """msg/s of a plain aio-pika confirm loop: encode, publish, at most WINDOW unconfirmed."""
    connection = await aio_pika.connect(BROKER_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(exchange_name)
        window = asyncio.Semaphore(WINDOW)

        async def one(envelope: Envelope) -> None:
            try:
                message = aio_pika.Message(
                    encode_envelope(envelope),
                    content_type=CONTENT_TYPE,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=str(envelope.unique_id),
                    timestamp=envelope.time_stamp,
                )
                await exchange.publish(message, routing_key(HANDLE, envelope.message_name), mandatory=False)
            finally:
                window.release()

        start, cpu = time.perf_counter(), time.process_time()
        tasks = []
        for envelope in envelopes:
            await window.acquire()
            tasks.append(asyncio.create_task(one(envelope)))
        await asyncio.gather(*tasks)
        return _figures(len(envelopes), start, cpu)


async def our_publisher(exchange_name: str, envelopes: list[Envelope]) -> tuple[float, float]:
    """msg/s of CFXPublisher.submit over the same envelopes and window."""
    async with CFXPublisher(BROKER_URL, exchange=exchange_name, window=WINDOW) as publisher:
        await publisher.wait_connected(10)
        start, cpu = time.perf_counter(), time.process_time()
        futures = [await publisher.submit(envelope) for envelope in envelopes]
        await asyncio.gather(*futures)
        return _figures(len(envelopes), start, cpu)


async def publish_rates() -> None:
    name = f"linegate-bench.{uuid.uuid4().hex[:8]}"
    admin = await aio_pika.connect(BROKER_URL)
    async with admin:
        channel = await admin.channel()
        exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(name, durable=True)
        await queue.bind(exchange, "#")
        try:
            bare: list[tuple[float, float]] = []
            ours: list[tuple[float, float]] = []
            for _ in range(ROUNDS):
                bare.append(await bare_loop(name, _envelopes(MESSAGES)))
                await queue.purge()
                ours.append(await our_publisher(name, _envelopes(MESSAGES)))
                await queue.purge()
        finally:
            await queue.delete(if_unused=False, if_empty=False)
            await exchange.delete()
    bare_rates, ours_rates = [r for r, _ in bare], [r for r, _ in ours]
    bare_cpu, ours_cpu = statistics.median(c for _, c in bare), statistics.median(c for _, c in ours)
    best_bare, best_ours = max(bare_rates), max(ours_rates)
    median_ratio = statistics.median(ours_rates) / statistics.median(bare_rates)
    print(f"confirmed persistent publish, {MESSAGES} heartbeats per run, window {WINDOW}, {ROUNDS} rounds:")
    print(
        f"  bare aio-pika  {best_bare:>7.0f} msg/s  {bare_cpu:>5.0f} us CPU/msg  (runs: {_list(bare_rates)})"
    )
    print(
        f"  CFXPublisher   {best_ours:>7.0f} msg/s  {ours_cpu:>5.0f} us CPU/msg  (runs: {_list(ours_rates)})"
    )
    print(f"  ratio               {best_ours / best_bare:>9.2f}x best  {median_ratio:.2f}x median rate")
    print(f"  CPU per message     {ours_cpu / bare_cpu:>9.2f}x (ours / bare, medians)")


def _list(rates: list[float]) -> str:
    return ", ".join(f"{rate:.0f}" for rate in rates)


async def round_trips() -> None:
    async with CFXListener("127.0.0.1", 0) as listener, CFXRequester("Bench.Controller") as requester:
        listener.add_handle(HANDLE)

        async def one() -> None:
            request = new_request(
                AreYouThereRequest(cfx_handle=HANDLE), source="Bench.Controller", target=HANDLE
            )
            await requester.request(listener.uri, request, timeout=10)

        for _ in range(20):  # warm up
            await one()
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < 3.0:
            await one()
            count += 1
        sequential = count / (time.perf_counter() - start)
        batches, start = 0, time.perf_counter()
        while time.perf_counter() - start < 3.0:
            await asyncio.gather(*(one() for _ in range(16)))
            batches += 1
        concurrent = batches * 16 / (time.perf_counter() - start)
    print("request/response (AreYouThere, gzip request, new connection each, loopback):")
    print(f"  sequential          {sequential:>9.0f} round trips/s  ({1000 / sequential:.2f} ms each)")
    print(
        f"  16 in flight        {concurrent:>9.0f} round trips/s  ({concurrent / sequential:.2f}x sequential)"
    )


async def main() -> None:
    await publish_rates()
    await round_trips()


if __name__ == "__main__":
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    asyncio.run(main())
