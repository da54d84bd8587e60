"""The configuration service and the vertical channel over loopback sockets."""

from __future__ import annotations

import asyncio

import pytest

from protocols.errors import RequestTimeout
from protocols.hermes import messages as m
from protocols.hermes.transport import (
    ConfigurationRejected,
    ConfigurationServer,
    HermesConnectionClosed,
    VerticalClient,
    VerticalServer,
    get_configuration,
    set_configuration,
)
from tests.protocols.hermes_transport.peers import WAIT, RawPeer, raw_server

BOARD = "0f8fad5b-d9cb-469f-a165-70867728950e"
TRACKING = m.SupervisoryFeatures(feature_board_tracking=m.FeatureBoardTracking())


async def test_get_and_set_configuration() -> None:
    """GetConfiguration reads; SetConfiguration changes it and the client reads the result back."""
    async with ConfigurationServer(
        m.CurrentConfiguration(machine_id="M1"), host="127.0.0.1", port=0
    ) as service:
        current = await get_configuration("127.0.0.1", port=service.port, timeout=WAIT)
        assert current.machine_id == "M1"
        wanted = m.SetConfiguration(
            machine_id="M2",
            supervisory_system_port=50200,
            downstream_configurations=(m.DownstreamConfiguration(1, 50101),),
        )
        after = await set_configuration("127.0.0.1", wanted, port=service.port, timeout=WAIT)
        assert after.machine_id == "M2"
        assert after.supervisory_system_port == 50200
        assert after.downstream_configurations == wanted.downstream_configurations


async def test_rejected_configuration_gives_notification_4() -> None:
    """§1: a failing SetConfiguration is answered with Notification code 4; the client raises."""

    def refuse(new: m.SetConfiguration) -> m.CurrentConfiguration:
        raise ConfigurationRejected(f"port {new.supervisory_system_port} is taken")

    async with ConfigurationServer(host="127.0.0.1", port=0, apply=refuse) as service:
        with pytest.raises(ConfigurationRejected, match="is taken"):
            await set_configuration(
                "127.0.0.1", m.SetConfiguration(machine_id="M", supervisory_system_port=1), port=service.port
            )


async def test_configuration_client_times_out_on_a_silent_service() -> None:
    """A service that never answers: RequestTimeout after the deadline, the socket released."""
    async with raw_server() as server:
        with pytest.raises(RequestTimeout):
            await get_configuration("127.0.0.1", port=server.port, timeout=0.05)
        peer = await server.accept()
        assert isinstance(await peer.receive(), m.GetConfiguration)
        assert await peer.closed()


async def test_wrong_message_to_the_configuration_service() -> None:
    """A lane message on the configuration port: Notification 1 / Fatal, then close."""
    async with ConfigurationServer(host="127.0.0.1", port=0) as service:
        peer = await RawPeer.connect(service.port)
        await peer.send(m.StartTransport(board_id=BOARD))
        notification = await peer.receive()
        assert isinstance(notification, m.Notification)
        assert notification.notification_code == m.NotificationCode.PROTOCOL_ERROR
        assert await peer.closed()


async def test_vertical_server_with_several_clients() -> None:
    """Several supervisory clients at once; board tracking only to those that announced it;
    work-order messages from a client reach the machine; capabilities answered automatically."""
    machine = m.SupervisoryServiceDescription(
        "M1",
        "1.6",
        m.SupervisoryFeatures(
            feature_send_work_order_info=m.FeatureSendWorkOrderInfo(),
            feature_query_hermes_capabilities=m.FeatureQueryHermesCapabilities(),
        ),
    )
    capabilities = m.SendHermesCapabilities(optional_messages=m.OptionalMessages(message_board_arrived=True))
    async with VerticalServer(machine, host="127.0.0.1", port=0, capabilities=capabilities) as server:
        wants = m.SupervisoryServiceDescription("MES-A", "1.6", TRACKING)
        silent = m.SupervisoryServiceDescription("MES-B", "1.6")
        async with (
            VerticalClient("127.0.0.1", server.port, wants, timeout=WAIT) as a,
            VerticalClient("127.0.0.1", server.port, silent, timeout=WAIT) as b,
        ):
            assert a.machine == machine and b.machine == machine
            await asyncio.wait_for(server.wait_for_clients(2), WAIT)
            arrived = m.BoardArrived(
                "M1",
                1,
                m.BoardArrivedTransfer.TRANSFERRED,
                BOARD,
                "M0",
                m.BoardQuality.GOOD,
                m.FlippedBoard.TOP_SIDE_IS_UP,
            )
            assert await server.publish(arrived) == 1
            assert await asyncio.wait_for(a.receive(), WAIT) == arrived
            await b.send(m.SendWorkOrderInfo(work_order_id="WO1"))
            session, message = await asyncio.wait_for(server.receive(), WAIT)
            assert message == m.SendWorkOrderInfo(work_order_id="WO1")
            assert session.description == silent
            await b.send(m.QueryHermesCapabilities())
            assert await asyncio.wait_for(b.receive(), WAIT) == capabilities


async def test_vertical_clean_stop_sends_machine_shutdown() -> None:
    """Closing the machine's server sends Notification 5 to every client, then closes."""
    machine = m.SupervisoryServiceDescription("M1", "1.6")
    async with VerticalServer(machine, host="127.0.0.1", port=0) as server:
        client = await VerticalClient(
            "127.0.0.1", server.port, m.SupervisoryServiceDescription("MES", "1.6")
        ).__aenter__()
        await asyncio.wait_for(server.wait_for_clients(1), WAIT)
    try:
        notification = await asyncio.wait_for(client.receive(), WAIT)
        assert isinstance(notification, m.Notification)
        assert notification.notification_code == m.NotificationCode.MACHINE_SHUTDOWN
        with pytest.raises(HermesConnectionClosed):
            await asyncio.wait_for(client.receive(), WAIT)
    finally:
        await client.__aexit__(None, None, None)


async def test_vertical_quiet_session_gets_a_check_alive() -> None:
    """The machine's vertical sessions run the CheckAlive timer too."""
    machine = m.SupervisoryServiceDescription("M1", "1.6")
    async with (
        VerticalServer(machine, host="127.0.0.1", port=0, check_alive_period=0.05) as server,
        VerticalClient("127.0.0.1", server.port, m.SupervisoryServiceDescription("MES", "1.6")) as client,
    ):
        assert await asyncio.wait_for(client.receive(), WAIT) == m.CheckAlive()
