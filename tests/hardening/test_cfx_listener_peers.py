"""Hostile peers against the CFX request listener (its asyncio gate in front of proton).

A peer that trickles its protocol header, or never finishes a TLS handshake, is dropped at the
handshake deadline; a burst of 1,000 connections past the cap is closed at once while a real CFX
request to another endpoint completes, and the listener under the burst answers again as soon as
it may evict a silent peer.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from proton import symbol

from protocols.cfx.messages import AreYouThereRequest, AreYouThereResponse
from protocols.cfx.requests import new_request
from protocols.cfx.transport import CFXListener, CFXRequester, ServerSecurity, TLSFiles
from protocols.cfx.transport.security import AMQP_HEADER, SASL_HEADER, SASL_INIT, _sasl_frame
from protocols.errors import TransportError
from protocols.transport import PeerLimits
from tests.hardening.certs import make_pki
from tests.hardening.support import (
    BURST,
    WAIT,
    Burst,
    measured,
    report,
    trickle_until_dropped,
    until,
    wait_dropped,
)

OVEN = "Heller.Reflow.Hardening"
ME = "Line1.Controller"
SHORT = 0.3


async def ask(uri: str, target: str = OVEN) -> AreYouThereResponse:
    """One AreYouThere request over a fresh connection, as the CFX SDK sends it."""
    async with CFXRequester(ME) as requester:
        response = await requester.request(
            uri, new_request(AreYouThereRequest(), source=ME, target=target), timeout=5
        )
    assert isinstance(response.body, AreYouThereResponse)
    return response.body


async def test_a_peer_that_trickles_its_header_is_dropped() -> None:
    """A peer sending the SASL header a byte at a time is dropped at the handshake deadline;
    the listener answers a real request right after."""
    limits = PeerLimits(max_connections=8, handshake_timeout=SHORT)
    async with CFXListener("127.0.0.1", 0, limits=limits) as listener:
        listener.add_handle(OVEN)
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        hello = SASL_HEADER + _sasl_frame(SASL_INIT, [symbol("ANONYMOUS"), b""]) + AMQP_HEADER
        took, sent = await trickle_until_dropped(reader, writer, hello, pace=0.02)
        assert SHORT - 0.05 <= took < WAIT and sent < len(hello)
        assert listener._gate is not None and listener._gate.guard.dropped["handshake_timeout"] == 1
        assert (await ask(listener.uri)).cfx_handle == OVEN


async def test_a_peer_that_never_finishes_tls_is_dropped(tmp_path: Path) -> None:
    """On amqps://, a peer that opens the socket and sends no ClientHello is dropped at the
    handshake deadline (asyncio's TLS handshake timeout is the guard's)."""
    pki = make_pki(tmp_path)
    security = ServerSecurity(tls=TLSFiles(cert_file=str(pki.server_cert), key_file=str(pki.server_key)))
    limits = PeerLimits(max_connections=8, handshake_timeout=SHORT)
    async with CFXListener("127.0.0.1", 0, security=security, limits=limits) as listener:
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        took = await wait_dropped(reader)
        writer.close()
        assert SHORT - 0.05 <= took < WAIT


async def test_burst_of_1000_connections_is_bounded_and_requests_keep_flowing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """1,000 silent connections at listener A: past its cap they are closed at once; a request
    to listener B (another endpoint in the same process) is answered during the burst, and A
    answers again once a silent peer may be evicted, well before their handshake deadline."""
    limits = PeerLimits(max_connections=16, handshake_timeout=5.0)
    async with (
        CFXListener("127.0.0.1", 0, limits=limits) as listener_a,
        CFXListener("127.0.0.1", 0) as listener_b,
    ):
        listener_a.add_handle(OVEN)
        listener_b.add_handle("Other.Machine.1")
        assert listener_a._gate is not None
        guard = listener_a._gate.guard
        burst = Burst(listener_a.port)
        loop = asyncio.get_running_loop()
        with measured() as sample:
            await burst.fire()
            started = loop.time()
            answered = asyncio.ensure_future(ask(listener_b.uri, "Other.Machine.1"))
            await until(lambda: guard.accepted + guard.dropped["connection_limit"] >= BURST, sample)
            assert (await answered).cfx_handle == "Other.Machine.1"
            # Every admission past the cap evicted a silent connection.
            assert guard.accepted - guard.dropped["evicted"] <= limits.max_connections
            while True:  # A refuses until a silent peer is a quarter of its deadline old
                try:
                    body = await ask(listener_a.uri)
                    break
                except TransportError:
                    await asyncio.sleep(0.1)  # the pace of retries, not synchronisation
            assert body.cfx_handle == OVEN
            assert loop.time() - started < 5.0
            await burst.close()
        with capsys.disabled():
            print("\n" + report("cfx listener burst", sample))
        assert guard.dropped["connection_limit"] + guard.dropped["evicted"] >= BURST - limits.max_connections
        assert guard.dropped["evicted"] >= 1
        assert sample.tasks_peak - sample.tasks_before <= 512 + 4 * limits.max_connections
        assert sample.rss_after_kib - sample.rss_before_kib < 32 * 1024
        assert sample.traced_peak_bytes < 16 * 1024 * 1024


async def test_a_socket_too_high_for_protons_select_is_refused_and_the_listener_survives() -> None:
    """With the process's descriptors past 1024 (a burst elsewhere), an admitted peer is closed
    cleanly instead of handing proton a socket its select() cannot take, which would stop the
    reactor and with it every CFX request; once descriptors are free again, requests work."""
    async with CFXListener("127.0.0.1", 0) as listener:
        listener.add_handle(OVEN)
        assert (await ask(listener.uri)).cfx_handle == OVEN
        filler: list[int] = []
        try:
            while not filler or filler[-1] < 1100:
                filler.append(os.open(os.devnull, os.O_RDONLY))
            reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
            writer.write(AMQP_HEADER)
            async with asyncio.timeout(WAIT):
                rest = await reader.read()
            writer.close()
            assert rest == b""  # closed by the gate: proton never saw the socket
        finally:
            for fd in filler:
                os.close(fd)
        assert (await ask(listener.uri)).cfx_handle == OVEN
