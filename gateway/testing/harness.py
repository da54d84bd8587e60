"""A simulated line and a gateway wired to it, as the pytest fixtures hand them to tests.

:func:`line_spec` prepares a :class:`~simulators.LineSpec` for a test (pace, board count, the
placement machine publishing to the gateway); :class:`SimulatedLine` is the running line with
typed access to its machines; :func:`wire_gateway` describes a running line as the config
``linegate run`` would read for it (:func:`gateway.simulated.line_config`: each machine in its
own protocol with its built-in map, its Hermes vertical channel, an embedded SQLite outbox, the
line's products, the CFX request listener, the HTTP API), starts it through ``run``'s own
assembly (:func:`gateway.launch.open_gateway`) and runs it until the surrounding
``AsyncExitStack`` closes.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from gateway.config import ChangeoverAt, ChangeoverConfig, LineConfig, RecipeRef
from gateway.launch import open_gateway, wait_connected
from gateway.outbox import Outbox
from gateway.recipes import RecipeService
from gateway.runtime import Gateway
from gateway.simulated import line_config, publishing_to
from gateway.simulated import line_products as line_products  # gateway.testing.line_products
from gateway.sinks.base import Sink
from protocols.transport.ports import free_port as free_port  # gateway.testing.free_port
from simulators import Endpoint, Line, LineSpec, Machine

M = TypeVar("M", bound=Machine)


def line_spec(spec: LineSpec, *, time_scale: float, boards: int | None, events_port: int) -> LineSpec:
    """``spec`` paced for a test, with its CFX-native machines publishing to the gateway (the
    first one on ``events_port``, see :func:`gateway.simulated.publishing_to`)."""
    return dataclasses.replace(publishing_to(spec, events_port), time_scale=time_scale, boards=boards)


class SimulatedLine:
    """A running simulated line, as the ``simulated_line`` fixture yields it.

    Args:
        line: the running :class:`~simulators.Line`.
        events_port: where its placement machines publish CFX (the gateway listens there).
        products: product → machine id → recipe, for the gateway's recipe service; None reads
            them from the line's file (:func:`line_products`).
    """

    def __init__(
        self, line: Line, events_port: int, products: Mapping[str, Mapping[str, RecipeRef]] | None = None
    ) -> None:
        self.line = line
        self.events_port = events_port
        self.products = dict(products) if products is not None else line_products(line.spec)

    @property
    def spec(self) -> LineSpec:
        """The line description it runs."""
        return self.line.spec

    @property
    def machines(self) -> dict[str, Machine]:
        """The machines by MachineId, in line order."""
        return self.line.machines_by_id

    @property
    def departed(self) -> list[str]:
        """BoardIds that left the last machine, in order."""
        return self.line.departed

    def machine(self, machine_id: str, kind: type[M] | None = None) -> M:
        """The machine ``machine_id`` (checked to be a ``kind`` when given, which types it).

        Raises:
            KeyError: no such machine.
            TypeError: it is not a ``kind``.
        """
        machine = self.line.machine(machine_id)
        if kind is not None and not isinstance(machine, kind):
            raise TypeError(f"machine {machine_id!r} is a {type(machine).__name__}, not a {kind.__name__}")
        return machine  # type: ignore[return-value]  # unchecked without kind, as documented

    def endpoints(self) -> list[Endpoint]:
        """Where every machine listens."""
        return self.line.endpoints()

    def start_source(self) -> None:
        """Start making boards, once (the gateway fixture does it when every adapter is connected)."""
        self.line.start_source()

    async def wait_departed(self, count: int, timeout: float = 30.0) -> list[str]:
        """Wait until ``count`` boards left the line; return their BoardIds.

        Raises:
            TimeoutError: fewer left within ``timeout`` wall-clock seconds (the message says how many).
        """
        try:
            await asyncio.wait_for(self.line.wait_departed(count), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"{len(self.line.departed)} of {count} boards left the line within {timeout:g} s"
            ) from None
        return self.line.departed[:count]

    async def wait_published(self, timeout: float = 30.0) -> None:
        """Wait until every CFX-native machine's own events reached the gateway: they trail the
        boards the machine moved (one transfer in flight), so a test that counts events once the
        last board left waits on this first.

        Raises:
            TimeoutError: some were still unsent after ``timeout`` wall-clock seconds.
        """
        await asyncio.wait_for(self.line.wait_published(), timeout)


@dataclass(slots=True)
class LinegateGateway:
    """A running gateway against a simulated line (the ``linegate_gateway`` fixture's value).

    Attributes:
        gateway: the service (``gateway.outbox``, ``gateway.machines`` runtimes, ``gateway.sinks``).
        line: the simulated line it serves.
        recipes: the recipe service (``await recipes.changeover("PSU-24V-R1")``).
        http_url: the HTTP API and dashboard (``http://127.0.0.1:PORT/``).
        request_uri: the CFX request listener (``amqp://127.0.0.1:PORT``), hosting each
            non-CFX machine's handle.
        handles: the CFX handle of every machine, by MachineId.
        config: the line config it was started from, as ``linegate run`` would read it for
            this line (machines, Hermes links, products, changeover).
    """

    gateway: Gateway
    line: SimulatedLine
    recipes: RecipeService
    http_url: str
    request_uri: str
    handles: dict[str, str]
    config: LineConfig

    @property
    def machines(self) -> dict[str, Machine]:
        """The simulated machines by MachineId."""
        return self.line.machines

    @property
    def outbox(self) -> Outbox:
        """The embedded outbox."""
        return self.gateway.outbox

    async def wait_delivered(self, sink: str, timeout: float = 30.0) -> None:
        """Wait until ``sink`` acknowledged everything stored so far.

        Raises:
            TimeoutError: events are still pending for it after ``timeout`` seconds.
        """
        try:
            await asyncio.wait_for(self.gateway.outbox.wait_delivered(sink), timeout)
        except TimeoutError:
            pending = self.gateway.outbox.depth(sink)
            raise TimeoutError(
                f"sink {sink!r} still has {pending} event(s) pending after {timeout:g} s"
            ) from None


async def wire_gateway(
    stack: AsyncExitStack,
    line: SimulatedLine,
    outbox_path: str | Path,
    sinks: Sequence[Sink],
    *,
    products: Mapping[str, Mapping[str, RecipeRef]] | None = None,
    connect_timeout: float = 30.0,
    start_source: bool = True,
    changeover_at: str = "now",
) -> LinegateGateway:
    """Start a gateway against a running line as ``linegate run`` would for the line's config
    (:func:`gateway.simulated.line_config`, :func:`gateway.launch.open_gateway`); it stops when
    ``stack`` closes.

    Args:
        stack: owns every resource; closing it stops the gateway (its outbox flushed first).
        line: the running line (its source not started yet, so no board goes unobserved).
        outbox_path: the SQLite file of the embedded outbox.
        sinks: where events go besides the HTTP API's SSE stream.
        products: product → machine id → recipe, for ``recipes.changeover``; None takes the
            line's own (``line.products``, from its line file's ``[products]``).
        connect_timeout: seconds for every adapter to connect.
        start_source: start the line's board source once every adapter is connected.
        changeover_at: ``"now"``, or ``"boundary"`` to hold every board on its machine's
            vertical channel until the machine runs the board's product recipe (as
            ``[changeover] at = "boundary"`` does for ``linegate run``).

    Returns:
        The handles to the running gateway.

    Raises:
        TimeoutError: an adapter did not connect in time.
        ConfigError: ``run`` would refuse the line's config (names the key).
        ValueError: the line has a machine kind linegate has no built-in map for.
    """
    config = line_config(
        line.line,
        events_port=line.events_port,
        outbox_path=outbox_path,
        products=line.products if products is None else products,
        changeover=ChangeoverConfig(at=ChangeoverAt(changeover_at), timeout=60),
    )
    opened = await open_gateway(config, stack, extra_sinks=list(sinks))
    gateway = opened.gateway
    stop = asyncio.Event()
    running = asyncio.create_task(gateway.run(stop), name="linegate_gateway.run")

    async def shut_down() -> None:
        stop.set()
        await asyncio.wait_for(running, 30)

    stack.push_async_callback(shut_down)
    await wait_connected(gateway, connect_timeout)
    if start_source:
        line.line.start_source()
    return LinegateGateway(
        gateway=gateway,
        line=line,
        recipes=gateway.recipes,
        http_url=opened.http.url,
        request_uri=opened.listener.uri,
        handles={m.machine_id: m.handle for m in gateway.machines.values()},
        config=config,
    )
