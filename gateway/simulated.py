"""The line configuration of a running simulated line, as ``linegate run`` would read it.

``linegate demo`` and the test kit's ``linegate_gateway`` describe the simulated line they run
as the config document ``linegate run`` would read (one ``[[machines]]`` entry and one
``[[hermes.vertical]]`` link per machine, a ``[[hermes.bridges]]`` one for a bridged legacy
machine, from ``line.endpoints()``), read it with ``run``'s
reader and start it through :func:`gateway.launch.open_gateway`, the assembly ``run`` uses.
Nothing here builds an adapter: a machine of a simulated line gets what the same entry in a
config file gets.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.config import ChangeoverConfig, LineConfig, RecipeRef, parse_config, parse_products
from protocols.transport.ports import free_port
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
#: The built-in files map of each result-file station kind of the simulators.
RESULT_FILE_MAPS = {"aoi": "builtin:aoi_xml", "xray": "builtin:xray_csv", "ict": "builtin:ict_csv"}
#: The protocol of the report-only serial stations, and the map of those that take one (a
#: scanner's reads need none; the tester's lines are read by a tester map).
REPORT_ONLY: dict[str, tuple[str, str | None]] = {
    "scanner": ("scanner", None),
    "fct": ("tester", "builtin:fct_lines"),
}


def speaks_cfx(kind: str) -> bool:
    """Whether machines of simulator ``kind`` are CFX endpoints of their own (placement, printer,
    SPI): they publish to the gateway's listener and host their own request handle."""
    return MACHINE_KINDS[kind].protocol == CFX_NATIVE


def publishing_to(spec: LineSpec, events_port: int) -> LineSpec:
    """``spec`` with its CFX-native machines publishing their CFX events to a gateway's AMQP 1.0
    listener (address ``linegate``): the first one on ``events_port``, each further one on a
    free port of its own (each machine's CFX-native adapter owns its listener;
    :func:`machine_table` reads the port back from the machine)."""
    machines = []
    port = events_port
    for machine in spec.machines:
        if speaks_cfx(machine.kind):
            options = {"publish_uri": f"amqp://127.0.0.1:{port}", "publish_address": EVENTS_ADDRESS}
            machine = dataclasses.replace(machine, options={**machine.options, **options})
            port = free_port()
        machines.append(machine)
    return dataclasses.replace(spec, machines=tuple(machines))


def machine_table(line: Line, endpoint: Endpoint, events_port: int) -> dict[str, Any]:
    """The ``[[machines]]`` table for one machine of a running line, from where it listens.

    A machine the line file gives no handle gets ``linegate.<id>.1`` (``run`` needs a CFX
    handle, Vendor.Model.Instance); a CFX-native one keeps the handle it announces itself.

    Raises:
        ValueError: linegate has no built-in map for this kind of simulated machine.
    """
    machine = line.machine(endpoint.machine_id)
    handle = endpoint.cfx_handle or getattr(machine, "handle", None) or f"linegate.{endpoint.machine_id}.1"
    table: dict[str, Any] = {"id": endpoint.machine_id, "handle": handle}
    if endpoint.protocol == CFX_NATIVE:
        publish_uri = getattr(machine, "publish_uri", None)  # the machine pushes its events there
        port = urlsplit(publish_uri).port if isinstance(publish_uri, str) else None
        connection: dict[str, Any] = {
            "events": "direct",
            "listen_host": "127.0.0.1",
            "listen_port": port or events_port,
            "address": EVENTS_ADDRESS,
        }
        request_uri = getattr(machine, "request_uri", None)
        if request_uri is not None:
            connection["request_uri"] = request_uri
        return {**table, "protocol": "cfx", "connection": connection}
    if endpoint.kind in RESULT_FILE_MAPS:  # AOI, X-ray, ICT: a result file per board
        if endpoint.folder is None:
            raise ValueError(f"{endpoint.machine_id}: a result-file station without a folder")
        files = {
            "folder": str(endpoint.folder),
            "interval": 0.5,
            # The simulators write X.tmp and rename it (simulators/ict.md §1).
            "ready": {"rule": "rename", "suffix": ".tmp"},
        }
        return {**table, "protocol": "files", "map": RESULT_FILE_MAPS[endpoint.kind], "connection": files}
    if endpoint.kind in REPORT_ONLY:  # the scanner and the functional tester: lines on serial
        url = f"socket://{endpoint.host}:{endpoint.port}"
        protocol, report_map = REPORT_ONLY[endpoint.kind]
        table = {**table, "protocol": protocol, "connection": {"url": url}}
        return {**table, "map": report_map} if report_map else table
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
    return {**table, "protocol": protocol, "map": device_map, "connection": connection}


def line_products(spec: LineSpec) -> dict[str, dict[str, RecipeRef]]:
    """The products of a line and each machine's recipe for them, for the recipe service.

    The ``[products]`` table of the line file ``spec`` came from, in ``linegate run``'s format
    (``[products.PSU-24V-R1] reflow = "SAC305-HEAVY"``); none for a line without one. A machine
    the spec left out (the placement machine without its simulator) is left out of each product.

    Raises:
        ConfigError: the table names a machine the line file does not have, or is malformed.
    """
    if spec.path is None:
        return {}
    data = tomllib.loads(Path(spec.path).read_text(encoding="utf-8"))
    if "products" not in data:
        return {}
    # Checked against the file's machines: a spec may run fewer (a test's subset of a line).
    named = {m["id"] for m in data.get("machines", ()) if isinstance(m, dict) and "id" in m}
    products = parse_products(data, named or {m.machine_id for m in spec.machines}, path=spec.path)
    ids = {m.machine_id for m in spec.machines}
    return {p: {m: r for m, r in recipes.items() if m in ids} for p, recipes in products.items()}


def _recipe_table(recipe: RecipeRef) -> str | dict[str, str]:
    if recipe.revision is None:
        return recipe.name
    return {"name": recipe.name, "revision": recipe.revision}


def hermes_tables(line: Line, endpoints: list[Endpoint]) -> dict[str, list[dict[str, Any]]]:
    """The ``[[hermes.vertical]]`` and ``[[hermes.bridges]]`` of a running simulated line.

    A machine with Hermes gets its vertical channel. A legacy machine a Hermes bridge stands in
    for (``legacy_neighbours = "hermes"``) has no Hermes of its own, so it gets a bridge: the
    gateway connects upstream and listens where the machine's endpoint says, and names the next
    machine ``downstream``, so the line's interlocks for that machine hold a refused board at
    the bridge.
    """
    bridged = {spec.machine_id for spec in line.spec.machines if spec.bridged}
    vertical: list[dict[str, Any]] = []
    bridges: list[dict[str, Any]] = []
    for index, end in enumerate(endpoints):
        hermes = end.hermes
        if end.machine_id not in bridged:
            vertical.append({"machine": end.machine_id, "host": end.host, "port": hermes.vertical_port})
            continue
        if hermes.upstream_host is None or hermes.upstream_port is None or hermes.downstream_port is None:
            raise ValueError(f"{end.machine_id}: a bridged machine without its Hermes ports")
        bridge: dict[str, Any] = {
            "machine": end.machine_id,
            "upstream_host": hermes.upstream_host,
            "upstream_port": hermes.upstream_port,
            "listen_host": end.host,
            "listen_port": hermes.downstream_port,
            "lane_id": hermes.lane_id,
        }
        if index + 1 < len(endpoints):
            bridge["downstream"] = endpoints[index + 1].machine_id
        bridges.append(bridge)
    tables: dict[str, list[dict[str, Any]]] = {"vertical": vertical}
    if bridges:
        tables["bridges"] = bridges
    return tables


def line_config(
    line: Line,
    *,
    events_port: int,
    outbox_path: str | Path,
    products: Mapping[str, Mapping[str, RecipeRef]],
    name: str | None = None,
    changeover: ChangeoverConfig | None = None,
    http_port: int = 0,
) -> LineConfig:
    """The configuration ``linegate run`` would read for a running simulated line.

    Written as the TOML document an integrator would write and read by ``run``'s own reader
    (``gateway.config.parse_config``): every machine in its own protocol with its built-in map,
    and its Hermes vertical channel (so the gateway tracks the boards, and derives the work a
    protocol does not report) or, for a legacy machine a Hermes bridge stands in for, its
    ``[[hermes.bridges]]`` entry (:func:`hermes_tables`); the CFX request listener and the HTTP
    API on 127.0.0.1 (free ports unless ``http_port``).

    Args:
        events_port: where the line's first CFX-native machine publishes (see :func:`publishing_to`).
        outbox_path: the embedded outbox's SQLite file (its folder must exist).
        products: product → machine id → recipe, the ``[products]`` table.
        name: the line's name (the dashboard's title); by default the line spec's.
        changeover: the ``[changeover]`` table (by default, as a config without one).

    Raises:
        ValueError: a machine of a kind linegate has no built-in map for.
        ConfigError: what ``run`` would refuse in such a file (a product naming no machine).
    """
    endpoints = line.endpoints()
    changeover = changeover or ChangeoverConfig()
    document: dict[str, Any] = {
        "line": {"name": name or line.spec.name},
        "machines": [machine_table(line, end, events_port) for end in endpoints],
        "hermes": hermes_tables(line, endpoints),
        "products": {
            product: {machine: _recipe_table(recipe) for machine, recipe in recipes.items()}
            for product, recipes in products.items()
        },
        "changeover": {"at": changeover.at, "timeout": changeover.timeout},
        "outbox": {"path": str(outbox_path)},
        "listener": {"host": "127.0.0.1", "port": 0},
        "http": {"host": "127.0.0.1", "port": http_port},
    }
    return parse_config(document, path=f"<simulated line {line.spec.name}>")
