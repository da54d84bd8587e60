"""No credential ever reaches the logs.

``linegate run`` runs as a subprocess at debug level with an AMQP password (from the
environment), an MQTT password (from a file), an HTTP token (from a file) and a SASL password
for the CFX listener (from the environment). Then things fail on purpose: both brokers are on
closed ports (so connection errors are logged with their URLs), the HTTP API gets a wrong
token, the listener refuses a wrong SASL password and admits the right one. Everything the
process wrote is searched for each secret, the wrong guesses, and the URL-with-password form.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path

import aiohttp

from gateway.testing.harness import free_port
from protocols.cfx.messages import AreYouThereRequest, AreYouThereResponse
from protocols.cfx.requests import new_request
from protocols.cfx.transport import CFXRequester
from protocols.errors import TransportError
from tests.hardening.support import WAIT

ROOT = Path(__file__).resolve().parents[2]
HANDLE = "Acme.Secret.1"


class Output:
    """Collects a subprocess's output lines and lets the test wait for one."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._changed = asyncio.Condition()

    async def pump(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            async with self._changed:
                self.lines.append(line.decode(errors="replace"))
                self._changed.notify_all()

    async def wait_for(self, *needles: str) -> str:
        """The first line containing every needle."""

        def found() -> str | None:
            return next((ln for ln in self.lines if all(n in ln for n in needles)), None)

        async with asyncio.timeout(WAIT * 3), self._changed:
            await self._changed.wait_for(lambda: found() is not None)
        line = found()
        assert line is not None
        return line

    @property
    def text(self) -> str:
        return "".join(self.lines)


def write_config(tmp_path: Path, secrets: dict[str, str], ports: dict[str, int]) -> Path:
    (tmp_path / "mqtt.pw").write_text(secrets["mqtt"] + "\n")
    (tmp_path / "http.token").write_text(secrets["token"] + "\n")
    config = tmp_path / "line.toml"
    config.write_text(
        f"""
[line]
name = "secrets"

[outbox]
path = "{tmp_path / "outbox.sqlite"}"

[amqp]
url = "amqp://linegate@127.0.0.1:{ports["amqp"]}/"
password_env = "LG_TEST_AMQP_PASSWORD"

[mqtt]
host = "127.0.0.1"
port = {ports["mqtt"]}
username = "linegate"
password_file = "{tmp_path / "mqtt.pw"}"

[http]
host = "127.0.0.1"
port = {ports["http"]}
token_file = "{tmp_path / "http.token"}"

[listener]
host = "127.0.0.1"
port = {ports["listener"]}
username = "line"
password_env = "LG_TEST_LISTENER_PASSWORD"

[[machines]]
id = "m1"
handle = "{HANDLE}"
protocol = "modbus"
connection = {{ host = "127.0.0.1", port = {ports["modbus"]} }}
map = "builtin:reflow_oven"
"""
    )
    return config


async def test_no_secret_appears_in_the_logs_of_a_failing_gateway(tmp_path: Path) -> None:
    """Every failure is logged, and none of the secrets (or wrong guesses) is in any line."""
    tag = uuid.uuid4().hex[:12]
    secrets = {
        "amqp": f"amqpS3cret{tag}",
        "mqtt": f"mqttS3cret{tag}",
        "token": f"tokenS3cret{tag}",
        "listener": f"saslS3cret{tag}",
    }
    guesses = {"token": f"wrongToken{tag}", "listener": f"wrongSasl{tag}"}
    # Closed ports: a port we bound and released has nobody listening.
    ports = {name: free_port() for name in ("amqp", "mqtt", "http", "listener", "modbus")}
    config = write_config(tmp_path, secrets, ports)
    env = {
        **os.environ,
        "LINEGATE_LOG_LEVEL": "debug",
        "LG_TEST_AMQP_PASSWORD": secrets["amqp"],
        "LG_TEST_LISTENER_PASSWORD": secrets["listener"],
        "PYTHONUNBUFFERED": "1",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "run",
        str(config),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    output = Output()
    pump = asyncio.ensure_future(output.pump(process.stdout))
    try:
        await output.wait_for("dashboard at")
        # The brokers are unreachable: both sinks log their failures with where they dialled.
        await output.wait_for("connect.failed", str(ports["amqp"]))
        await output.wait_for(str(ports["mqtt"]), "fail")
        # A wrong token on the HTTP API.
        async with (
            aiohttp.ClientSession() as client,
            client.post(
                f"http://127.0.0.1:{ports['http']}/api/changeover",
                json={"product": "X"},
                headers={"Authorization": f"Bearer {guesses['token']}"},
            ) as response,
        ):
            assert response.status == 401
        await output.wait_for("http.auth_refused", "wrong token")
        # A refused SASL login, then an admitted one.
        uri = f"amqp://line:{{}}@127.0.0.1:{ports['listener']}"
        request = new_request(AreYouThereRequest(), source="Line.Controller.1", target=HANDLE)
        async with CFXRequester("Line.Controller.1") as requester:
            try:
                await requester.request(uri.format(guesses["listener"]), request, timeout=5)
                raise AssertionError("a wrong SASL password was admitted")
            except TransportError:
                pass
            await output.wait_for("sasl.refused")
            answer = await requester.request(uri.format(secrets["listener"]), request, timeout=5)
            assert isinstance(answer.body, AreYouThereResponse)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(WAIT * 2):
            await process.wait()
        await pump
    text = output.text
    assert '"level":"debug"' in text  # the debug level was on
    for name, secret in {**secrets, **{f"guess-{k}": v for k, v in guesses.items()}}.items():
        assert secret not in text, f"the {name} secret appears in the logs"
    assert f"linegate:{secrets['amqp']}@" not in text
    assert "linegate:***@" in text  # the broker URL is logged, with its password masked
