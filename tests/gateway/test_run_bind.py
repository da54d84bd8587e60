"""``linegate run`` with a listener port already taken: one line naming the port and key, exit 1."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from protocols.transport.ports import free_port


@pytest.mark.parametrize("key", ["listener.port", "http.port"])
def test_a_port_in_use_is_one_line_naming_port_and_key(tmp_path: Path, key: str) -> None:
    """The gateway stops at start with the config key and the address, not an OSError traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = int(taken.getsockname()[1])
        ports = {"listener.port": free_port(), "http.port": free_port()}
        ports[key] = busy
        config = tmp_path / "line.toml"
        config.write_text(
            f"""
[line]
name = "bind"
[outbox]
path = "{tmp_path / "outbox.sqlite"}"
[listener]
host = "127.0.0.1"
port = {ports["listener.port"]}
[http]
host = "127.0.0.1"
port = {ports["http.port"]}
[[machines]]
id = "oven"
handle = "Acme.Oven.1"
protocol = "modbus"
map = "builtin:reflow_oven"
connection = {{ host = "127.0.0.1", port = {free_port()} }}
""",
            encoding="utf-8",
        )
        done = subprocess.run(
            [sys.executable, "-m", "gateway", "run", str(config), "--console"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    # stderr also carries the JSON log records (outbox.opened, ...); the error is the one text line.
    errors = [row for row in done.stderr.strip().splitlines() if not row.startswith("{")]
    assert "Traceback" not in done.stderr
    assert errors == [f"error: {config}: {key}: cannot listen on 127.0.0.1:{busy}: address already in use"]
