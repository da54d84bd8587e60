"""TLS listeners on the real brokers, opened and closed by the test, with its own CA.

RabbitMQ (already running) opens an extra ``amqp/ssl`` listener at runtime through
``rabbitmqctl eval 'rabbit_networking:start_ssl_listener(...)'`` and closes it again with
``stop_tcp_listener``; its default listener (5672) and its configuration are not touched.
Mosquitto gets a second process of its own, with a config file naming the test's files, stopped
at the end; the system's broker on 1883 is not touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from gateway.testing.harness import free_port
from tests.support.certs import Pki, make_pki

MOSQUITTO = "/usr/sbin/mosquitto"
RABBITMQCTL = "rabbitmqctl"


@dataclass(frozen=True)
class TlsBroker:
    """A TLS listener on 127.0.0.1 with the certificate of ``pki`` (name: localhost)."""

    port: int
    pki: Pki
    other: Pki  # a second CA that did not sign the broker's certificate


async def _run(*argv: str) -> str:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    async with asyncio.timeout(60):
        out, _ = await process.communicate()
    text = out.decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:2])} failed ({process.returncode}): {text}")
    return text


@contextlib.contextmanager
def _pki_dir() -> Iterator[tuple[Pki, Pki]]:
    # The brokers run as their own users: the files live in a world-readable directory
    # (pytest's tmp_path is private to root).
    directory = Path(tempfile.mkdtemp(prefix="linegate-tls-"))
    directory.chmod(0o755)
    try:
        yield make_pki(directory / "ca"), make_pki(directory / "other", name="untrusted CA")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _mosquitto_conf(pki: Pki, port: int) -> Path:
    config = pki.ca_file.parent / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\n"
        f"cafile {pki.ca_file}\ncertfile {pki.server_cert}\nkeyfile {pki.server_key}\n"
        "allow_anonymous true\npersistence false\nlog_dest stderr\nlog_type all\n"
    )
    config.chmod(0o644)
    return config


def _erlang_string(path: Path) -> str:
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


@contextlib.asynccontextmanager
async def rabbitmq_tls() -> AsyncIterator[TlsBroker]:
    """An extra TLS listener on the running RabbitMQ, on a free port, closed afterwards."""
    with _pki_dir() as (pki, other):
        port = free_port()
        listener = f'{{"127.0.0.1", {port}}}'
        options = (
            f"[{{certfile, {_erlang_string(pki.server_cert)}}}, "
            f"{{keyfile, {_erlang_string(pki.server_key)}}}, "
            f"{{cacertfile, {_erlang_string(pki.ca_file)}}}, {{verify, verify_none}}, "
            "{fail_if_no_peer_cert, false}]"
        )
        # rabbit_networking:start_ssl_listener/3 (Listener, SslOpts, NumAcceptors) in 3.10;
        # ensure_ssl/0 starts Erlang's ssl application if no TLS listener did yet.
        start = f"rabbit_networking:start_ssl_listener({listener}, {options}, 1)"
        out = await _run(RABBITMQCTL, "eval", f"rabbit_networking:ensure_ssl(), {start}.")
        if out.strip() != "ok":
            raise RuntimeError(f"RabbitMQ did not open the TLS listener: {out}")
        try:
            yield TlsBroker(port, pki, other)
        finally:
            await _run(RABBITMQCTL, "eval", f"rabbit_networking:stop_tcp_listener({listener}).")


@contextlib.asynccontextmanager
async def mosquitto_tls() -> AsyncIterator[TlsBroker]:
    """A mosquitto process of the test's own with one TLS listener on a free port."""
    with _pki_dir() as (pki, other):
        port = free_port()
        config = _mosquitto_conf(pki, port)
        process = await asyncio.create_subprocess_exec(
            MOSQUITTO, "-c", str(config), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        assert process.stderr is not None
        try:
            async with asyncio.timeout(10):
                while b"Opening ipv4 listen socket" not in (line := await process.stderr.readline()):
                    if not line:
                        raise RuntimeError("mosquitto exited before listening")
            # Keep reading its log, or a full pipe would stall it.
            drain = asyncio.ensure_future(process.stderr.read())
            try:
                yield TlsBroker(port, pki, other)
            finally:
                process.terminate()
                async with asyncio.timeout(10):
                    await process.wait()
                await drain
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
