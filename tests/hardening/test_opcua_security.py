"""OPC UA Basic256Sha256 SignAndEncrypt from the line configuration to the simulator.

The adapter's own tests (tests/adapters/test_opcua.py) build ``OpcUaSecurity`` by hand; here
the gateway's config path does it: ``connection.security`` in a ``[[machines]]`` entry, with the
certificate paths relative to the config file and the password from the environment.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from adapters.base import RecipeInfo
from adapters.observations import StateChanged
from adapters.opcua import OpcUaAdapter
from gateway.assemble import build_adapter, check_line
from gateway.config import parse_config
from protocols.errors import ConfigError
from simulators import SteppedClock
from simulators.selective_solder import SelectiveSolder
from tests.adapters.recorder import Recorder
from tests.adapters.test_opcua import _client_certificate

URI = "urn:linegate:tests:hardening"
DEADLINE = 15.0


def line(tmp_path: Path, connection: dict[str, Any]) -> dict[str, Any]:
    return {
        "line": {"name": "opcua"},
        "machines": [
            {
                "id": "solder1",
                "handle": "Acme.Solder.1",
                "protocol": "opcua",
                "connection": connection,
                "map": "builtin:selective_solder",
            }
        ],
    }


async def test_sign_and_encrypt_configured_in_the_line_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``connection.security`` builds a Basic256Sha256 SignAndEncrypt session that reads the
    machine's state and recipe; the user's password travels encrypted inside it."""
    _client_certificate(tmp_path, URI)  # client.der, client.pem
    monkeypatch.setenv("LG_TEST_OPCUA_PASSWORD", "s3cret")
    # The machine's manual says anonymous; this one is given the operator's account to check.
    async with SelectiveSolder(
        clock=SteppedClock(), security_policy="Basic256Sha256", users={"operator": "s3cret"}
    ) as machine:
        assert machine.url is not None
        connection = {
            "url": machine.url,
            "username": "operator",
            "password_env": "LG_TEST_OPCUA_PASSWORD",
            "security": {"certificate": "client.der", "private_key": "client.pem", "application_uri": URI},
        }
        config = parse_config(line(tmp_path, connection), path=str(tmp_path / "line.toml"))
        adapter = build_adapter(config, config.machines[0], 0)
        assert isinstance(adapter, OpcUaAdapter)
        assert adapter.security is not None and adapter.security.mode == "SignAndEncrypt"
        seen = Recorder()
        task = asyncio.create_task(adapter.run(seen))
        try:
            await adapter.wait_connected(DEADLINE)
            assert (await seen.next(StateChanged)).state == 4500
            assert await adapter.active_recipe() == RecipeInfo("PGM-CONN-A", "1")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def test_security_config_errors_name_the_key(tmp_path: Path) -> None:
    """A missing certificate, an unknown policy or mode: the error names the key path."""
    _client_certificate(tmp_path, URI)
    where = "machines[0].connection.security"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"certificate": "missing.der", "private_key": "client.pem"}, f"{where}.certificate"),
        ({"certificate": "client.der"}, f"{where}.private_key"),
        (
            {"certificate": "client.der", "private_key": "client.pem", "policy": "Basic128Rsa15"},
            f"{where}.policy",
        ),
        ({"certificate": "client.der", "private_key": "client.pem", "mode": "None"}, f"{where}.mode"),
        ({"certificate": "client.der", "private_key": "client.pem", "pin": "x"}, f"{where}.pin"),
    ]
    for security, key in cases:
        with pytest.raises(ConfigError) as error:
            config = parse_config(
                line(tmp_path, {"url": "opc.tcp://127.0.0.1:4840", "security": security}),
                path=str(tmp_path / "line.toml"),
            )
            check_line(config, secrets=False)  # looks for the files the config names
        assert error.value.key == key, error.value
