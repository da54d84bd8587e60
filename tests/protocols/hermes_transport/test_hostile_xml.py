"""Hostile XML from a Hermes peer, at every layer and with both parser twins.

The six cases of the hardening issue: billion laughs, external entities, DTDs (in front of the
message and inside it), deep nesting, more than 64 KiB, invalid UTF-8. Each is refused

* by the parser (``native._hermes_xml`` and ``native.hermes_xml_pure``) with XmlError;
* by the sans-IO lane connection (``HorizontalConnection``, both roles, whole and byte by byte),
  with a RemoteProtocolError whose hint is Notification 1 (ProtocolError) / Fatal, as
  IPC-Hermes-9852 says for XML that is not well-formed and for more than 64 KiB without a
  message (reference §1 and §3); the connection is then in ERROR and stays there;
* over a real socket by the asyncio lanes (``SenderLane`` as TCP server, ``ReceiverLane`` as
  client), the vertical channel's ``VerticalServer`` and the ``ConfigurationServer``: the peer
  gets that Notification, the connection is closed, and the next connection is served normally.

The stream framer drops everything before ``<Hermes`` (reference §1, as lib_cpp does), so a DTD
sent in front of a message never reaches the parser: its entities are undefined and its
attribute defaults never apply, and the message is refused for that (the one message with no
attribute a DTD could default, GetConfiguration, is then simply answered). A DTD's external URLs point
at a listening socket here, which must see no connection: nothing fetches them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from types import ModuleType

import pytest

from native import hermes_xml_pure
from native.xml_errors import MAX_DEPTH, XmlError
from protocols.errors import ProtocolError, RemoteProtocolError
from protocols.hermes import codec
from protocols.hermes import messages as m
from protocols.hermes.codec import MAX_MESSAGE_SIZE
from protocols.hermes.connection import NEED_DATA, HorizontalConnection
from protocols.hermes.state import Role, State
from protocols.hermes.transport import (
    ConfigurationServer,
    ReceiverLane,
    SenderLane,
    VerticalClient,
    VerticalServer,
    get_configuration,
)
from tests.native.twins import compiled_module
from tests.protocols.hermes_transport.peers import WAIT, RawPeer, board, description, raw_server

STAMP = '<Hermes Timestamp="2024-05-14T08:15:02.117">'


def _service_description(machine_id: str = 'MachineId="ACC" ', inner: str = "") -> str:
    head = f'{STAMP}<ServiceDescription {machine_id}LaneId="1" Version="1.6">'
    return f"{head}{inner}</ServiceDescription></Hermes>"


def _laughs() -> str:
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    )
    return f'<?xml version="1.0"?>\n<!DOCTYPE Hermes [{entities}]>\n'


def cases(port: int) -> dict[str, bytes]:
    """The hostile documents, each a ServiceDescription (the first message on a lane)."""
    url = f"http://127.0.0.1:{port}"
    nested = "<Vendor>" * (MAX_DEPTH + 4) + "</Vendor>" * (MAX_DEPTH + 4)
    padding = f'<Padding Value="{"x" * MAX_MESSAGE_SIZE}"/>'
    return {
        "billion laughs": (_laughs() + _service_description('MachineId="&lol9;" ')).encode(),
        "external entity": (
            f'<!DOCTYPE Hermes [<!ENTITY xxe SYSTEM "{url}/secret">]>'
            + _service_description('MachineId="&xxe;" ')
        ).encode(),
        # If the DTD applied, its attribute default would supply the missing MachineId.
        "DTD": (
            f'<!DOCTYPE Hermes SYSTEM "{url}/hermes.dtd" '
            '[<!ATTLIST ServiceDescription MachineId CDATA "FromDTD">]>' + _service_description("")
        ).encode(),
        "DTD inside the message": _service_description()
        .replace(STAMP, f'{STAMP}<!DOCTYPE Hermes [<!ENTITY e SYSTEM "{url}/e">]>')
        .encode(),
        "deep nesting": _service_description(inner=nested).encode(),
        "over 64 KiB": _service_description(inner=padding).encode(),
        "invalid UTF-8": _service_description('MachineId="AC\xff" ').encode("latin-1"),
    }


NAMES = list(cases(0))


@pytest.fixture(params=["cython", "python"])
def twin(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The codec (and so every connection and lane) parses with this twin for the test."""
    module = compiled_module("_hermes_xml") if request.param == "cython" else hermes_xml_pure
    monkeypatch.setattr(codec, "parse", module.parse)
    yield module


class NoFetch:
    """A listening socket standing for every URL in the DTDs: it must never see a connection."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    def _count(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()


@pytest.fixture
async def no_fetch() -> AsyncIterator[NoFetch]:
    sentinel = NoFetch()
    sentinel.server = await asyncio.start_server(sentinel._count, "127.0.0.1", 0)
    sentinel.port = sentinel.server.sockets[0].getsockname()[1]
    yield sentinel
    sentinel.server.close()
    await sentinel.server.wait_closed()
    assert sentinel.connections == 0, "something fetched a DTD or an external entity"


# --- the parser -----------------------------------------------------------------------------

PARSER_REASONS = {
    "billion laughs": "DOCTYPE is not allowed",
    "external entity": "DOCTYPE is not allowed",
    "DTD": "DOCTYPE is not allowed",
    "DTD inside the message": "DOCTYPE is not allowed",
    "deep nesting": f"nesting deeper than {MAX_DEPTH} elements",
    "over 64 KiB": "more than the 65536 allowed",
    "invalid UTF-8": "invalid UTF-8",
}


@pytest.mark.parametrize("name", NAMES)
def test_the_parser_refuses_it(twin: ModuleType, name: str) -> None:
    with pytest.raises(XmlError) as info:
        twin.parse(cases(9)[name])
    assert PARSER_REASONS[name] in info.value.reason


# --- the sans-IO connection -----------------------------------------------------------------


def _assert_in_error(connection: HorizontalConnection, error: RemoteProtocolError) -> None:
    """Notification 1 / Fatal to send; ERROR from now on, for every verb."""
    hint = error.hint
    assert isinstance(hint, m.Notification)
    assert hint.notification_code == m.NotificationCode.PROTOCOL_ERROR
    assert hint.severity == m.SeverityType.FATAL
    assert connection.state is State.ERROR
    assert connection.error is error
    with pytest.raises(RemoteProtocolError):
        connection.next_event()
    with pytest.raises(RemoteProtocolError):
        connection.receive_data(b"<Hermes><CheckAlive/></Hermes>")
    with pytest.raises(ProtocolError):
        connection.send(m.CheckAlive())
    assert connection.state is State.ERROR


def _feed(connection: HorizontalConnection, data: bytes, chunk: int) -> RemoteProtocolError:
    """Feed ``data`` in pieces of ``chunk`` bytes; return the error it must end in."""
    for start in range(0, len(data), chunk):
        try:
            connection.receive_data(data[start : start + chunk])
            while connection.next_event() is not NEED_DATA:
                pass
        except RemoteProtocolError as exc:
            return exc
    raise AssertionError("the hostile document was accepted")


@pytest.mark.parametrize("chunk", [1 << 20, 1], ids=["whole", "byte-by-byte"])
@pytest.mark.parametrize("role", [Role.SENDER, Role.RECEIVER], ids=["sender", "receiver"])
@pytest.mark.parametrize("name", NAMES)
def test_the_connection_refuses_it_with_notification_1_fatal(
    twin: ModuleType, name: str, role: Role, chunk: int
) -> None:
    connection = HorizontalConnection(role, check_alive_period=None)
    if role is Role.RECEIVER:
        connection.send(description("SUT"))  # the receiver speaks first (reference §3)
    _assert_in_error(connection, _feed(connection, cases(9)[name], chunk))


@pytest.mark.parametrize("name", NAMES)
def test_hostile_xml_mid_session_ends_the_session_in_error(twin: ModuleType, name: str) -> None:
    """After the handshake, in NotAvailableNotReady, a hostile message still ends in ERROR."""
    connection = HorizontalConnection(Role.SENDER, check_alive_period=None)
    connection.receive_data(codec.encode(description()))
    assert isinstance(connection.next_event(), m.ServiceDescription)
    connection.send(description("SUT"))
    assert connection.state is State.NOT_AVAILABLE_NOT_READY
    hostile = cases(9)[name].replace(b"<ServiceDescription", b"<RevokeMachineReady")
    hostile = hostile.replace(b"</ServiceDescription>", b"</RevokeMachineReady>")
    _assert_in_error(connection, _feed(connection, hostile, 1 << 20))


# --- over a real socket ---------------------------------------------------------------------


async def _answer(peer: RawPeer, data: bytes) -> m.Message | m.UnknownMessage:
    await peer.write(data)
    return await peer.receive_skipping_check_alive()


async def _refused_with_notification_1(peer: RawPeer, data: bytes) -> None:
    notification = await _answer(peer, data)
    assert isinstance(notification, m.Notification)
    assert notification.notification_code == m.NotificationCode.PROTOCOL_ERROR
    assert notification.severity == m.SeverityType.FATAL
    assert await peer.dropped_when_talking_on()


@pytest.mark.parametrize("name", NAMES)
async def test_the_sender_lane_refuses_it_and_serves_the_next_receiver(
    twin: ModuleType, no_fetch: NoFetch, name: str
) -> None:
    async with SenderLane(machine_id="SUT", lane_id=1, host="127.0.0.1", port=0) as lane:
        peer = await RawPeer.connect(lane.port)
        await _refused_with_notification_1(peer, cases(no_fetch.port)[name])
        assert not lane.connected
        # The lane is consistent afterwards: a well-behaved receiver is served and gets a board.
        again = await RawPeer.connect(lane.port)
        await again.send(description())
        assert isinstance(await again.receive_skipping_check_alive(), m.ServiceDescription)
        await lane.wait_connected()
        assert lane.state is State.NOT_AVAILABLE_NOT_READY
        offered = board()
        handoff = asyncio.create_task(lane.hand_over(offered))
        assert await again.receive_skipping_check_alive() == offered
        handoff.cancel()
        await asyncio.gather(handoff, return_exceptions=True)
        await again.aclose()


@pytest.mark.parametrize("name", NAMES)
async def test_the_receiver_lane_refuses_it_and_reconnects(
    twin: ModuleType, no_fetch: NoFetch, name: str
) -> None:
    async with (
        raw_server() as server,
        ReceiverLane(
            "127.0.0.1",
            server.port,
            machine_id="SUT",
            lane_id=1,
            fast_retry=0.01,
            slow_retry=0.05,
            check_alive_period=None,
        ) as lane,
    ):
        peer = await server.accept()
        assert isinstance(await peer.receive(), m.ServiceDescription)
        await _refused_with_notification_1(peer, cases(no_fetch.port)[name])
        # It reconnects on its own and completes a normal handshake.
        again = await server.accept()
        assert isinstance(await again.receive(), m.ServiceDescription)
        await again.send(description("UP"))
        await lane.wait_connected()
        assert lane.state is State.NOT_AVAILABLE_NOT_READY
        await again.aclose()


def _as(tag: bytes, data: bytes) -> bytes:
    """The hostile document with its message element renamed (the attributes stay)."""
    return data.replace(b"<ServiceDescription", b"<" + tag).replace(
        b"</ServiceDescription>", b"</" + tag + b">"
    )


@pytest.mark.parametrize("name", NAMES)
async def test_the_vertical_server_refuses_it_and_serves_the_next_client(
    twin: ModuleType, no_fetch: NoFetch, name: str
) -> None:
    machine = m.SupervisoryServiceDescription("SUT", "1.6")
    async with VerticalServer(machine, host="127.0.0.1", port=0) as server:
        peer = await RawPeer.connect(server.port)
        await _refused_with_notification_1(
            peer, _as(b"SupervisoryServiceDescription", cases(no_fetch.port)[name])
        )
        async with VerticalClient(
            "127.0.0.1", server.port, m.SupervisoryServiceDescription("MES", "1.6"), timeout=WAIT
        ) as client:
            assert client.machine == machine
            await asyncio.wait_for(server.wait_for_clients(1), WAIT)


@pytest.mark.parametrize("name", NAMES)
async def test_the_configuration_server_refuses_it_and_answers_the_next_client(
    twin: ModuleType, no_fetch: NoFetch, name: str
) -> None:
    async with ConfigurationServer(
        m.CurrentConfiguration(machine_id="SUT"), host="127.0.0.1", port=0
    ) as service:
        peer = await RawPeer.connect(service.port)
        hostile = _as(b"GetConfiguration", cases(no_fetch.port)[name])
        if name == "DTD":
            # The framer drops the DTD in front of <Hermes unread, and GetConfiguration has no
            # attribute for it to default: what is left is a valid request, and it is answered.
            assert isinstance(await _answer(peer, hostile), m.CurrentConfiguration)
            await peer.aclose()
        else:
            await _refused_with_notification_1(peer, hostile)
        current = await get_configuration("127.0.0.1", port=service.port, timeout=WAIT)
        assert current.machine_id == "SUT"
