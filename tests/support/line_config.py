"""Writes the line configuration ``linegate run`` would get for a running simulated line."""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path

from simulators import Line

# How the gateway talks to each kind of simulated machine: protocol, map, connection keys.
_MACHINE = {
    "reflow_oven": ('protocol = "modbus"', 'map = "builtin:reflow_oven"'),
    "selective_solder": ('protocol = "opcua"', 'map = "builtin:selective_solder"'),
    "coater": ('protocol = "serial"', 'map = "builtin:coater"'),
}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_line_config(
    path: Path,
    line: Line,
    *,
    exchange: str,
    password_env: str,
    broker_port: int = 5672,
    events_port: int | None = None,
) -> Path:
    """A TOML config for every machine of ``line``, its Hermes vertical channel, an AMQP sink.

    The placement machine (if any) pushes its CFX events to ``events_port`` on our side.
    """
    text = f"""
        [line]
        name = "{line.spec.name}"

        [outbox]
        path = "{path.parent / "outbox.sqlite"}"

        [amqp]
        url = "amqp://guest@127.0.0.1:{broker_port}/"
        password_env = "{password_env}"
        exchange = "{exchange}"

        [listener]
        port = 0

        [http]
        port = 0
    """
    for end in line.endpoints():
        text += f"""
        [[machines]]
        id = "{end.machine_id}"
        handle = "{end.cfx_handle}"
        """
        if end.kind == "placement":
            request_uri = getattr(line.machine(end.machine_id), "request_uri", "")
            text += (
                'protocol = "cfx"\n'
                f'connection = {{ request_uri = "{request_uri}", events = "direct", '
                f'listen_host = "127.0.0.1", listen_port = {events_port}, address = "linegate" }}\n'
            )
        else:
            protocol, map_key = _MACHINE[end.kind]
            if end.kind == "selective_solder":
                connection = f'url = "{end.url}"'
            elif end.kind == "coater":
                connection = f'url = "socket://127.0.0.1:{end.port}"'
            else:
                connection = f'host = "127.0.0.1", port = {end.port}'
            text += f"{protocol}\n{map_key}\nconnection = {{ {connection} }}\n"
        text += f"""
        [[hermes.vertical]]
        machine = "{end.machine_id}"
        host = "127.0.0.1"
        port = {end.hermes.vertical_port}
        """
    path.write_text(
        "\n".join(line.strip() for line in textwrap.dedent(text).splitlines()) + "\n", encoding="utf-8"
    )
    return path
