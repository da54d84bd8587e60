"""SASL PLAIN and TLS on the request listener, with our requester as the client."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from proton import Data, Described, symbol, ulong

from protocols.cfx.messages import AreYouThereRequest, AreYouThereResponse
from protocols.cfx.requests import new_request
from protocols.cfx.transport import CFXListener, CFXRequester, ServerSecurity, TLSFiles
from protocols.cfx.transport.security import ServerSecurity as _ServerSecurity
from protocols.cfx.transport.security import _parse_sasl_init, _sasl_frame
from protocols.errors import RemoteProtocolError, TransportError
from tests.support.certs import make_pki

OVEN = "Heller.Reflow.1809-Booth"
ME = "Line1.Controller"
CREDENTIALS = {"line": "s3cret-pass"}


@pytest.fixture
async def guarded() -> AsyncIterator[CFXListener]:
    async with CFXListener(security=ServerSecurity(credentials=CREDENTIALS)) as listener:
        listener.add_handle(OVEN)
        yield listener


def _with_userinfo(uri: str, userinfo: str) -> str:
    scheme, rest = uri.split("://", 1)
    return f"{scheme}://{userinfo}@{rest}"


async def test_sasl_plain_with_right_password_is_admitted(guarded: CFXListener) -> None:
    async with CFXRequester(ME) as requester:
        request = new_request(AreYouThereRequest(), source=ME, target=OVEN)
        response = await requester.request(
            _with_userinfo(guarded.uri, "line:s3cret-pass"), request, timeout=5
        )
    assert isinstance(response.body, AreYouThereResponse)


@pytest.mark.parametrize(
    "userinfo", ["line:wrong", "nobody:s3cret-pass", None], ids=["password", "user", "anon"]
)
async def test_unauthenticated_peers_are_refused(guarded: CFXListener, userinfo: str | None) -> None:
    uri = guarded.uri if userinfo is None else _with_userinfo(guarded.uri, userinfo)
    async with CFXRequester(ME) as requester:
        request = new_request(AreYouThereRequest(), source=ME, target=OVEN)
        with pytest.raises(TransportError):
            await requester.request(uri, request, timeout=5)
    assert guarded.requests_answered == 0


def test_plain_response_parsing() -> None:
    """RFC 4616: authzid NUL authcid NUL passwd; anything else is refused."""
    security = _ServerSecurity(credentials=CREDENTIALS)
    assert security.check_plain(b"\x00line\x00s3cret-pass") == "line"
    assert security.check_plain(b"admin\x00line\x00s3cret-pass") == "line"
    assert security.check_plain(b"\x00line\x00s3cret-pas") is None
    assert security.check_plain(b"line\x00s3cret-pass") is None
    assert security.check_plain(b"") is None


def _make_ca_and_server_cert(directory: Path) -> tuple[Path, Path, Path]:
    pki = make_pki(directory)
    return pki.ca_file, pki.server_cert, pki.server_key


async def test_tls_with_sasl_plain(tmp_path: Path) -> None:
    """amqps:// with a CA-verified server certificate, plus SASL PLAIN inside the TLS session."""
    ca_file, cert_file, key_file = _make_ca_and_server_cert(tmp_path)
    security = ServerSecurity(
        tls=TLSFiles(cert_file=str(cert_file), key_file=str(key_file)), credentials=CREDENTIALS
    )
    async with CFXListener("127.0.0.1", 0, security=security) as listener:
        listener.add_handle(OVEN)
        assert listener.uri.startswith("amqps://")
        request = new_request(AreYouThereRequest(), source=ME, target=OVEN)
        # proton checks the peer name against the certificate's DNS names: dial by name, not IP.
        uri = f"amqps://line:s3cret-pass@localhost:{listener.port}"
        async with CFXRequester(ME, tls=TLSFiles(ca_file=str(ca_file))) as requester:
            response = await requester.request(uri, request, timeout=5)
            assert isinstance(response.body, AreYouThereResponse)
        # A client that does not trust our CA refuses the server.
        (tmp_path / "other").mkdir()
        other_ca, _, _ = _make_ca_and_server_cert(tmp_path / "other")
        async with CFXRequester(ME, tls=TLSFiles(ca_file=str(other_ca))) as requester:
            with pytest.raises(TransportError, match="certificate verify failed"):
                await requester.request(uri, request, timeout=5)
        assert listener.requests_answered == 1


@given(st.binary(max_size=64))
def test_sasl_init_parser_parses_or_raises_remote_protocol_error(tail: bytes) -> None:
    """Invariant: any bytes after a SASL frame header parse, or raise RemoteProtocolError."""
    frame = struct.pack(">IBBH", 8 + len(tail), 2, 1, 0) + tail
    with contextlib.suppress(RemoteProtocolError):
        _parse_sasl_init(frame)


def test_sasl_init_parser_reads_a_real_frame() -> None:
    frame = _sasl_frame(0x41, [symbol("PLAIN"), b"\x00u\x00p", None])
    assert _parse_sasl_init(frame) == ("PLAIN", b"\x00u\x00p")


def _frame(body: bytes) -> bytes:
    return struct.pack(">IBBH", 8 + len(body), 2, 1, 0) + body


def _described(descriptor: object, fields: list[object]) -> bytes:
    data = Data()
    data.put_object(Described(descriptor, fields))
    return _frame(data.encode())


@pytest.mark.parametrize(
    "frame",
    [
        _frame(b"\x00\x40\x45"),  # descriptor null, body list0
        _frame(b"\x00\x45\x45"),  # descriptor list0
        _described(symbol("PLAIN"), [symbol("PLAIN"), b"\x00u\x00p"]),
        _described(b"\x41", [symbol("PLAIN"), b"\x00u\x00p"]),
        _described(ulong(0x44), [symbol("PLAIN"), b"\x00u\x00p"]),  # sasl-outcome
        _described(symbol("amqp:sasl-outcome:list"), [symbol("PLAIN"), b"\x00u\x00p"]),
    ],
    ids=["null", "list", "symbol", "binary", "outcome-code", "outcome-name"],
)
def test_sasl_init_parser_refuses_any_other_descriptor_with_a_typed_error(frame: bytes) -> None:
    """Found by fuzz/cfx_listener.py: int(descriptor) raised TypeError/ValueError out of the gate."""
    with pytest.raises(RemoteProtocolError, match="expected sasl-init"):
        _parse_sasl_init(frame)


def test_sasl_init_parser_reads_the_symbolic_descriptor() -> None:
    """AMQP 1.0 part 1.5: the descriptor may be the symbolic name instead of the code."""
    frame = _described(symbol("amqp:sasl-init:list"), [symbol("PLAIN"), b"\x00u\x00p"])
    assert _parse_sasl_init(frame) == ("PLAIN", b"\x00u\x00p")


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\n\r\n",
        b"AMQP\x03\x01\x00\x00\xff\xff\xff\xff",
        b"AMQP\x00\x01\x00\x00junk",
        b"\x00" * 64,
    ],
    ids=["http", "huge-sasl-frame", "no-sasl", "zeros"],
)
async def test_garbage_at_the_gate_is_dropped_and_the_listener_survives(
    guarded: CFXListener, garbage: bytes
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", guarded.port)
    writer.write(garbage)
    await writer.drain()
    async with asyncio.timeout(5):
        await reader.read()  # the gate closes the connection
    writer.close()
    async with CFXRequester(ME) as requester:
        request = new_request(AreYouThereRequest(), source=ME, target=OVEN)
        response = await requester.request(
            _with_userinfo(guarded.uri, "line:s3cret-pass"), request, timeout=5
        )
    assert isinstance(response.body, AreYouThereResponse)


@pytest.mark.parametrize("userinfo", ["", "any:thing@"], ids=["anonymous", "plain"])
async def test_tls_without_credentials_admits_anonymous_and_plain(tmp_path: Path, userinfo: str) -> None:
    ca_file, cert_file, key_file = _make_ca_and_server_cert(tmp_path)
    security = ServerSecurity(tls=TLSFiles(cert_file=str(cert_file), key_file=str(key_file)))
    async with CFXListener("127.0.0.1", 0, security=security) as listener:
        listener.add_handle(OVEN)
        request = new_request(AreYouThereRequest(), source=ME, target=OVEN)
        async with CFXRequester(ME, tls=TLSFiles(ca_file=str(ca_file))) as requester:
            uri = f"amqps://{userinfo}localhost:{listener.port}"
            response = await requester.request(uri, request, timeout=5)
    assert isinstance(response.body, AreYouThereResponse)
