"""The CFX request listener with TLS and SASL PLAIN, configured in ``[listener]``.

tests/protocols/cfx_transport/test_security.py covers the listener class (right and wrong
passwords over plain TCP, TLS with the right password, an untrusted CA). Here the gateway's
config path builds it, and the wrong password, an unknown user and an anonymous login are
refused inside TLS too, each with a ``sasl.refused`` log line and no request answered.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from gateway.assemble import start_gateway
from gateway.config import parse_config
from gateway.testing.harness import free_port
from protocols.cfx.messages import AreYouThereRequest, AreYouThereResponse
from protocols.cfx.requests import new_request
from protocols.cfx.transport import CFXRequester, TLSFiles
from protocols.errors import TransportError
from tests.hardening.support import until
from tests.support.certs import make_pki

HANDLE = "Acme.Auth.1"
ME = "Line.Controller.1"


async def test_tls_and_sasl_plain_from_the_line_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Right password over amqps:// is answered; wrong password, unknown user and anonymous
    are refused; a requester that does not trust the CA refuses the listener."""
    pki = make_pki(tmp_path / "ca")
    other = make_pki(tmp_path / "other", name="untrusted CA")
    monkeypatch.setenv("LG_TEST_LISTENER_PASSWORD", "line-pass")
    port = free_port()
    config = parse_config(
        {
            "line": {"name": "auth"},
            "outbox": {"path": str(tmp_path / "outbox.sqlite")},
            "listener": {
                "host": "127.0.0.1",
                "port": port,
                "username": "line",
                "password_env": "LG_TEST_LISTENER_PASSWORD",
                "tls": {"cert_file": "ca/server.pem", "key_file": "ca/server.key"},
            },
            "machines": [
                {
                    "id": "oven1",
                    "handle": HANDLE,
                    "protocol": "modbus",
                    "connection": {"host": "127.0.0.1", "port": free_port()},
                    "map": "builtin:reflow_oven",
                }
            ],
        },
        path=str(tmp_path / "line.toml"),
    )
    request = new_request(AreYouThereRequest(), source=ME, target=HANDLE)
    trusting = TLSFiles(ca_file=str(pki.ca_file))
    async with AsyncExitStack() as stack:
        _, listener = await start_gateway(config, stack, console=True)
        assert listener.uri == f"amqps://127.0.0.1:{port}"
        # proton checks the certificate's names against the host dialled: dial by name.
        async with CFXRequester(ME, tls=trusting) as requester:
            answer = await requester.request(f"amqps://line:line-pass@localhost:{port}", request, timeout=5)
            assert isinstance(answer.body, AreYouThereResponse)
            with capture_logs() as logs:
                for userinfo in ("line:wrong-pass@", "intruder:line-pass@", ""):
                    with pytest.raises(TransportError):
                        await requester.request(f"amqps://{userinfo}localhost:{port}", request, timeout=5)
                # The anonymous client gives up on its side first; the gate logs when it sees that.
                await until(lambda: sum(e["event"] == "sasl.refused" for e in logs) == 3)
            refused = [e for e in logs if e["event"] == "sasl.refused"]
            assert [e["reason"] for e in refused] == [
                "PLAIN login refused",
                "PLAIN login refused",
                "closed after the mechanisms offered (PLAIN)",
            ]
            assert all(e["peer"][0] == "127.0.0.1" for e in refused)
        async with CFXRequester(ME, tls=TLSFiles(ca_file=str(other.ca_file))) as requester:
            with pytest.raises(TransportError, match="certificate verify failed"):
                await requester.request(f"amqps://line:line-pass@localhost:{port}", request, timeout=5)
        assert listener.requests_answered == 1
