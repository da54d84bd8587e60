"""What the command line writes where: logs on stderr, output on stdout, no traceback when the
reader of stdout leaves (``| head``), library logging as JSON lines."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from protocols.cfx import encode_envelopes
from protocols.transport.ports import free_port
from tests.protocols.cfx.helpers import envelope, reflow_units_processed

ROOT = Path(__file__).resolve().parents[2]


def unreachable_line(tmp_path: Path) -> Path:
    """A one-machine line whose machine nobody serves (the gateway backs off and says so)."""
    config = tmp_path / "line.toml"
    config.write_text(
        f"""
[line]
name = "Streams"
[outbox]
path = "{tmp_path / "outbox.sqlite"}"
[listener]
port = 0
[http]
port = 0
[[machines]]
id = "oven"
handle = "Acme.Oven.1"
protocol = "modbus"
map = "builtin:reflow_oven"
connection = {{ host = "127.0.0.1", port = {free_port()} }}
""",
        encoding="utf-8",
    )
    return config


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "LINEGATE_LOG_LEVEL": "info"}


async def test_run_console_events_on_stdout_json_logs_on_stderr(tmp_path: Path) -> None:
    config = unreachable_line(tmp_path)
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "gateway", "run", str(config), "--console"),
        env=env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        stdout: list[str] = []
        async with asyncio.timeout(30):
            # The gateway's first event (EndpointConnected) is printed by the console sink.
            while not any("EndpointConnected" in row for row in stdout):
                row = (await process.stdout.readline()).decode()
                assert row, "linegate run ended early"
                stdout.append(row)
            # ... and the unreachable machine is logged (on stderr) while the events go on.
            stderr: list[str] = []
            while not any("connect.failed" in row for row in stderr):
                row = (await process.stderr.readline()).decode()
                assert row, "linegate run ended early"
                stderr.append(row)
        process.send_signal(signal.SIGTERM)
        rest_out, rest_err = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    stdout += rest_out.decode().splitlines(keepends=True)
    stderr += rest_err.decode().splitlines(keepends=True)
    for row in stdout:
        assert row.startswith("linegate: ") or "Acme.Oven.1" in row, row
        assert not row.startswith("{"), f"a log line on stdout: {row}"
    records = [orjson.loads(row) for row in stderr]  # every stderr line is a JSON log record
    events = {r["event"] for r in records}
    assert {"gateway.started", "connect.failed", "gateway.stopped"} <= events


def test_library_logging_is_rendered_by_the_same_pipeline() -> None:
    """A library's traceback (asyncua's "Publish iteration crashed") is one JSON line with
    its logger, level and the exception, next to the gateway's own records."""
    script = """
import logging, structlog
from gateway.logconfig import configure_logging
configure_logging()
structlog.get_logger("linegate.test").warning("own.record", machine="M1")
try:
    raise RuntimeError("subscription gone")
except RuntimeError:
    logging.getLogger("asyncua.client.client").exception("Publish iteration crashed")
logging.getLogger("proton").error("link detached: %s", "amqp:not-found")
logging.getLogger("aio_pika.robust_connection").info("below the libraries' level: not shown")
import threading
def reactor():
    raise OSError("reactor socket gone")
worker = threading.Thread(target=reactor, name="proton-reactor")
worker.start()
worker.join()
"""
    done = subprocess.run(
        [sys.executable, "-c", script], env=env(), capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout == ""
    records = [orjson.loads(row) for row in done.stderr.splitlines()]
    assert [r["event"] for r in records] == [
        "own.record",
        "Publish iteration crashed",
        "link detached: amqp:not-found",
        "thread proton-reactor crashed",
    ]
    crashed = records[1]
    assert crashed["logger"] == "asyncua.client.client" and crashed["level"] == "error"
    assert "Traceback" in crashed["exception"] and "RuntimeError: subscription gone" in crashed["exception"]
    assert "timestamp" in crashed
    assert records[2]["logger"] == "proton" and records[2]["level"] == "error"
    assert "OSError: reactor socket gone" in records[3]["exception"]


def run_into_closed_pipe(argv: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``linegate ARGV`` with stdout a pipe whose reader has already left, as ``| head`` is
    once it has its lines."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "gateway", *argv],
            env=env(),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize("command", ["check", "cfx fmt"])
def test_a_reader_that_leaves_is_no_traceback(command: str, tmp_path: Path) -> None:
    if command == "check":
        argv = ["check", str(unreachable_line(tmp_path))]
    else:
        path = tmp_path / "events.json"
        path.write_bytes(encode_envelopes([envelope(reflow_units_processed()) for _ in range(200)]))
        argv = ["cfx", "fmt", str(path)]
    done = run_into_closed_pipe(argv, tmp_path)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert done.returncode == 1


def test_check_output_still_whole_on_an_open_pipe(tmp_path: Path) -> None:
    config = unreachable_line(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "check", str(config)],
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{config}: line 'Streams' is valid\n")
