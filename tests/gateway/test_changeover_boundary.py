"""A line changeover during flow builds no board on the wrong recipe (issue 8), end to end.

The default simulated line runs boards of one product, then boards of another; the gateway is
configured as ``linegate run`` does it, with ``[changeover] at = "boundary"``. The changeover is
requested while boards of the first product are still in the line. What each simulated machine
itself recorded (the recipe in its own WorkStarted, the product type the board carries) must
show every board built on its own product's recipe at every machine, and every board made must
leave the line. The CFX WorkStarted the gateway publishes for each board names that recipe too.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import aio_pika
import orjson
import pytest

from gateway.assemble import start_gateway
from gateway.config import RecipeRef, load_config
from gateway.demo import PRODUCTS
from gateway.simulated import publishing_to
from protocols.transport.ports import free_port
from simulators import Line, small_line
from simulators.line import SourceSpec, WorkOrder
from simulators.machine import MachineEvent, WorkStarted
from tests.support.line_config import write_line_config

OLD, NEW = "CTRL-MAIN-R3", "PSU-24V-R1"
PER_PRODUCT = 6

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]


def _products_toml(products: dict[str, dict[str, RecipeRef]]) -> str:
    lines = ["", "[changeover]", 'at = "boundary"', "timeout = 90"]
    for product, recipes in products.items():
        lines.append(f"[products.{product}]")
        lines += [f'{machine} = "{recipe.name}"' for machine, recipe in recipes.items()]
    return "\n".join(lines) + "\n"


async def test_a_changeover_during_flow_builds_every_board_on_its_products_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINEGATE_BOUNDARY_AMQP_PASSWORD", "guest")
    exchange = f"linegate-boundary-{uuid.uuid4().hex[:8]}"
    events_port = free_port()
    spec = dataclasses.replace(
        publishing_to(small_line(), events_port),
        time_scale=400.0,
        boards=2 * PER_PRODUCT,
        source=SourceSpec(
            work_orders=(WorkOrder("WO-OLD", OLD, PER_PRODUCT), WorkOrder("WO-NEW", NEW, PER_PRODUCT))
        ),
    )
    # machine -> BoardId -> (the product the board carries, the recipe the machine built it on)
    built: dict[str, dict[str, list[tuple[str | None, str | None]]]] = collections.defaultdict(
        lambda: collections.defaultdict(list)
    )
    async with AsyncExitStack() as stack:
        line = await stack.enter_async_context(Line(spec, start_source=False))
        for machine in line.machines:

            def record(event: MachineEvent, machine_id: str = machine.machine_id) -> None:
                if isinstance(event, WorkStarted):
                    recipe = event.recipe.name if event.recipe else None
                    built[machine_id][event.board.board_id].append((event.board.product_type_id, recipe))

            machine.subscribe(record)
        path = write_line_config(
            tmp_path / "line.toml",
            line,
            exchange=exchange,
            password_env="LINEGATE_BOUNDARY_AMQP_PASSWORD",
            events_port=events_port,
        )
        machines = [m.machine_id for m in line.machines]
        products = {p: {m: r for m, r in PRODUCTS[p].items() if m in machines} for p in (OLD, NEW)}
        with path.open("a", encoding="utf-8") as file:
            file.write(_products_toml(products))
        config = load_config(path)
        assert config.changeover.at == "boundary"
        gateway, _ = await start_gateway(config, stack, events_file=str(tmp_path / "events.jsonl"))
        stop = asyncio.Event()
        running = asyncio.create_task(gateway.run(stop))
        try:
            for runtime in gateway.machines.values():
                for adapter in runtime.adapters:
                    await adapter.wait_connected(60)
            line.start_source()

            # Boards of the old product are flowing: the first has left the line, others are in it.
            await asyncio.wait_for(line.wait_departed(1), 60)
            assert line.source is not None
            in_line = len(line.source.sent) - len(line.departed)
            last = machines[-1]
            old_left_to_build = PER_PRODUCT - len(built[last])
            outcomes = await asyncio.wait_for(gateway.recipes.changeover(NEW), 90)

            await asyncio.wait_for(line.wait_departed(2 * PER_PRODUCT), 90)
            await asyncio.wait_for(gateway.outbox.wait_delivered("file"), 30)
        finally:
            stop.set()
            await asyncio.wait_for(running, 60)
        connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
        async with connection:
            channel = await connection.channel()
            await channel.exchange_delete(exchange)

    assert in_line > 0 and old_left_to_build > 0, "the changeover was not requested during flow"
    # Every machine reports its switch, each confirmed by read-back.
    assert sorted(o.machine_id for o in outcomes) == sorted(products[NEW])
    for outcome in outcomes:
        assert outcome.ok, (outcome.machine_id, outcome.result.message)
        assert outcome.recipe.name == products[NEW][outcome.machine_id].name
    # No board lost: every board made left the line, once.
    assert line.sink is not None
    assert line.sink.board_ids == line.source.sent
    assert len(set(line.source.sent)) == 2 * PER_PRODUCT
    carried = collections.Counter(b.product_type_id for b in line.sink.received)
    assert carried == {OLD: PER_PRODUCT, NEW: PER_PRODUCT}
    # Every board at every machine was built once, on the recipe of the product it carries.
    for machine_id in machines:
        wrong = []
        for board_id in line.source.sent:
            starts = built[machine_id][board_id]
            assert len(starts) == 1, f"{machine_id}: board {board_id} started {len(starts)} times"
            product, recipe = starts[0]
            assert product in (OLD, NEW), f"{machine_id}: board {board_id} carries {product!r}"
            if recipe != products[product][machine_id].name:
                wrong.append((board_id, product, recipe))
        assert not wrong, f"{machine_id} built boards on the wrong recipe: {wrong}"
    # What MES sees: each machine's CFX WorkStarted per board names the recipe it was built on.
    product_of = {b.board_id: b.product_type_id for b in line.sink.received}
    handles = {config.machine(m).handle: m for m in machines}
    published: dict[str, dict[str, str]] = collections.defaultdict(dict)
    orders: dict[str, dict[str, str | None]] = collections.defaultdict(dict)
    for row in (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines():
        envelope = orjson.loads(row)
        if envelope["MessageName"] == "CFX.Production.WorkStarted" and envelope["Source"] in handles:
            body = envelope["MessageBody"]
            published[handles[envelope["Source"]]][body["HermesIdentifier"]] = body["RecipeName"]
            work_order = body.get("WorkOrderIdentifier") or {}
            orders[handles[envelope["Source"]]][body["HermesIdentifier"]] = work_order.get("WorkOrderId")
    for machine_id in machines:
        expected = {b: products[p][machine_id].name for b, p in product_of.items() if p is not None}
        assert published[machine_id] == expected, f"{machine_id}: CFX WorkStarted names other recipes"
    # ...and the work order the gateway told the machine in its answer to QueryWorkOrderInfo
    # (the gated machines; a CFX machine publishes its own WorkStarted).
    work_orders = {OLD: "WO-OLD", NEW: "WO-NEW"}
    for machine_id in machines:
        if config.machine(machine_id).protocol == "cfx":
            continue
        expected_orders = {b: work_orders[p] for b, p in product_of.items() if p is not None}
        assert orders[machine_id] == expected_orders, f"{machine_id}: CFX WorkStarted names no work order"
