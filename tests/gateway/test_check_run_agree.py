"""``linegate check`` accepts what ``linegate run`` runs, and refuses what it refuses, with the
same message; with no broker configured ``run`` delivers to the embedded default and says so."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from gateway.cli import main
from protocols.transport.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
UNSET = "LINEGATE_TEST_UNSET_SECRET"


def line_config(tmp_path: Path, extra: str = "", outbox: Path | None = None) -> Path:
    """A one-machine line (its machine unserved) with no broker, plus ``extra`` TOML."""
    config = tmp_path / "line.toml"
    config.write_text(
        f"""
[line]
name = "Agree"
[outbox]
path = "{outbox or tmp_path / "outbox.sqlite"}"
[listener]
port = 0
[http]
port = 0
{extra}
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
    values = {**os.environ, "PYTHONPATH": str(ROOT), "LINEGATE_LOG_LEVEL": "warning"}
    values.pop(UNSET, None)
    return values


def linegate(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *argv], env=env(), capture_output=True, text=True, timeout=60
    )


def error_lines(stderr: str) -> list[str]:
    return [row for row in stderr.splitlines() if not row.startswith("{")]


REFUSED = {
    "http token unset": (f'token_env = "{UNSET}"', "http.token_env: environment variable"),
    "amqp password unset": (
        f'[amqp]\nurl = "amqp://line@127.0.0.1:{free_port()}/"\npassword_env = "{UNSET}"',
        "amqp.password_env: environment variable",
    ),
    "mqtt password unset": (
        f'[mqtt]\nhost = "127.0.0.1"\nport = {free_port()}\nusername = "line"\npassword_env = "{UNSET}"',
        "mqtt.password_env: environment variable",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_check_and_run_refuse_alike(case: str, tmp_path: Path) -> None:
    extra, message = REFUSED[case]
    if case == "http token unset":
        config = line_config(tmp_path)
        config.write_text(config.read_text().replace("[http]\nport = 0", f"[http]\nport = 0\n{extra}"))
    else:
        config = line_config(tmp_path, extra)
    check = linegate("check", str(config))
    run = linegate("run", str(config))
    assert check.returncode == run.returncode == 1, (check.stderr, run.stderr)
    assert (
        error_lines(check.stderr)
        == error_lines(run.stderr)
        == [f"error: {config}: {message} {UNSET} is not set"]
    )
    assert "Traceback" not in run.stderr
    # A CI machine without the line's secrets can still check the rest.
    skipped = linegate("check", "--skip-secrets", str(config))
    assert skipped.returncode == 0, skipped.stderr
    assert "(secrets not resolved: --skip-secrets)" in skipped.stdout


def test_a_missing_outbox_folder_is_refused_by_both(tmp_path: Path) -> None:
    """run used to end in sqlite3's "unable to open database file" traceback; check said valid."""
    config = line_config(tmp_path, outbox=tmp_path / "absent" / "outbox.sqlite")
    check = linegate("check", str(config))
    run = linegate("run", str(config))
    expected = [f"error: {config}: outbox.path: the outbox's folder {tmp_path / 'absent'} does not exist"]
    assert error_lines(check.stderr) == error_lines(run.stderr) == expected
    assert check.returncode == run.returncode == 1
    assert "Traceback" not in run.stderr


async def test_no_broker_runs_on_the_embedded_default_and_says_so(tmp_path: Path) -> None:
    """Valid for check (which names where the events go), and run, without --console or
    --events-file, keeps them in the outbox and a JSON-lines file beside it."""
    config = line_config(tmp_path)
    events = tmp_path / "linegate-events.jsonl"
    check = linegate("check", str(config))
    assert check.returncode == 0, check.stderr
    assert f"  events -> {events} (JSON lines; no broker configured)" in check.stdout.splitlines()

    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "gateway", "run", str(config)),
        env=env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    banner: list[str] = []
    try:
        assert process.stdout is not None
        async with asyncio.timeout(30):
            while not banner or "dashboard at" not in banner[-1]:
                row = (await process.stdout.readline()).decode()
                assert row, "linegate run ended before its dashboard was up"
                banner.append(row)
        process.send_signal(signal.SIGTERM)
        _, errors = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, errors.decode()
    assert (
        f"linegate: no broker configured ([amqp], [mqtt]): events are kept in the outbox "
        f"{tmp_path / 'outbox.sqlite'} and appended to {events} (JSON lines)\n"
    ) in banner
    # The gateway's own events of its start and stop were delivered to the file.
    names = [orjson.loads(row)["MessageName"] for row in events.read_bytes().splitlines()]
    assert names[0] == "CFX.EndpointConnected" and names[-1] == "CFX.EndpointShuttingDown", names


def test_skip_secrets_also_skips_the_machines_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CFX machine read from the broker and an OPC UA login resolve their secrets while the
    adapters are built: --skip-secrets leaves those alone too, plain check names them."""
    monkeypatch.delenv(UNSET, raising=False)
    extra = f"""
[amqp]
url = "amqp://line@127.0.0.1:{free_port()}/"
password_env = "{UNSET}"

[[machines]]
id = "placer"
handle = "Acme.Placer.1"
protocol = "cfx"
connection = {{ request_uri = "amqp://127.0.0.1:{free_port()}", events = "broker", exchange = "machines" }}

[[machines]]
id = "solder"
handle = "Acme.Selective.1"
protocol = "opcua"
map = "builtin:selective_solder"
[machines.connection]
url = "opc.tcp://127.0.0.1:{free_port()}"
username = "line"
password_env = "{UNSET}_OPCUA"
"""
    config = line_config(tmp_path, extra)
    assert main(["check", "--skip-secrets", str(config)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["check", str(config)]) == 1
    assert f"amqp.password_env: environment variable {UNSET} is not set" in capsys.readouterr().err
    monkeypatch.setenv(UNSET, "amqp-password")
    assert main(["check", str(config)]) == 1
    error = capsys.readouterr().err
    assert f"machines[1].connection.password_env: environment variable {UNSET}_OPCUA is not set" in error
