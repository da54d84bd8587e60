"""``[changeover]`` in the line config: how changeovers run, checked against the Hermes links."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ChangeoverConfig, load_config
from protocols.errors import ConfigError
from tests.gateway.test_config import GOOD, write

MACHINES = """
[[machines]]
id = "oven1"
handle = "Acme.Reflow.1"
protocol = "modbus"
connection = { host = "10.0.0.5", port = 502 }

[[machines]]
id = "aoi1"
handle = "Acme.Aoi.1"
protocol = "modbus"
connection = { host = "10.0.0.6", port = 502 }

[[hermes.vertical]]
machine = "oven1"
host = "10.0.0.5"
port = 50200

[products.PCB-A]
oven1 = "PROFILE-A"
"""


def test_changeovers_run_now_unless_configured(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, GOOD)).changeover == ChangeoverConfig(at="now", timeout=600)


def test_boundary_changeover_with_every_product_machine_on_a_vertical_channel(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MACHINES + '[changeover]\nat = "boundary"\ntimeout = 120\n'))
    assert config.changeover == ChangeoverConfig(at="boundary", timeout=120)


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('[changeover]\nat = "later"\n', "changeover.at", "must be one of now, boundary"),
        ("[changeover]\ntimeout = 0\n", "changeover.timeout", "between 1 and 86400"),
        ('[changeover]\ntimeout = "1m"\n', "changeover.timeout", "must be an integer"),
        ("[changeover]\nmode = 1\n", "changeover.mode", "unknown key"),
        (
            '[products.PCB-A]\naoi1 = "AOI-A"\n[changeover]\nat = "boundary"\n',
            "changeover.at",
            "needs a [[hermes.vertical]] link for every machine in [products]; none for aoi1",
        ),
    ],
)
def test_changeover_errors_name_file_key_and_problem(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    # A case with its own [products] replaces the base one (there, aoi1 has no vertical link).
    base = MACHINES.split("[products.PCB-A]")[0] if "[products" in text else MACHINES
    path = write(tmp_path, base + text)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert (exc.value.key, exc.value.path) == (key, str(path))
    assert problem in exc.value.problem
