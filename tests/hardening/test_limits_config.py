"""``[limits.<server>]`` in the line configuration adjusts a server's peer limits."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from gateway.cli import main
from gateway.config import parse_config
from gateway.http import HttpServer, SseSink
from gateway.http.server import HTTP_LIMITS
from gateway.runtime import Gateway
from protocols.cfx.transport.security import GATE_LIMITS
from protocols.hermes.transport.lane import LANE_LIMITS
from protocols.transport import PeerLimits


def test_limits_override_the_defaults_and_zero_turns_a_deadline_off() -> None:
    """Only the keys given change; 0 seconds means no deadline; other servers keep theirs."""
    config = parse_config(
        {
            "line": {"name": "x"},
            "limits": {
                "http": {"max_connections": 4, "handshake_timeout": 0, "drain_timeout": 2.5},
                "hermes": {"idle_timeout": 180, "write_buffer_limit": 65536},
            },
        }
    )
    assert config.peer_limits("http", HTTP_LIMITS) == PeerLimits(
        max_connections=4, handshake_timeout=None, idle_timeout=None, drain_timeout=2.5
    )
    assert config.peer_limits("hermes", LANE_LIMITS) == PeerLimits(
        max_connections=LANE_LIMITS.max_connections, idle_timeout=180.0, write_buffer_limit=65536
    )
    assert config.peer_limits("listener", GATE_LIMITS) is GATE_LIMITS
    gateway = cast(Gateway, object())  # from_config only hands it on
    server = HttpServer.from_config(gateway, config, sse=SseSink())
    assert server.guard.limits.max_connections == 4


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[limits.http]\nmax_connections = 0", "limits.http.max_connections"),
        ("[limits.http]\nhandshake_timeout = -1", "limits.http.handshake_timeout"),
        ('[limits.listener]\ndrain_timeout = "10"', "limits.listener.drain_timeout"),
        ("[limits.listener]\nwrite_buffer_limit = 10", "limits.listener.write_buffer_limit"),
        ("[limits.hermes]\nbacklog = 10", "limits.hermes.backlog"),
        ("[limits.ftp]\nmax_connections = 1", "limits.ftp"),
    ],
)
def test_linegate_check_names_a_bad_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, key: str
) -> None:
    """Every bad value or unknown key is reported with its key path."""
    path = tmp_path / "line.toml"
    path.write_text(f'[line]\nname = "x"\n\n{toml}\n')
    assert main(["check", str(path)]) == 1
    assert f"{path}: {key}:" in capsys.readouterr().err
