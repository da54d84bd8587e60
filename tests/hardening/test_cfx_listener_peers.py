"""Hostile peers against the CFX request listener (its asyncio gate in front of proton).

A peer that trickles its protocol header, or never finishes a TLS handshake, is dropped at the
handshake deadline; a burst of 1,000 connections past the cap is closed at once while a real CFX
request to another endpoint completes, and the listener under the burst answers again as soon as
it may evict a silent peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest
from proton import Connection, Transport, symbol
from structlog.testing import capture_logs

from protocols.cfx.envelope import Envelope
from protocols.cfx.messages import AreYouThereRequest, AreYouThereResponse
from protocols.cfx.requests import new_request
from protocols.cfx.transport import CFXListener, CFXRequester, ServerSecurity, TLSFiles
from protocols.cfx.transport.amqp10 import request_message
from protocols.cfx.transport.security import AMQP_HEADER, SASL_HEADER, SASL_INIT, _sasl_frame
from protocols.errors import TransportError
from protocols.transport import PeerLimits
from tests.hardening.support import (
    BURST,
    BURST_DEADLINE,
    WAIT,
    Burst,
    check_burst,
    measured,
    never_reading_socket,
    report,
    settle,
    trickle_until_dropped,
    until,
    wait_dropped,
)
from tests.support.certs import make_pki

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
    limits = PeerLimits(max_connections=16, handshake_timeout=BURST_DEADLINE)
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
            await settle(sample)
            # Every admission past the cap evicted a silent connection.
            assert guard.accepted - guard.dropped["evicted"] <= limits.max_connections
            while True:  # A refuses until a silent peer is a quarter of its deadline old
                try:
                    body = await ask(listener_a.uri)
                    break
                except TransportError:
                    await asyncio.sleep(0.1)  # the pace of retries, not synchronisation
            assert body.cfx_handle == OVEN
            assert loop.time() - started < BURST_DEADLINE  # in by eviction, not by the deadline
            await burst.close()
        with capsys.disabled():
            print("\n" + report("cfx listener burst", sample))
        check_burst(guard, sample, cap=limits.max_connections, tasks_per_connection=1)


class _RecordingListener(CFXListener):
    """Notes the descriptor of every peer socket it serves."""

    served_fds: list[int]

    async def _serve_peer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.served_fds.append(writer.get_extra_info("socket").fileno())
        await super()._serve_peer(reader, writer)


async def test_a_peer_whose_descriptor_is_past_1024_is_served() -> None:
    """With the process's descriptors past 1024 (a burst elsewhere), a peer is served like any
    other: the engine runs on the event loop, with no select() and its FD_SETSIZE in the way."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 1200
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the hard descriptor limit ({hard}) is below {wanted}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    filler: list[int] = []
    try:
        async with _RecordingListener("127.0.0.1", 0) as listener:
            listener.served_fds = []
            listener.add_handle(OVEN)
            first = os.open(os.devnull, os.O_RDONLY)
            filler.append(first)
            while filler[-1] < 1100:
                filler.append(os.dup(first))
            assert (await ask(listener.uri)).cfx_handle == OVEN
            assert (await ask(listener.uri)).cfx_handle == OVEN
        assert len(listener.served_fds) == 2 and min(listener.served_fds) >= 1024
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_a_requester_that_never_reads_is_dropped_with_the_gate_buffer_bounded() -> None:
    """A requester pipelines 4,000 requests over 40 links and never reads a reply: once the
    gate's write buffer has stayed full for the drain deadline the peer is dropped, with no more
    than the limit plus one read from proton buffered for it; the listener serves others after."""
    limits = PeerLimits(
        max_connections=8, handshake_timeout=WAIT, write_buffer_limit=16 * 1024, drain_timeout=SHORT
    )
    async with CFXListener("127.0.0.1", 0, limits=limits) as listener:
        listener.add_handle(OVEN)
        assert listener._gate is not None
        guard = listener._gate.guard
        sock = never_reading_socket(listener.port)
        engine = RawRequester(sock, links=40)
        with capture_logs() as logs:
            await engine.open()
            engine.pipeline(new_request(AreYouThereRequest(), source=ME, target=OVEN))
            with contextlib.suppress(ConnectionError):
                await engine.flush()
            await until(lambda: guard.dropped["drain_timeout"] == 1)
        sock.close()
        (dropped,) = [e for e in logs if e["event"] == "peer.dropped"]
        assert dropped["reason"] == "drain_timeout" and dropped["buffered"] <= 16 * 1024 + 65536
        assert (await ask(listener.uri)).cfx_handle == OVEN


class RawRequester:
    """An AMQP 1.0 client made of proton's engine alone (no reactor): the test decides when it
    reads. It opens one reply link and ``links`` request links, then pipelines requests."""

    def __init__(self, sock: socket.socket, links: int) -> None:
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self.connection = Connection()
        self.connection.container = "hardening"
        self.connection.hostname = "localhost"
        self.transport = Transport()
        self.transport.bind(self.connection)
        self.reply = f"hardening-{uuid.uuid4().hex[:8]}"
        self.links = links
        self.senders: list[Any] = []

    async def flush(self) -> None:
        """Write everything the engine has to send."""
        while (pending := self.transport.pending()) > 0:
            data = self.transport.peek(pending)
            assert data is not None
            await self.loop.sock_sendall(self.sock, data)
            self.transport.pop(len(data))

    async def open(self) -> None:
        """Open the connection and links, reading until every request link has credit."""
        self.connection.open()
        session = self.connection.session()
        session.open()
        receiver = session.receiver("replies")
        receiver.source.address = OVEN
        receiver.target.address = self.reply  # the listener replies on the link with this target
        receiver.open()
        receiver.flow(1_000_000)
        for index in range(self.links):
            sender = session.sender(f"requests-{index}")
            sender.target.address = OVEN
            sender.open()
            self.senders.append(sender)
        async with asyncio.timeout(WAIT):
            while not all(sender.credit > 0 for sender in self.senders):
                await self.flush()
                data = await self.loop.sock_recv(self.sock, 65536)
                if not data:
                    raise ConnectionError("the listener closed the connection")
                self.transport.push(data)

    def pipeline(self, request: Envelope) -> int:
        """Queue one request per credit on every link; return how many."""
        message = request_message(request, reply_to=self.reply, compress=False)
        count = 0
        for sender in self.senders:
            while sender.credit > 0:
                message.id = str(uuid.uuid4())
                delivery = sender.delivery(str(count).encode())
                sender.send(message.encode())
                sender.advance()
                delivery.settle()
                count += 1
        return count
