"""Writes the line configuration ``linegate run`` would get for a running simulated line."""

from __future__ import annotations

import textwrap
from pathlib import Path
from urllib.parse import urlsplit

from simulators import Line

# How the gateway talks to each kind of simulated machine: protocol, map, connection keys.
_MACHINE = {
    "reflow_oven": ('protocol = "modbus"', 'map = "builtin:reflow_oven"'),
    "selective_solder": ('protocol = "opcua"', 'map = "builtin:selective_solder"'),
    "coater": ('protocol = "serial"', 'map = "builtin:coater"'),
}
# Result-file stations (a file per board, written as X.tmp and renamed) and their files maps.
_FILES = {"aoi": "builtin:aoi_xml", "xray": "builtin:xray_csv", "ict": "builtin:ict_csv"}
# Report-only serial stations: the protocol that reads their lines, and its map line if any.
_REPORTS = {"scanner": ('protocol = "scanner"',), "fct": ('protocol = "tester"', 'map = "builtin:fct_lines"')}
# The kinds that are CFX endpoints of their own, publishing to a listener on our side.
_CFX = {"placement", "printer", "spi"}


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

    The first CFX-native machine (placement, printer, SPI) pushes its CFX events to
    ``events_port`` on our side, each further one to the port its ``publish_uri`` names.
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
        if end.kind in _CFX:
            machine = line.machine(end.machine_id)
            request_uri = getattr(machine, "request_uri", "")
            publish_uri = getattr(machine, "publish_uri", None)
            port = urlsplit(publish_uri).port if isinstance(publish_uri, str) else None
            text += (
                'protocol = "cfx"\n'
                f'connection = {{ request_uri = "{request_uri}", events = "direct", '
                f'listen_host = "127.0.0.1", listen_port = {port or events_port}, address = "linegate" }}\n'
            )
        elif end.kind in _FILES:
            text += (
                f'protocol = "files"\nmap = "{_FILES[end.kind]}"\n'
                f'connection = {{ folder = "{end.folder}", interval = 0.5, '
                'ready = { rule = "rename", suffix = ".tmp" } }\n'
            )
        elif end.kind in _REPORTS:
            text += (
                "\n".join(_REPORTS[end.kind])
                + f'\nconnection = {{ url = "socket://{end.host}:{end.port}" }}\n'
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
