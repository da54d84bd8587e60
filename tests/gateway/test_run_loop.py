"""``linegate run --loop``: the gateway runs on asyncio's loop or on uvloop, and stops cleanly on either."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
import uuid
from pathlib import Path

import orjson
import pytest

from simulators import Line, default_line
from tests.support.line_config import write_line_config

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
async def test_the_gateway_runs_and_stops_on_either_loop(tmp_path: Path, loop: str) -> None:
    """It says which loop it runs on, relays a machine's events, and exits 0 on SIGTERM."""
    spec = default_line()
    spec = dataclasses.replace(spec, machines=tuple(m for m in spec.machines if m.machine_id == "reflow"))
    events = tmp_path / "events.jsonl"
    async with Line(spec, start_source=False) as line:
        config = write_line_config(
            tmp_path / "line.toml",
            line,
            exchange=f"linegate-loop-{uuid.uuid4().hex[:8]}",
            password_env="LG_PW",
        )
        env = {**os.environ, "LG_PW": "guest", "LINEGATE_LOG_LEVEL": "warning"}
        gateway = await asyncio.create_subprocess_exec(
            *(
                sys.executable,
                "-m",
                "gateway",
                "run",
                str(config),
                "--loop",
                loop,
                "--console",
                "--events-file",
                str(events),
            ),
            env=env,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert gateway.stdout is not None
            banner = (await asyncio.wait_for(gateway.stdout.readline(), 60)).decode()
            assert banner.rstrip().endswith(f"event loop {loop}"), banner
            # The machine's EndpointConnected is the gateway's first fact about it (--console prints it).
            async with asyncio.timeout(60):
                while b"EndpointConnected" not in await gateway.stdout.readline():
                    pass
            gateway.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(gateway.wait(), 60) == 0
        finally:
            if gateway.returncode is None:
                gateway.kill()
                await gateway.wait()
    first = orjson.loads(events.read_bytes().splitlines()[0])
    assert first["MessageName"].startswith("CFX.")
