"""The line configuration of a running simulated line, as ``linegate run`` would read it.

``linegate demo`` and the test kit's ``linegate_gateway`` describe the simulated line they run
as a :class:`~gateway.config.LineConfig` (one ``[[machines]]`` entry and one
``[[hermes.vertical]]`` link per machine, from ``line.endpoints()``) and start it through
:func:`gateway.launch.open_gateway`, the assembly ``linegate run`` uses. Nothing here builds an
adapter: what a machine of a simulated line gets is what the same entry in a config file gets.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.config import (
    AmqpConfig,
    ChangeoverConfig,
    HermesLink,
    HttpConfig,
    LineConfig,
    ListenerConfig,
    MachineConfig,
    MqttConfig,
    OutboxConfig,
    RecipeRef,
)
from simulators import Endpoint, Line, LineSpec
from simulators.line_spec import MACHINE_KINDS

#: The protocol of the simulator kinds that are CFX endpoints of their own (simulators.line_spec).
CFX_NATIVE = "cfx-amqp1.0"
#: The AMQP 1.0 address CFX-native machines publish their events to (a gateway listener node).
EVENTS_ADDRESS = "linegate"
#: How the gateway reaches each kind of simulated machine that is not CFX-native: the protocol
#: and the built-in map, as a config file names them.
SIMULATED_MAPS: dict[str, tuple[str, str]] = {
    "reflow_oven": ("modbus", "builtin:reflow_oven"),
    "selective_solder": ("opcua", "builtin:selective_solder"),
    "coater": ("serial", "builtin:coater"),
}


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the kernel picks it; another bind may race it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def speaks_cfx(kind: str) -> bool:
    """Whether machines of simulator ``kind`` are CFX endpoints of their own (placement, printer,
    SPI): they publish to the gateway's listener and host their own request handle."""
    return MACHINE_KINDS[kind].protocol == CFX_NATIVE


def publishing_to(spec: LineSpec, events_port: int) -> LineSpec:
    """``spec`` with its CFX-native machines publishing their CFX events to a gateway's AMQP 1.0
    listener (address ``linegate``): the first one on ``events_port``, each further one on a
    free port of its own (each machine's CFX-native adapter owns its listener;
    :func:`machine_config` reads the port back from the machine)."""
    machines = []
    port = events_port
    for machine in spec.machines:
        if speaks_cfx(machine.kind):
            options = {"publish_uri": f"amqp://127.0.0.1:{port}", "publish_address": EVENTS_ADDRESS}
            machine = dataclasses.replace(machine, options={**machine.options, **options})
            port = free_port()
        machines.append(machine)
    return dataclasses.replace(spec, machines=tuple(machines))


def machine_config(line: Line, endpoint: Endpoint, events_port: int) -> MachineConfig:
    """The ``[[machines]]`` entry for one machine of a running line, from where it listens.

    Raises:
        ValueError: linegate has no built-in map for this kind of simulated machine.
    """
    handle = endpoint.cfx_handle or endpoint.machine_id
    connection: dict[str, Any]
    if endpoint.protocol == CFX_NATIVE:
        machine = line.machine(endpoint.machine_id)
        publish_uri = getattr(machine, "publish_uri", None)  # the machine pushes its events there
        port = urlsplit(publish_uri).port if isinstance(publish_uri, str) else None
        connection = {
            "events": "direct",
            "listen_host": "127.0.0.1",
            "listen_port": port or events_port,
            "address": EVENTS_ADDRESS,
        }
        request_uri = getattr(machine, "request_uri", None)
        if request_uri is not None:
            connection["request_uri"] = request_uri
        return MachineConfig(id=endpoint.machine_id, handle=handle, protocol="cfx", connection=connection)
    if endpoint.kind not in SIMULATED_MAPS:
        raise ValueError(
            f"linegate has no built-in map for a simulated {endpoint.kind} ({endpoint.machine_id})"
        )
    protocol, device_map = SIMULATED_MAPS[endpoint.kind]
    if protocol == "opcua":
        connection = {"url": endpoint.url}
    elif protocol == "serial":
        connection = {"url": f"socket://{endpoint.host}:{endpoint.port}"}
    else:
        connection = {"host": endpoint.host, "port": endpoint.port}
    return MachineConfig(
        id=endpoint.machine_id, handle=handle, protocol=protocol, connection=connection, map=device_map
    )


def line_config(
    line: Line,
    *,
    events_port: int,
    outbox_path: str | Path,
    products: Mapping[str, Mapping[str, RecipeRef]],
    name: str | None = None,
    changeover: ChangeoverConfig | None = None,
    http_port: int = 0,
    amqp: AmqpConfig | None = None,
    mqtt: MqttConfig | None = None,
) -> LineConfig:
    """The configuration ``linegate run`` would need for a running simulated line.

    Every machine in its own protocol with its built-in map, and its Hermes vertical channel
    (so the gateway tracks the boards, and derives the work a protocol does not report); the
    CFX request listener and the HTTP API on 127.0.0.1 (free ports unless ``http_port``).

    Args:
        events_port: where the line's first CFX-native machine publishes (see :func:`publishing_to`).
        outbox_path: the embedded outbox's SQLite file (its folder must exist).
        products: product → machine id → recipe, the ``[products]`` table.
        name: the line's name (the dashboard's title); by default the line spec's.
        changeover: the ``[changeover]`` table (by default, as a config without one).

    Raises:
        ValueError: a machine of a kind linegate has no built-in map for.
    """
    endpoints = line.endpoints()
    return LineConfig(
        path=f"<simulated line {line.spec.name}>",
        name=name or line.spec.name,
        machines=tuple(machine_config(line, end, events_port) for end in endpoints),
        products={product: dict(recipes) for product, recipes in products.items()},
        hermes=tuple(
            HermesLink(end.machine_id, "vertical", {"host": end.host, "port": end.hermes.vertical_port})
            for end in endpoints
        ),
        outbox=OutboxConfig(path=str(outbox_path)),
        amqp=amqp,
        mqtt=mqtt,
        listener=ListenerConfig(host="127.0.0.1", port=0),
        http=HttpConfig(host="127.0.0.1", port=http_port),
        changeover=changeover or ChangeoverConfig(),
    )
