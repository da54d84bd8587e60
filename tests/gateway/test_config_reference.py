"""docs/configuration.md is generated from the typed config: every key documented, the file
current, and the keys it lists exactly those the config reader accepts."""

from __future__ import annotations

import dataclasses
import inspect
import re
import tomllib
from types import ModuleType
from typing import Any

import pytest

import gateway.config_connections
import gateway.config_model
import gateway.files_config
from gateway.config import parse_config
from gateway.config_connections import toml_keys
from gateway.config_reference import DOC_PATH, SECTIONS, documented, render
from protocols.tomlread import Problems

#: Fields that are not keys of the file: what the reader derives, or tables documented apart.
INTERNAL = {
    ("LineConfig", "path"),
    ("LineConfig", "machines"),  # [[machines]]
    ("LineConfig", "products"),  # [products]
    ("LineConfig", "hermes"),  # [[hermes.vertical]], [[hermes.bridges]]
    ("LineConfig", "outbox"),
    ("LineConfig", "amqp"),
    ("LineConfig", "mqtt"),
    ("LineConfig", "listener"),
    ("LineConfig", "http"),
    ("LineConfig", "changeover"),
    ("LineConfig", "limits"),
    ("LineConfig", "control"),  # the [trace] and [[interlock]] sections
    ("MachineConfig", "index"),
    ("HermesLink", "kind"),  # which array it is in
    ("HermesLink", "settings"),  # the other keys of the entry
    ("Secret", "env"),  # <name>_env
    ("Secret", "file"),  # <name>_file
}


def config_tables() -> list[type[Any]]:
    modules: list[ModuleType] = [gateway.config_model, gateway.config_connections, gateway.files_config]
    return [
        cls
        for module in modules
        for cls in vars(module).values()
        if inspect.isclass(cls) and dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__
    ]


def test_the_reference_is_current() -> None:
    assert DOC_PATH.read_text(encoding="utf-8") == render(), (
        "docs/configuration.md is stale: run python -m gateway.config_reference --write"
    )


@pytest.mark.parametrize("cls", config_tables(), ids=lambda cls: cls.__name__)
def test_every_key_of_the_typed_config_is_documented(cls: type[Any]) -> None:
    undocumented = [
        f.name
        for f in dataclasses.fields(cls)
        if "help" not in f.metadata and (cls.__name__, f.name) not in INTERNAL
    ]
    assert not undocumented, f"{cls.__name__}: give {', '.join(undocumented)} a doc(...)"
    if any(True for _ in documented(cls)):
        assert any(cls in section.tables for section in SECTIONS), f"{cls.__name__} has no section"


#: The machines the examples of [products] and [[hermes.*]] name.
EXAMPLE_MACHINES = """
[[machines]]
id = "oven1"
handle = "Acme.Reflow.1"
protocol = "modbus"
connection = { host = "10.0.0.5" }
[[machines]]
id = "solder1"
handle = "Acme.Solder.1"
protocol = "opcua"
connection = { url = "opc.tcp://10.0.0.6:4840" }
"""


def test_every_example_is_a_valid_config() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", DOC_PATH.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == len(SECTIONS)
    for block in blocks:
        text = block if "[[machines]]" in block else EXAMPLE_MACHINES + block
        problems = Problems()
        parse_config(tomllib.loads(text), path="example.toml", problems=problems)
        assert not problems.errors, (block, problems.errors)


MACHINE = '[[machines]]\nid = "m"\nhandle = "A.B.C"\nprotocol = "{protocol}"\nconnection = {connection}\n'
PROBES = {
    "[line]": "[line]\nzz = 1\n",
    "[[machines]]": MACHINE.format(protocol="modbus", connection='{ host = "h" }') + "zz = 1\n",
    "modbus": MACHINE.format(protocol="modbus", connection="{ zz = 1 }"),
    "opcua": MACHINE.format(protocol="opcua", connection="{ zz = 1 }"),
    "security": MACHINE.format(protocol="opcua", connection='{ url = "u", security = { zz = 1 } }'),
    "serial": MACHINE.format(protocol="serial", connection="{ zz = 1 }"),
    "scanner": MACHINE.format(protocol="scanner", connection="{ zz = 1 }"),
    "tester": MACHINE.format(protocol="tester", connection="{ zz = 1 }"),
    "cfx": MACHINE.format(protocol="cfx", connection="{ zz = 1 }"),
    "files": MACHINE.format(protocol="files", connection="{ zz = 1 }"),
    "[products]": MACHINE.format(protocol="modbus", connection='{ host = "h" }')
    + "[products.P]\nm = { zz = 1 }\n",
    "[[hermes.vertical]]": MACHINE.format(protocol="modbus", connection='{ host = "h" }')
    + '[[hermes.vertical]]\nmachine = "m"\nzz = 1\n',
    "[[hermes.bridges]]": MACHINE.format(protocol="modbus", connection='{ host = "h" }')
    + '[[hermes.bridges]]\nmachine = "m"\nzz = 1\n',
    "[outbox]": "[outbox]\nzz = 1\n",
    "[trace]": "[trace]\nzz = 1\n",
    "[[interlock]]": '[[interlock]]\nname = "r"\nzz = 1\n',
    "[amqp]": '[amqp]\nurl = "amqp://h/"\nzz = 1\n',
    "tls": '[amqp]\nurl = "amqps://h/"\ntls = { zz = 1 }\n',
    "[mqtt]": '[mqtt]\nhost = "h"\nzz = 1\n',
    "[listener]": "[listener]\nzz = 1\n",
    "[http]": "[http]\nzz = 1\n",
    "[changeover]": "[changeover]\nzz = 1\n",
    "[limits": "[limits.http]\nzz = 1\n",
}


@pytest.mark.parametrize("section", SECTIONS, ids=lambda section: section.heading)
def test_the_reader_takes_exactly_the_documented_keys(section: Any) -> None:
    probe = next(text for name, text in PROBES.items() if name in section.heading)
    problems = Problems()
    parse_config(tomllib.loads(probe), path="line.toml", problems=problems)
    unknown = [e for e in problems.errors if (e.key or "").endswith("zz")]
    assert len(unknown) == 1, problems.errors
    listed = re.search(r"expected one of (.*)\)", unknown[0].problem)
    assert listed is not None, unknown[0].problem
    documented_keys: set[str] = set()
    for cls in section.tables:
        documented_keys |= toml_keys(cls)
    if "[products]" in section.heading:
        documented_keys = {"name", "revision"}
    assert set(listed[1].split(", ")) == documented_keys
