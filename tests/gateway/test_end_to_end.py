"""End to end over real sockets and the real broker: the default simulated line, the gateway
configured from a TOML file exactly as ``linegate run`` does it, events consumed from RabbitMQ.

Every board at every machine must appear as UnitsArrived, WorkStarted, WorkCompleted and
UnitsDeparted with its Hermes BoardId, WorkStarted and WorkCompleted sharing one TransactionID,
UnitsProcessed under that TransactionID at the oven, the selective solder and the coater; each
event published once; a RabbitMQ outage in the middle loses nothing and keeps each source's
order; a CFX ActivateRecipeRequest to the Modbus oven's handle changes its recipe.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import os
import subprocess
import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aio_pika
import orjson
import pytest

from gateway.assemble import start_gateway
from gateway.config import load_config
from gateway.simulated import publishing_to
from protocols.cfx import ActivateRecipeRequest, ActivateRecipeResponse, new_request
from protocols.cfx.enums import StatusResult
from protocols.cfx.transport import request
from protocols.transport.ports import free_port
from simulators import Line, ReflowOven, small_line
from tests.support.line_config import write_line_config

BOARDS = int(os.environ.get("LINEGATE_E2E_BOARDS", "200"))
MACHINES = ("placement", "reflow", "solder", "coater")
PROCESSING = ("reflow", "solder", "coater")

pytestmark = [pytest.mark.broker, pytest.mark.timeout(300)]


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


async def test_line_through_the_gateway_to_rabbitmq(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINEGATE_E2E_AMQP_PASSWORD", "guest")
    exchange = f"linegate-e2e-{uuid.uuid4().hex[:8]}"
    events_port = free_port()
    spec = dataclasses.replace(
        publishing_to(small_line(), events_port),
        time_scale=400.0,
        boards=BOARDS,
    )
    connection = await aio_pika.connect_robust("amqp://guest:guest@127.0.0.1:5672/")
    received: list[dict[str, Any]] = []
    seen = asyncio.Condition()
    async with connection, AsyncExitStack() as stack:
        channel = await connection.channel()
        ex = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(f"{exchange}.all", durable=True)
        await queue.bind(ex, "#")

        async def consume(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process(), seen:
                received.append(orjson.loads(message.body))
                seen.notify_all()

        await queue.consume(consume)
        line = await stack.enter_async_context(Line(spec, start_source=False))
        config = load_config(
            write_line_config(
                tmp_path / "line.toml",
                line,
                exchange=exchange,
                password_env="LINEGATE_E2E_AMQP_PASSWORD",
                events_port=events_port,
            )
        )
        gateway, listener = await start_gateway(config, stack, events_file=str(tmp_path / "events.jsonl"))
        stop = asyncio.Event()
        running = asyncio.create_task(gateway.run(stop))
        try:
            for runtime in gateway.machines.values():
                for adapter in runtime.adapters:
                    await adapter.wait_connected(60)
            line.start_source()

            # A CFX request to the Modbus oven's handle, as an MES would send it.
            oven_handle = config.machine("reflow").handle
            req = new_request(
                ActivateRecipeRequest(recipe_name="SAC305-HEAVY"), source="MES.Test.1", target=oven_handle
            )
            response = await request(listener.uri, req, timeout=60)
            assert isinstance(response.body, ActivateRecipeResponse)
            assert response.body.result.result is StatusResult.SUCCESS, response.body.result.message
            oven = line.machine("reflow")
            assert isinstance(oven, ReflowOven)
            assert oven.recipes.active is not None and oven.recipes.active.name == "SAC305-HEAVY"

            # The broker goes away for a while in the middle of the run.
            await asyncio.wait_for(line.wait_departed(BOARDS // 3), 240)
            await asyncio.to_thread(_rabbitmqctl, "stop_app")
            try:
                await asyncio.wait_for(line.wait_departed(BOARDS // 3 + 5), 120)
            finally:
                await asyncio.to_thread(_rabbitmqctl, "start_app")
            await asyncio.wait_for(line.wait_departed(BOARDS), 240)
            # The last boards' process data may still be on its way (OPC UA publishes in
            # intervals): wait until every processing machine reported every board.
            async with asyncio.timeout(60), seen:
                await seen.wait_for(lambda: _processed(received) >= len(PROCESSING) * BOARDS)
            # Everything the gateway accepted reaches the broker.
            await asyncio.wait_for(gateway.outbox.wait_delivered("amqp"), 120)
            accepted = sum(r.events for r in gateway.machines.values())
            async with asyncio.timeout(60), seen:
                await seen.wait_for(lambda: len({e["UniqueID"] for e in received}) >= accepted)
        finally:
            stop.set()
            await asyncio.wait_for(running, 60)
        await ex.delete(if_unused=False)
        await queue.delete(if_unused=False, if_empty=False)

    _check_events(received, {config.machine(m).handle: m for m in MACHINES}, line.departed)


def _processed(received: list[dict[str, Any]]) -> int:
    return len({e["UniqueID"] for e in received if e["MessageName"].endswith(".UnitsProcessed")})


def _check_events(received: list[dict[str, Any]], machines: dict[str, str], boards: list[str]) -> None:
    unique = {e["UniqueID"]: e for e in received}
    by_source: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for envelope in unique.values():
        by_source[envelope["Source"]].append(envelope)
    # Once each: a message that was redelivered after the outage has the same UniqueID; apart
    # from such repeats, no event is there twice.
    assert len(unique) >= len(received) - 50
    for handle, machine_id in machines.items():
        events = by_source[handle]
        names = collections.Counter(e["MessageName"].rsplit(".", 1)[-1] for e in events)
        for name in ("UnitsArrived", "WorkStarted", "WorkCompleted", "UnitsDeparted"):
            per_board = collections.Counter(
                e["MessageBody"].get("HermesIdentifier")
                for e in events
                if e["MessageName"].endswith("." + name)
            )
            missing = [b for b in boards if per_board[b] == 0]
            twice = [b for b in boards if per_board[b] > 1]
            assert not missing, f"{machine_id}: {name} missing for {len(missing)} boards"
            assert not twice, f"{machine_id}: {name} published twice for {len(twice)} boards"
        starts = {
            e["MessageBody"]["HermesIdentifier"]: e["MessageBody"]["TransactionID"]
            for e in events
            if e["MessageName"].endswith(".WorkStarted")
        }
        ends = {
            e["MessageBody"]["HermesIdentifier"]: e["MessageBody"]["TransactionID"]
            for e in events
            if e["MessageName"].endswith(".WorkCompleted")
        }
        for board in boards:
            assert starts[board] == ends[board], f"{machine_id}: {board} has two transactions"
        if machine_id in PROCESSING:
            processed = {
                e["MessageBody"]["TransactionId"]
                for e in events
                if e["MessageName"].endswith(".UnitsProcessed")
            }
            missing = [b for b in boards if starts[b] not in processed]
            assert not missing, f"{machine_id}: no UnitsProcessed for {len(missing)} boards"
        assert names["UnitsArrived"] >= len(boards)
    # Per source, the order of the boards' arrivals is the order they were made.
    for handle in machines:
        arrivals = [
            e["MessageBody"]["HermesIdentifier"]
            for e in sorted(
                (e for e in by_source[handle] if e["MessageName"].endswith(".UnitsArrived")),
                key=lambda e: e["TimeStamp"],
            )
        ]
        arrivals = [b for b in dict.fromkeys(arrivals) if b in set(boards)]
        assert arrivals == boards, f"{handle}: arrivals out of order"
