"""The one way a gateway starts: ``linegate run``, ``linegate demo`` and the test kit's
``linegate_gateway`` all hand a :class:`~gateway.config.LineConfig` to :func:`open_gateway`.

``run`` reads its config from a file; the demo and the kit describe their simulated line as
one (:func:`gateway.simulated.line_config`). The validation, the adapters, the Hermes links,
the interlock, the "synthesize work" rule, the recipe service and its board gate, the CFX
listener and the HTTP API are therefore the same for all three.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import dataclass

from gateway.assemble import bind_errors, check_line, start_gateway
from gateway.config import LineConfig
from gateway.http import HttpServer, SseSink
from gateway.metrics import Metrics
from gateway.runtime import Gateway
from gateway.sinks.base import Sink
from protocols.cfx.transport import CFXListener


@dataclass(frozen=True, slots=True)
class OpenGateway:
    """A gateway opened by :func:`open_gateway`, not yet running (``await gateway.run(stop)``)."""

    gateway: Gateway
    listener: CFXListener
    http: HttpServer


async def open_gateway(
    config: LineConfig,
    stack: AsyncExitStack,
    *,
    console: bool = False,
    events_file: str | None = None,
    extra_sinks: list[Sink] | None = None,
    metrics: Metrics | None = None,
    sse: SseSink | None = None,
) -> OpenGateway:
    """Validate ``config`` as ``linegate check`` does, then open on ``stack`` everything the
    gateway needs: sinks, outbox, adapters, recipe service, CFX listener and HTTP API.

    Args:
        console: also print one line per event on stdout.
        events_file: also append every event to this JSON-lines file.
        extra_sinks: further sinks (the demo's counter, the test kit's event collector).
        metrics: when given, every delivering sink is measured and the API serves the figures.
        sse: the dashboard's event stream (a new one when not given).

    Raises:
        ConfigError: the config is wrong, or a listener cannot bind (names file and key).
    """
    check_line(config)
    sse = sse or SseSink()
    gateway, listener = await start_gateway(
        config,
        stack,
        console=console,
        events_file=events_file,
        extra_sinks=extra_sinks,
        metrics=metrics,
        sse=sse,
    )
    with bind_errors(config, "http.port", config.http.host, config.http.port):
        http = await stack.enter_async_context(
            HttpServer.from_config(gateway, config, sse=sse, metrics=metrics)
        )
    return OpenGateway(gateway, listener, http)


async def wait_connected(gateway: Gateway, timeout: float) -> None:
    """Wait until every adapter of every machine (its own protocol, its Hermes links) is connected.

    Raises:
        TimeoutError: one did not connect within ``timeout`` seconds in all.
    """
    async with asyncio.timeout(timeout):
        for runtime in gateway.machines.values():
            for adapter in runtime.adapters:
                await adapter.wait_connected(timeout)
