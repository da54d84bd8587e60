"""``linegate check`` lists every problem of a config, not only the first, and ``linegate run``
refuses the same config with the same lines; serial URLs and devices, secrets and files, and
errors inside a referenced map file are each checked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.assemble import load_checked
from gateway.cli import main
from protocols.errors import ConfigError, ConfigErrors
from protocols.transport.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
UNSET = "LINEGATE_TEST_CHECK_UNSET"


def write(tmp_path: Path, machines: str, extra: str = "") -> Path:
    path = tmp_path / "line.toml"
    path.write_text(
        f'[line]\nname = "Check"\n[outbox]\npath = "{tmp_path / "outbox.sqlite"}"\n'
        f"[listener]\nport = 0\n[http]\nport = 0\n{extra}\n{machines}",
        encoding="utf-8",
    )
    return path


def machine(index: int, protocol: str, connection: str, map_: str | None = None) -> str:
    text = f'[[machines]]\nid = "m{index}"\nhandle = "Acme.M.{index}"\nprotocol = "{protocol}"\n'
    if map_ is not None:
        text += f'map = "{map_}"\n'
    return text + f"connection = {connection}\n"


def problems(path: Path, *, secrets: bool = True) -> list[tuple[str | None, str]]:
    """(key path, problem) of every error ``check`` finds."""
    with pytest.raises(ConfigError) as caught:
        load_checked(path, secrets=secrets)
    errors = caught.value.errors if isinstance(caught.value, ConfigErrors) else (caught.value,)
    assert all(error.path == str(path) for error in errors)
    return [(error.key, error.problem) for error in errors]


def test_a_config_with_several_problems_lists_them_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(UNSET, raising=False)
    (tmp_path / "oven.toml").write_text('[machine]\nprotocol = "modbus"\n[colour]\n', encoding="utf-8")
    path = write(
        tmp_path,
        machine(0, "modbus", "{ port = 502 }", "builtin:reflow_oven")
        + machine(1, "serial", '{ url = "spy://x" }', "builtin:coater")
        + machine(
            2,
            "opcua",
            f'{{ url = "opc.tcp://h:4840", password_env = "{UNSET}" }}',
            "builtin:selective_solder",
        )
        + machine(3, "modbus", '{ host = "h" }', "oven.toml")
        + "[products.A]\nm9 = 'R'\n",
        extra="[mqtt]\nhost = 'h'\nport = 'x'\n[[hermes.vertical]]\nmachine = 'm3'\nhost = 'h'\nport = 0\n",
    )
    found = problems(path)
    # In the order of the file: [mqtt], [[hermes.vertical]], the machines, [products].
    assert [key for key, _ in found] == [
        "mqtt.port",
        "hermes.vertical[0].port",
        "machines[0].connection.host",
        "machines[1].connection.url",
        "machines[2].connection.password_env",
        "machines[3].map",
        "products.A.m9",
    ]
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == "7 problems"
    assert err[2] == f"error: {path}: machines[0].connection.host: is required"
    assert f"error: {path}: machines[1].connection.url: spy:// is not a serial URL" in err[3]
    assert err[4].endswith(f"environment variable {UNSET} is not set")


def test_run_refuses_what_check_refuses_with_the_same_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        machine(0, "modbus", '{ host = "127.0.0.1", port = 0 }', "builtin:reflow_oven")
        + machine(1, "serial", f'{{ url = "{tmp_path / "ttyUSB9"}" }}', "builtin:coater"),
        extra=f"[mqtt]\nhost = '127.0.0.1'\nport = {free_port()}\npassword_env = '{UNSET}'\n",
    )

    def linegate(*argv: str) -> subprocess.CompletedProcess[str]:
        env = {"PYTHONPATH": str(ROOT), "LINEGATE_LOG_LEVEL": "warning", "PATH": "/usr/bin:/bin"}
        return subprocess.run(
            [sys.executable, "-m", "gateway", *argv], env=env, capture_output=True, text=True, timeout=60
        )

    check, run = linegate("check", str(path)), linegate("run", str(path))
    assert check.returncode == run.returncode == 1
    lines = [row for row in check.stderr.splitlines() if not row.startswith("{")]
    assert lines == [row for row in run.stderr.splitlines() if not row.startswith("{")]
    assert lines == [
        f"error: {path}: mqtt.password_env: environment variable {UNSET} is not set",
        f"error: {path}: machines[0].connection.port: must be a port number (1-65535)",
        f"error: {path}: machines[1].connection.url: no serial device {tmp_path / 'ttyUSB9'}",
        "3 problems",
    ]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("socket://10.0.0.7:4001", None),
        ("rfc2217://10.0.0.7:4001", None),
        ("loop://", None),
        ("DEVICE", None),
        ("socket://10.0.0.7", "must be socket://host:port"),
        ("rfc2217://:4001", "must be rfc2217://host:port"),
        ("socket://h:port", "must be socket://host:port"),
        ("spy:///dev/ttyS0", "spy:// is not a serial URL the adapter opens"),
        ("/dev/linegate-no-such-tty", "no serial device /dev/linegate-no-such-tty"),
    ],
)
def test_serial_urls_and_devices(tmp_path: Path, url: str, problem: str | None) -> None:
    device = tmp_path / "ttyUSB0"
    device.touch()
    url = url.replace("DEVICE", str(device))
    path = write(tmp_path, machine(0, "serial", f'{{ url = "{url}" }}', "builtin:coater"))
    if problem is None:
        load_checked(path)
        return
    [(key, found)] = problems(path)
    assert key == "machines[0].connection.url" and problem in found


def test_every_secret_must_resolve_and_every_file_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(UNSET, raising=False)
    set_file = tmp_path / "set.secret"
    set_file.write_text("s3cret\n", encoding="utf-8")
    extra = f"""
[amqp]
url = "amqps://line@127.0.0.1/"
password_file = "{tmp_path / "absent.secret"}"
[amqp.tls]
ca_file = "{tmp_path / "absent-ca.pem"}"
[listener]
port = 0
username = "mes"
password_file = "{set_file}"
[http]
port = 0
token_env = "{UNSET}"
"""
    path = tmp_path / "line.toml"
    path.write_text(
        f'[line]\nname = "Secrets"\n[outbox]\npath = "{tmp_path / "o.sqlite"}"\n{extra}\n'
        + machine(
            0,
            "opcua",
            f'{{ url = "opc.tcp://h:4840", username = "u", password_env = "{UNSET}_OPCUA",'
            f' user_certificate = "user.der", user_private_key = "user.pem" }}',
            "builtin:selective_solder",
        ),
        encoding="utf-8",
    )
    found = problems(path)
    keys = [key for key, _ in found]
    assert keys[:6] == [
        "amqp.password_file",
        "amqp.tls.ca_file",
        "http.token_env",
        "machines[0].connection.password_env",
        "machines[0].connection.user_certificate",
        "machines[0].connection.user_private_key",
    ], found
    assert f"cannot read secret file {tmp_path / 'absent.secret'}" in found[0][1]
    assert found[4][1] == f"{tmp_path / 'user.der'} does not exist or is not a file"
    # --skip-secrets leaves the secrets alone, not the files.
    assert [key for key, _ in problems(path, secrets=False)][:3] == [
        "amqp.tls.ca_file",
        "machines[0].connection.user_certificate",
        "machines[0].connection.user_private_key",
    ]


def test_an_error_in_a_map_names_the_config_key_and_the_map_file(tmp_path: Path) -> None:
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "oven.toml").write_text(
        '[machine]\nprotocol = "modbus"\n[state]\nregister = "x"\n', encoding="utf-8"
    )
    path = write(tmp_path, machine(0, "modbus", '{ host = "h" }', "maps/oven.toml"))
    [(key, problem)] = problems(path)
    assert key == "machines[0].map"
    assert problem == f"{maps / 'oven.toml'}: points: is required"
    (maps / "oven.toml").write_text("[machine\n", encoding="utf-8")
    [(key, problem)] = problems(path)
    assert key == "machines[0].map"
    assert problem.startswith(f"{maps / 'oven.toml'}: is not valid TOML at line 1, column 9")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not read\n", encoding="utf-8")
    ca.chmod(0)
    path = write(tmp_path, "", extra=f'[mqtt]\nhost = "h"\ntls = {{ ca_file = "{ca}" }}\n')
    assert ("mqtt.tls.ca_file", f"{ca} is not readable") in problems(path)
