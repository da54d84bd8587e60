"""A line configuration loads into typed settings; every error names the file, key path and problem."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import Interlock, Protocol, RecipeRef, Secret, load_config
from gateway.config_connections import ModbusConnection, VerticalLinkConfig
from protocols.errors import ConfigError

GOOD = """
[line]
name = "Line 4"

[outbox]
path = "/var/lib/linegate/outbox.sqlite"
max_events = 5000
overflow = "refuse_new"

[amqp]
url = "amqp://guest@127.0.0.1:5672/"
password_env = "AMQP_PW"
gzip = true

[mqtt]
host = "127.0.0.1"

[http]
port = 8088
token_file = "/run/secrets/linegate-token"

[[machines]]
id = "oven1"
handle = "Acme.Reflow.1"
protocol = "modbus"
connection = { host = "10.0.0.5", port = 502 }
map = "builtin:reflow_oven"

[[machines]]
id = "placer1"
handle = "Acme.Placer.1"
protocol = "cfx"
interlock = "refuse"
connection = { request_uri = "amqp://10.0.0.9:5700", events = "direct" }

[[hermes.vertical]]
machine = "oven1"
host = "10.0.0.5"
port = 50200

[products.PCB-A]
oven1 = "PROFILE-A"
placer1 = { name = "PCBA-TOP", revision = "3" }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "line.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_loads_a_full_line(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.name == "Line 4"
    assert [m.id for m in config.machines] == ["oven1", "placer1"]
    assert config.machine("oven1").connection == ModbusConnection(host="10.0.0.5", port=502)
    assert config.machine("oven1").protocol is Protocol.MODBUS
    assert config.machine("placer1").interlock is Interlock.REFUSE
    assert config.products["PCB-A"] == {
        "oven1": RecipeRef("PROFILE-A"),
        "placer1": RecipeRef("PCBA-TOP", "3"),
    }
    assert config.amqp is not None and config.amqp.password == Secret(env="AMQP_PW") and config.amqp.gzip
    assert config.mqtt is not None and config.mqtt.port == 1883
    assert config.http.token == Secret(file="/run/secrets/linegate-token")
    assert config.outbox.max_events == 5000 and config.outbox.overflow == "refuse_new"
    assert config.hermes[0].machine == "oven1" and config.hermes[0].settings == VerticalLinkConfig(
        "10.0.0.5", 50200
    )


def test_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    assert config.machines == () and config.amqp is None and config.http.host == "127.0.0.1"
    assert config.link_grace == 10.0


def test_link_grace_per_line_and_per_machine(tmp_path: Path) -> None:
    """``[line] link_grace`` applies to every machine that does not set its own."""
    text = GOOD.replace('name = "Line 4"', 'name = "Line 4"\nlink_grace = 20').replace(
        'interlock = "refuse"', 'interlock = "refuse"\nlink_grace = 5.5'
    )
    config = load_config(write(tmp_path, text))
    assert config.grace_for(config.machine("oven1")) == 20.0
    assert config.grace_for(config.machine("placer1")) == 5.5


BAD = [
    ("[line]\nname = 3\n", "line.name", "must be a non-empty string, not an integer"),
    (
        "[[machines]]\nhandle='A.B.C'\nprotocol='modbus'\nconnection={host='h'}\n",
        "machines[0].id",
        "is required",
    ),
    (
        "[[machines]]\nid='o'\nhandle='oven'\nprotocol='modbus'\nconnection={host='h'}\n",
        "machines[0].handle",
        "is not a CFX handle",
    ),
    (
        "[[machines]]\nid='o'\nhandle='A.B.C'\nprotocol='profinet'\nconnection={}\n",
        "machines[0].protocol",
        "must be one of modbus, opcua, serial, cfx",
    ),
    ("[[machines]]\nid='o'\nhandle='A.B.C'\nprotocol='modbus'\n", "machines[0].connection", "is required"),
    (
        "[[machines]]\nid='o'\nhandle='A.B.C'\nprotocol='opcua'\nconnection={url='opc.tcp://x',password='p'}",
        "machines[0].connection.password",
        "secrets are not read from the config file",
    ),
    (
        "[[machines]]\nid='o'\nhandle='A.B.C'\nprotocol='modbus'\nconnection={host='h'}\n"
        "[[machines]]\nid='o'\nhandle='A.B.D'\nprotocol='modbus'\nconnection={host='h'}\n",
        "machines[1].id",
        "already used by machines[0]",
    ),
    ("[products.X]\noven9 = 'P'\n", "products.X.oven9", "no machine with id 'oven9'"),
    ("[amqp]\nurl = 'amqp://u:secret@host/'\n", "amqp.url", "must not contain a password"),
    ("[amqp]\nurl = 'http://host/'\n", "amqp.url", "must start with amqp://"),
    ("[amqp]\nurl = 'amqp://a/'\nurls = ['amqp://b/']\n", "amqp.urls", "not both"),
    ("[amqp]\nurls = []\n", "amqp.urls", "at least one broker node"),
    ("[amqp]\nurls = 'amqp://a/'\n", "amqp.urls", "must be a list of broker URLs, not a string"),
    ("[amqp]\nurls = ['amqp://a/', 5]\n", "amqp.urls[1]", "must be a non-empty string"),
    ("[amqp]\nurls = ['amqp://a/', 'http://b/']\n", "amqp.urls[1]", "must start with amqp://"),
    ("[amqp]\nurls = ['amqp://a/', 'amqp://u:pw@b/']\n", "amqp.urls[1]", "must not contain a password"),
    (
        "[amqp]\nurls = ['amqp://A:5672/', 'amqp://b/', 'amqp://a/']\n",
        "amqp.urls[2]",
        "same node as amqp.urls[0]",
    ),
    ("[amqp]\nurls = ['amqp://a/', 'amqps://b/']\n", "amqp.urls[1]", "must use the same scheme (amqp://)"),
    ("[amqp]\nurls = ['amqp://a/line', 'amqp://b/']\n", "amqp.urls[1]", "virtual host '/' differs"),
    ("[amqp]\nurls = ['amqp://lg@a/', 'amqp://b/']\n", "amqp.urls[1]", "user 'guest' differs"),
    ("[amqp]\nurls = ['amqp://a:x/']\n", "amqp.urls[0]", "is not a valid URL"),
    ("[amqp]\nurls = ['amqp:///']\n", "amqp.urls[0]", "names no host"),
    (
        "[amqp]\nurls = ['amqp://a/', 'amqp://b/']\nfailover = 'round_robin'\n",
        "amqp.failover",
        "in_order, random",
    ),
    ("[amqp]\nurl = 'amqp://a/'\nfailover = 'random'\n", "amqp.failover", "needs urls"),
    ("[amqp]\nurls = ['amqp://a/', 'amqp://b/']\ntls = true\n", "amqp.tls", "needs an amqps:// url"),
    ("[http]\ntoken = 'abc'\n", "http.token", "use token_env"),
    ("[http]\nport = 70000\n", "http.port", "between 0 and 65535"),
    ("[outbox]\noverflow = 'discard'\n", "outbox.overflow", "must be one of drop_oldest_bulk, refuse_new"),
    ("[outbox]\nmax_rows = 1\n", "outbox.max_rows", "unknown key"),
    ("[mqtt]\nhost='h'\npassword_env='A'\npassword_file='/f'\n", "mqtt.password", "not both"),
    ("[mqtt]\nurls = []\n", "mqtt.urls", "must be a non-empty list"),
    ("[mqtt]\nhost = 'a'\nurls = ['mqtt://b']\n", "mqtt.urls", "not both"),
    ("[mqtt]\nurls = ['mqtt://a', 'tcp://b']\n", "mqtt.urls[1]", "must start with mqtt:// or mqtts://"),
    ("[mqtt]\nurls = ['mqtt://a', 'mqtts://b']\n", "mqtt.urls[1]", "same scheme (mqtt://)"),
    ("[mqtt]\nurls = ['mqtt://A:1883', 'mqtt://a']\n", "mqtt.urls[1]", "same broker as mqtt.urls[0]"),
    ("[mqtt]\nurls = ['mqtt://u:pw@a']\n", "mqtt.urls[0]", "must not contain credentials"),
    ("[mqtt]\nurls = ['mqtt://a/x']\n", "mqtt.urls[0]", "mqtt://host[:port] only"),
    ("[mqtt]\nurls = ['mqtt://:1883']\n", "mqtt.urls[0]", "names no host"),
    ("[mqtt]\nurls = ['mqtt://a:x']\n", "mqtt.urls[0]", "is not a valid URL"),
    ("[mqtt]\nurls = ['mqtt://a', 'mqtt://b']\ntls = true\n", "mqtt.tls", "needs mqtts:// urls"),
    ("[mqtt]\nurls = ['mqtt://a', 'mqtt://b']\nfailover = 'any'\n", "mqtt.failover", "in_order, random"),
    ("[mqtt]\nhost = 'a'\nfailover = 'random'\n", "mqtt.failover", "needs urls"),
    ("[[hermes.vertical]]\nmachine = 'x'\n", "hermes.vertical[0].machine", "no machine with id 'x'"),
    ("[line]\nlink_grace = 0.5\n", "line.link_grace", "must be between 1 and 300 seconds"),
    ("[line]\nlink_grace = '10 s'\n", "line.link_grace", "must be a number of seconds, not a string"),
    (
        "[[machines]]\nid='o'\nhandle='A.B.C'\nprotocol='modbus'\nconnection={host='h'}\nlink_grace=301\n",
        "machines[0].link_grace",
        "must be between 1 and 300 seconds",
    ),
]


@pytest.mark.parametrize(("text", "key", "problem"), BAD)
def test_errors_name_file_key_and_problem(tmp_path: Path, text: str, key: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert exc.value.key == key
    assert problem in exc.value.problem
    assert str(exc.value).startswith(f"{path}: {key}: ")


def test_a_broker_cluster_is_a_list_of_nodes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[amqp]\nurls = ['amqps://lg@mq1.plant:5671/line', 'amqps://lg@mq2.plant/line', 'amqps://lg@mq3.plant/line']\n"
        "failover = 'random'\ncluster_name = 'rabbit@mq1'\npassword_env = 'AMQP_PW'\n",
    )
    config = load_config(path)
    assert config.amqp is not None and config.amqp.cluster_name == "rabbit@mq1"
    assert config.amqp is not None
    assert config.amqp.brokers == (
        "amqps://lg@mq1.plant:5671/line",
        "amqps://lg@mq2.plant/line",
        "amqps://lg@mq3.plant/line",
    )
    assert config.amqp.url == "amqps://lg@mq1.plant:5671/line"
    assert config.amqp.failover == "random"
    assert config.amqp.tls is not None  # amqps:// without a table: the system's trust anchors
    single = load_config(write(tmp_path, "[amqp]\nurl = 'amqp://guest@127.0.0.1/'\n")).amqp
    assert (
        single is not None
        and single.brokers == ("amqp://guest@127.0.0.1/",)
        and single.failover == "in_order"
        and single.cluster_name is None
    )


def test_mqtt_brokers_are_a_list_of_urls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path, "[mqtt]\nurls = ['mqtts://mq1.plant', 'mqtts://MQ2.plant:8884']\nfailover = 'random'\n"
    )
    config = load_config(path)
    assert config.mqtt is not None
    assert config.mqtt.brokers == (("mq1.plant", 8883), ("mq2.plant", 8884))
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.failover) == ("mq1.plant", 8883, "random")
    assert config.mqtt.tls is not None  # mqtts:// without a table: the system's trust anchors
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "mqtt: 2 brokers, failover random" in out and "MQTT mq1.plant:8883, mq2.plant:8884" in out
    single = load_config(write(tmp_path, "[mqtt]\nhost = 'h'\n")).mqtt
    assert single is not None and single.brokers == () and single.failover == "in_order"


def test_not_toml(tmp_path: Path) -> None:
    path = write(tmp_path, "[line\nname=")
    with pytest.raises(ConfigError, match="is not valid TOML") as exc:
        load_config(path)
    assert exc.value.path == str(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read: No such file"):
        load_config(tmp_path / "nope.toml")


def test_secret_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMQP_PW", "s3cret")
    assert Secret(env="AMQP_PW").resolve(path="f", key="amqp.password") == "s3cret"
    monkeypatch.delenv("AMQP_PW")
    with pytest.raises(ConfigError, match="AMQP_PW is not set") as exc:
        Secret(env="AMQP_PW").resolve(path="f", key="amqp.password")
    assert exc.value.key == "amqp.password_env"
    token = tmp_path / "token"
    token.write_text("tok-1\n")
    assert Secret(file=str(token)).resolve(path="f", key="http.token") == "tok-1"


CHECKABLE = """
[line]
name = "Line 4"

[[machines]]
id = "oven1"
handle = "Acme.Reflow.1"
protocol = "modbus"
connection = { host = "10.0.0.5", port = 502 }
map = "builtin:reflow_oven"

[[machines]]
id = "coater1"
handle = "Acme.Coater.1"
protocol = "serial"
connection = { url = "socket://10.0.0.7:4001" }
map = "builtin:coater"
"""


def test_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(write(tmp_path, CHECKABLE))]) == 0
    out = capsys.readouterr().out
    assert "is valid" in out and "Acme.Reflow.1" in out
    assert main(["check", str(write(tmp_path, "[http]\nport = 'x'\n"))]) == 1
    assert "http.port: must be an integer, not a string" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        (("port = 502 }", "port = 502, unit = 3 }"), "machines[0].connection.unit", "unknown key"),
        (("port = 502 }", "port = 0 }"), "machines[0].connection.port", "must be a port number"),
        (('map = "builtin:reflow_oven"', 'map = "builtin:coater"'), "machines[0].map", "is a serial map"),
        (('map = "builtin:reflow_oven"', 'map = "builtin:toaster"'), "machines[0].map", "no built-in map"),
        (('map = "builtin:reflow_oven"', 'map = "maps/missing.toml"'), None, "cannot read"),
        # The oven's slowest poll is 1 s plus a 1 s timeout: a 2 s grace would report it lost.
        (('name = "Line 4"', 'name = "Line 4"\nlink_grace = 2'), "line.link_grace", "too short for machine"),
    ],
)
def test_check_builds_every_adapter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: tuple[str, str], key: str | None, problem: str
) -> None:
    path = write(tmp_path, CHECKABLE.replace(*change))
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert problem in err
    if key is not None:
        assert f"{path}: {key}: " in err


BRIDGED = (
    CHECKABLE
    + """
[[hermes.bridges]]
machine = "oven1"
upstream_host = "10.0.0.4"
upstream_port = 50101
listen_port = 50111
"""
)


def test_check_accepts_a_hermes_bridge_for_a_modbus_machine(tmp_path: Path) -> None:
    assert main(["check", str(write(tmp_path, BRIDGED))]) == 0


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        (
            ('machine = "oven1"\nupstream_host', 'machine = "coater1"\nupstream_host'),
            "hermes.bridges[0].machine",
            "not Modbus",
        ),
        (("listen_port = 50111", "listen_port = 50111\nspeed = 3"), "hermes.bridges[0].speed", "unknown key"),
        (('upstream_host = "10.0.0.4"\n', ""), "hermes.bridges[0].upstream_host", "is required"),
    ],
)
def test_bridge_errors_name_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: tuple[str, str], key: str, problem: str
) -> None:
    path = write(tmp_path, BRIDGED.replace(*change))
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}: {key}: " in err and problem in err


CFX_MACHINE = """
[[machines]]
id = "placer1"
handle = "Acme.Placer.1"
protocol = "cfx"
connection = {{ events = "direct", listen_port = 5701{extra} }}
"""


@pytest.mark.parametrize(("extra", "expected"), [("", 120.0), (", liveness_timeout = 45", 45.0)])
def test_a_cfx_machines_liveness_follows_its_heartbeat_unless_set(
    tmp_path: Path, extra: str, expected: float
) -> None:
    """Unset, twice the SDK's default HeartbeatFrequency (1 min) until the machine announces its
    own; ``connection.liveness_timeout`` fixes it per machine."""
    from gateway.assemble import build_adapter

    config = load_config(write(tmp_path, CFX_MACHINE.format(extra=extra)))
    adapter = build_adapter(config, config.machines[0], 0)
    assert adapter.liveness_timeout == expected


@pytest.mark.parametrize("value", ["0", "-5", "'60'", "true"])
def test_a_bad_cfx_liveness_timeout_names_its_key(tmp_path: Path, value: str) -> None:

    with pytest.raises(ConfigError) as exc:  # the config layer reads the typed connection table
        load_config(write(tmp_path, CFX_MACHINE.format(extra=f", liveness_timeout = {value}")))
    assert exc.value.key == "machines[0].connection.liveness_timeout"
    assert "positive number of seconds" in str(exc.value)
