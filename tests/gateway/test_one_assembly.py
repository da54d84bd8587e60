"""``linegate run``, ``linegate demo`` and the test kit's gateway are one assembly path.

Each hands a line config to ``gateway.launch.open_gateway``, which builds the gateway with
``gateway.assemble.start_gateway``; the demo and the kit describe their simulated line as the
config file ``linegate run`` would read for it. A private wiring re-added to any of the three
(its own adapters, runtimes, recipe service or listener) fails these tests.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

import gateway.assemble
import gateway.launch
from gateway.cli import main
from gateway.config import LineConfig, load_config
from gateway.demo import PRODUCTS, DemoOptions, run_demo
from gateway.runtime import Gateway
from gateway.simulated import line_config, publishing_to
from gateway.testing import CFXEventCollector, SimulatedLine, wire_gateway
from protocols.cfx.transport import CFXListener
from protocols.transport.ports import free_port
from simulators import Line, default_line
from tests.support.line_config import write_line_config

Start = Callable[..., Awaitable[tuple[Gateway, CFXListener]]]


class Assembled(Exception):
    """Raised by the spy to stop a command once it reached run's assembly."""


def spy_on_assembly(
    monkeypatch: pytest.MonkeyPatch, *, stop: bool
) -> list[tuple[LineConfig, Gateway | None]]:
    """Record every config ``start_gateway`` is given through ``open_gateway`` (and the gateway
    it built); with ``stop``, raise :class:`Assembled` instead of building."""
    calls: list[tuple[LineConfig, Gateway | None]] = []
    real: Start = gateway.assemble.start_gateway

    async def spy(config: LineConfig, *args: Any, **kwargs: Any) -> tuple[Gateway, CFXListener]:
        if stop:
            calls.append((config, None))
            raise Assembled
        built = await real(config, *args, **kwargs)
        calls.append((config, built[0]))
        return built

    monkeypatch.setattr(gateway.launch, "start_gateway", spy)
    return calls


def test_linegate_run_starts_through_open_gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = spy_on_assembly(monkeypatch, stop=True)
    path = tmp_path / "line.toml"
    path.write_text(
        f'[line]\nname = "one"\n[outbox]\npath = "{tmp_path / "outbox.sqlite"}"\n'
        "[listener]\nport = 0\n[http]\nport = 0\n"
        '[[machines]]\nid = "oven"\nhandle = "t.oven.1"\nprotocol = "modbus"\n'
        f'map = "builtin:reflow_oven"\nconnection = {{ host = "127.0.0.1", port = {free_port()} }}\n',
        encoding="utf-8",
    )
    with pytest.raises(Assembled):
        main(["run", str(path)])
    assert [config for config, _ in calls] == [load_config(path)]


async def test_linegate_demo_starts_its_line_config_through_open_gateway(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = spy_on_assembly(monkeypatch, stop=True)
    with pytest.raises(Assembled):
        await run_demo(DemoOptions(boards=1, quiet=True), out=io.StringIO())
    [(config, _)] = calls
    assert config.name == "demo"
    # The default line, the whole SMT line, with the products of its file.
    assert [m.id for m in config.machines] == [m.machine_id for m in default_line().machines]
    assert {m.protocol for m in config.machines} >= {
        "cfx",
        "modbus",
        "opcua",
        "serial",
        "files",
        "scanner",
        "tester",
    }
    assert {h.machine for h in config.hermes if h.kind == "vertical"} == {m.id for m in config.machines}
    assert config.products == PRODUCTS


async def test_the_kits_gateway_is_the_one_run_assembled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = spy_on_assembly(monkeypatch, stop=False)
    spec = dataclasses.replace(
        default_line(),
        machines=tuple(
            # The coater without a handle: run needs one, so it gets linegate.<id>.1.
            dataclasses.replace(m, handle=None) if m.kind == "coater" else m
            for m in default_line().machines
            if m.kind in ("reflow_oven", "coater")
        ),
        boards=1,
    )
    async with AsyncExitStack() as stack:
        line = await stack.enter_async_context(Line(spec, start_source=False))
        kit = await wire_gateway(
            stack,
            SimulatedLine(line, 0),
            tmp_path / "outbox.sqlite",
            [CFXEventCollector()],
            start_source=False,
        )
        [(config, built)] = calls
        assert kit.gateway is built and kit.config is config
        assert kit.recipes is built.recipes
        assert kit.handles == {"reflow": "linegate.reflow.1", "coater": "linegate.coater.1"}


async def test_a_simulated_lines_config_is_the_config_file_run_would_read(tmp_path: Path) -> None:
    """For the demo's line, the config the demo and the kit build equals the TOML an integrator
    would write for it (the one the end-to-end test hands to ``linegate run``)."""
    events_port = free_port()
    async with Line(publishing_to(default_line(), events_port), start_source=False) as line:
        built = line_config(line, events_port=events_port, outbox_path=tmp_path / "o.sqlite", products={})
        written = load_config(
            write_line_config(
                tmp_path / "line.toml", line, exchange="x", password_env="P", events_port=events_port
            )
        )
    assert built.machines == written.machines
    assert built.hermes == written.hermes
    assert built.listener == written.listener
