"""An interlock enforced through a Hermes bridge, on a whole line started as ``linegate run`` is.

The simulated line AOI → reflow oven (legacy: no Hermes, a Hermes bridge stands in for it) →
coater is described as its config file (``gateway.simulated.line_config``: the oven gets a
``[[hermes.bridges]]`` entry naming the coater ``downstream``) with one ``[[interlock]]``: a
board must have passed AOI before the coater. The AOI fails the second board. The gateway,
opened through ``gateway.launch.open_gateway``, carries the first board through its bridge to
the coater; the second one's BoardAvailable is never offered to the coater: it stays at the
oven's exit while the bridge keeps asking. The refusal goes to the real RabbitMQ broker as
FaultOccurred naming the rule, from the coater's handle, and shows in ``GET /api/control``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from adapters.hermes_bridge import BridgeAdapter
from gateway.config import AmqpConfig
from gateway.launch import open_gateway, wait_connected
from gateway.simulated import line_config
from gateway.testing import CFXEventCollector
from gateway.trace.control import ControlConfig, Rule
from protocols.hermes.messages import BoardAvailable
from simulators import Line
from simulators.line import parse_line
from simulators.machine import MachineEvent, UnitsArrived
from tests.support.exchange import BROKER, recorded_exchange

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]

RULE = "aoi-before-coater"
FAULT = "CFX.ResourcePerformance.FaultOccurred"
CLEARED = "CFX.ResourcePerformance.FaultCleared"
#: Real seconds the line may take for what a test waits for.
DEADLINE = 60.0


def bridged_line() -> Any:
    """AOI (fails its 2nd board) → legacy oven with Hermes neighbours → coater, two boards."""
    return parse_line(
        {
            "name": "bridged",
            "seed": 3,
            "boards": 2,
            "time_scale": 200.0,
            "machines": [
                {"kind": "aoi", "id": "aoi", "handle": "linegate.aoi.1", "options": {"fail_boards": [2]}},
                {
                    "kind": "reflow_oven",
                    "id": "oven",
                    "handle": "linegate.oven.1",
                    "options": {"legacy": True, "tau": 10.0, "tunnel_mm": 300.0},
                    "legacy_neighbours": "hermes",
                },
                {"kind": "coater", "id": "coater", "handle": "linegate.coater.1"},
            ],
        }
    )


def interlock_faults(envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The FaultOccurred of interlock refusals (not the machines' own faults)."""
    return [
        e
        for e in envelopes
        if e["MessageName"] == FAULT and e["MessageBody"]["Fault"]["FaultCode"].startswith("INTERLOCK.")
    ]


class Asked:
    """Records every interlock check the bridge makes (wrapping the gateway's own)."""

    def __init__(self, adapter: BridgeAdapter) -> None:
        assert adapter.admit is not None, "the gateway attached no interlock to the bridge"
        self.inner = adapter.admit
        self.answers: list[tuple[str, str | None]] = []  # (BoardId, refusal or None)
        self.changed = asyncio.Condition()
        adapter.admit = self

    async def __call__(self, board: BoardAvailable) -> str | None:
        reason = await self.inner(board)
        async with self.changed:
            self.answers.append((board.board_id, reason))
            self.changed.notify_all()
        return reason

    def refusals(self, board_id: str) -> list[str]:
        return [r for b, r in self.answers if b == board_id and r is not None]


async def test_a_board_that_failed_aoi_stays_at_the_bridge_and_the_one_that_passed_goes_on(
    tmp_path: Path,
) -> None:
    async with recorded_exchange("linegate-bridge") as into, AsyncExitStack() as stack:
        line = await stack.enter_async_context(Line(bridged_line(), start_source=False))
        config = line_config(line, events_port=0, outbox_path=tmp_path / "outbox.sqlite", products={})
        [bridge] = [link for link in config.hermes if link.machine == "oven"]
        assert bridge.kind == "bridge" and getattr(bridge.settings, "downstream", None) == "coater"
        assert {link.machine for link in config.hermes if link.kind == "vertical"} == {"aoi", "coater"}
        config = dataclasses.replace(
            config,
            amqp=AmqpConfig(url=BROKER, exchange=into.name),
            control=ControlConfig(
                handle="Linegate.Control.bridged",
                rules=(Rule(RULE, "route", "coater", "aoi", frozenset({"passed", "repaired"})),),
            ),
        )
        collector = CFXEventCollector()
        opened = await open_gateway(config, stack, extra_sinks=[collector])
        gateway = opened.gateway
        assert gateway.trace is not None
        [adapter] = [a for a in gateway.machines["oven"].adapters if isinstance(a, BridgeAdapter)]
        asked = Asked(adapter)
        coater_saw: list[str] = []

        def on_coater(event: MachineEvent) -> None:
            if isinstance(event, UnitsArrived):
                coater_saw.append(event.board.board_id)

        line.machine("coater").subscribe(on_coater)
        stop = asyncio.Event()
        running = asyncio.create_task(gateway.run(stop))
        dashboard: asyncio.Task[dict[str, Any]] | None = None
        try:
            await wait_connected(gateway, 30)
            # The dashboard follows the coater's events from now on (as a browser would).
            http = await stack.enter_async_context(aiohttp.ClientSession())
            stream = await stack.enter_async_context(
                http.get(opened.http.url + "api/events?source=linegate.coater.1")
            )
            assert opened.http.sse is not None
            await opened.http.sse.wait_clients(1)
            dashboard = asyncio.create_task(first_interlock_fault(stream))
            line.start_source()
            assert line.source is not None and line.sink is not None
            # The first board passed AOI: the bridge offers it and the coater hands it on.
            [passed] = await asyncio.wait_for(_departed(line, 1), DEADLINE)
            async with asyncio.timeout(DEADLINE), asked.changed:
                await asked.changed.wait_for(lambda: len(asked.answers) >= 2)
            assert asked.answers[0] == (passed, None)
            failed = asked.answers[1][0]
            assert line.source.sent == [passed, failed]
            # The second failed AOI: refused, and refused again each time the bridge asks.
            async with asyncio.timeout(DEADLINE), asked.changed:
                await asked.changed.wait_for(lambda: len(asked.refusals(failed)) >= 3)
            reason = asked.refusals(failed)[0]
            assert reason.startswith(f"interlock {RULE}: the board's step at linegate.aoi.1 is failed")
            assert failed not in coater_saw and coater_saw == [passed]
            assert line.sink.board_ids == [passed] and line.departed == [passed]
            # It stays in the oven, at its exit (the bridge's state carries it to a new session).
            [waiting] = adapter.state.inside
            assert waiting.board_id == failed and not adapter.state.releasing
            barcode = waiting.top_barcode
            assert barcode is not None

            # Published: FaultOccurred naming the rule, from the coater (where it was refused),
            # once for the board however often the bridge asks.
            await asyncio.wait_for(gateway.outbox.wait_delivered(collector.name), DEADLINE)
            raised = [
                e
                for e in collector.of(FAULT)
                if e["MessageBody"]["Fault"]["FaultCode"] == f"INTERLOCK.{RULE}"
            ]
            assert len(raised) == 1 and not collector.of(CLEARED, source="linegate.coater.1")
            await into.wait_until(lambda: bool(interlock_faults(into.envelopes)), DEADLINE)
            [fault] = interlock_faults(into.envelopes)
            assert fault["UniqueID"] == raised[0]["UniqueID"]
            assert fault["Source"] == "linegate.coater.1"
            body = fault["MessageBody"]["Fault"]
            assert body["FaultCode"] == f"INTERLOCK.{RULE}" and body["Cause"] == "QualityCheck"
            assert f"board {barcode} refused by interlock {RULE}" in body["Description"]

            # Shown where the dashboard shows faults (its event stream, on the coater's card) and
            # where the HTTP API lists refusals.
            shown = await asyncio.wait_for(dashboard, DEADLINE)
            assert shown["UniqueID"] == fault["UniqueID"]
            async with http.get(opened.http.url + "api/control") as r:
                assert r.status == 200
                control = await r.json()
            assert control["refused"] == 1
            [refusal] = control["refusals"]
            assert (refusal["machine"], refusal["via"], refusal["rule"]) == ("coater", "hermes-bridge", RULE)
            assert refusal["board"] == barcode and failed in refusal["identifiers"]
            # A dashboard opened now still shows it on the coater (its fault list of /api/line).
            async with http.get(opened.http.url + "api/line") as r:
                machines = {m["id"]: m for m in (await r.json())["machines"]}
            [shown_fault] = machines["coater"]["faults"]
            assert shown_fault["code"] == f"INTERLOCK.{RULE}"
            assert shown_fault["occurrence_id"] == body["FaultOccurrenceId"]
        finally:
            if dashboard is not None:
                dashboard.cancel()
            stop.set()
            await asyncio.wait_for(running, 30)


async def first_interlock_fault(response: aiohttp.ClientResponse) -> dict[str, Any]:
    """The first interlock FaultOccurred in a text/event-stream response (``/api/events``)."""
    async for raw in response.content:
        row = raw.decode().rstrip("\n")
        if row.startswith("data: "):
            envelope: dict[str, Any] = orjson.loads(row[6:])
            fault = envelope["MessageBody"].get("Fault") if envelope["MessageName"] == FAULT else None
            if fault is not None and fault["FaultCode"].startswith("INTERLOCK."):
                return envelope
    raise AssertionError("the event stream ended")


async def _departed(line: Line, count: int) -> list[str]:
    await line.wait_departed(count)
    return line.departed[:count]
