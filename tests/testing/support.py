"""What the plugin tests share: the inner sessions' configuration and a small line file."""

from __future__ import annotations

import pytest

PLUGIN = "gateway.testing.plugin"

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
timeout = 60
addopts = --strict-markers -p no:cacheprovider
"""

# A short line without the OPC UA machine (its server takes a second to start and to stop).
SMALL_LINE = """
name = "small"
seed = 3

[[source.work_orders]]
id = "WO-1"
product = "CTRL-MAIN-R3"
quantity = 10

[[machines]]
kind = "reflow_oven"
id = "reflow"
handle = "test.reflow.1"
[machines.options]
tunnel_mm = 600.0
tau = 20.0

[[machines]]
kind = "coater"
id = "coater"
handle = "test.coater.1"
"""


def setup(pytester: pytest.Pytester) -> None:
    """Configure the inner session like an integrator's project: asyncio auto mode, strict markers."""
    pytester.makeini(INI)
