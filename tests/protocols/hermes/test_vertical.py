"""The sans-IO vertical connection (reference §2.3): handshake, who sends what, features, errors."""

from __future__ import annotations

import pytest

from protocols.errors import LocalProtocolError, RemoteProtocolError
from protocols.hermes import messages as m
from protocols.hermes.codec import decode, encode
from protocols.hermes.connection import NEED_DATA, Event
from protocols.hermes.vertical import (
    VERTICAL_CONNECTED_MESSAGES,
    VERTICAL_MOVES,
    VerticalConnection,
    VerticalRole,
    VerticalState,
)

M, SV = VerticalRole.MACHINE, VerticalRole.SUPERVISORY
BOARD = "0f8fad5b-d9cb-469f-a165-70867728950e"
ALL = m.SupervisoryFeatures(
    m.FeatureConfiguration(),
    m.FeatureCheckAliveResponse(),
    m.FeatureBoardTracking(),
    m.FeatureQueryWorkOrderInfo(),
    m.FeatureSendWorkOrderInfo(),
    m.FeatureReplyWorkOrderInfo(),
    m.FeatureQueryHermesCapabilities(),
    m.FeatureSendHermesCapabilities(),
)

SAMPLES: dict[type, m.Message] = {
    m.SupervisoryServiceDescription: m.SupervisoryServiceDescription("MES", "1.6", ALL),
    m.BoardArrived: m.BoardArrived(
        "M1",
        1,
        m.BoardArrivedTransfer.TRANSFERRED,
        BOARD,
        "M0",
        m.BoardQuality.GOOD,
        m.FlippedBoard.TOP_SIDE_IS_UP,
    ),
    m.BoardDeparted: m.BoardDeparted(
        "M1",
        1,
        m.BoardDepartedTransfer.TRANSFERRED,
        BOARD,
        "M0",
        m.BoardQuality.GOOD,
        m.FlippedBoard.TOP_SIDE_IS_UP,
    ),
    m.QueryWorkOrderInfo: m.QueryWorkOrderInfo(machine_id="M1", barcode="B1"),
    m.SendWorkOrderInfo: m.SendWorkOrderInfo(work_order_id="WO1"),
    m.ReplyWorkOrderInfo: m.ReplyWorkOrderInfo("WO1", m.ReplyWorkOrderInfoStatus.ACCEPTED_AND_READY),
    m.QueryHermesCapabilities: m.QueryHermesCapabilities(),
    m.SendHermesCapabilities: m.SendHermesCapabilities(),
    m.GetConfiguration: m.GetConfiguration(),
    m.SetConfiguration: m.SetConfiguration(machine_id="M1"),
    m.CurrentConfiguration: m.CurrentConfiguration(machine_id="M1"),
    m.Notification: m.Notification(m.NotificationCode.UNSPECIFIC, m.SeverityType.INFO, "hi"),
    m.CheckAlive: m.CheckAlive(),
}


class Pair:
    def __init__(self) -> None:
        self.conn = {M: VerticalConnection(M), SV: VerticalConnection(SV)}

    def send(self, who: VerticalRole, message: m.Message) -> Event:
        other = self.conn[who.peer]
        other.receive_data(self.conn[who].send(message))
        event = other.next_event()
        assert other.next_event() is NEED_DATA
        return event

    def connect(self) -> None:
        self.send(SV, SAMPLES[m.SupervisoryServiceDescription])
        self.send(M, m.SupervisoryServiceDescription("M1", "1.6", ALL))


def test_handshake_client_first_then_machine() -> None:
    """§2.3: SocketConnected → SupervisoryServiceDescription → Connected, the client speaking first."""
    pair = Pair()
    assert pair.conn[M].state is VerticalState.SOCKET_CONNECTED
    pair.send(SV, SAMPLES[m.SupervisoryServiceDescription])
    assert pair.conn[M].state is pair.conn[SV].state is VerticalState.SUPERVISORY_SERVICE_DESCRIPTION
    pair.send(M, m.SupervisoryServiceDescription("M1", "1.6", ALL))
    assert pair.conn[M].state is pair.conn[SV].state is VerticalState.CONNECTED
    assert pair.conn[M].peer_description == SAMPLES[m.SupervisoryServiceDescription]


def test_the_machine_may_not_open_the_handshake() -> None:
    """A machine's description before the client's is illegal, on both ends."""
    pair = Pair()
    with pytest.raises(LocalProtocolError):
        pair.conn[M].send(SAMPLES[m.SupervisoryServiceDescription])
    with pytest.raises(RemoteProtocolError):
        pair.conn[SV].receive_data(encode(SAMPLES[m.SupervisoryServiceDescription]))
        pair.conn[SV].next_event()


@pytest.mark.parametrize(("kind", "senders"), list(VERTICAL_CONNECTED_MESSAGES.items()), ids=lambda v: str(v))
def test_connected_messages_go_only_the_right_way(kind: type, senders: frozenset[VerticalRole]) -> None:
    """Each message of §2.3 flows in its direction once Connected; the other way is an error."""
    for who in VerticalRole:
        pair = Pair()
        pair.connect()
        if who in senders:
            assert pair.send(who, SAMPLES[kind]) == SAMPLES[kind]
            assert pair.conn[who].state is VerticalState.CONNECTED
        else:
            victim = pair.conn[who.peer]
            with pytest.raises(RemoteProtocolError) as info:
                victim.receive_data(encode(SAMPLES[kind]))
                victim.next_event()
            assert isinstance(info.value.hint, m.Notification)
            assert info.value.hint.notification_code == m.NotificationCode.PROTOCOL_ERROR
            assert victim.state is VerticalState.ERROR
            with pytest.raises(LocalProtocolError):
                pair.conn[who].send(SAMPLES[kind])


@pytest.mark.parametrize("kind", list(VERTICAL_CONNECTED_MESSAGES), ids=lambda v: v.__name__)
def test_nothing_but_the_handshake_before_connected(kind: type) -> None:
    """Board tracking and work-order messages before the handshake are protocol errors."""
    for who in VerticalRole:
        assert kind not in VERTICAL_MOVES[who, VerticalState.SOCKET_CONNECTED]
    connection = VerticalConnection(M)
    with pytest.raises(RemoteProtocolError):
        connection.receive_data(encode(SAMPLES[kind]))
        connection.next_event()


def test_board_tracking_needs_the_clients_feature() -> None:
    """§2.5: BoardArrived only to a client that announced FeatureBoardTracking."""
    pair = Pair()
    pair.send(SV, m.SupervisoryServiceDescription("MES", "1.6"))
    pair.send(M, m.SupervisoryServiceDescription("M1", "1.6", ALL))
    assert not pair.conn[M].peer_supports(m.BoardArrived)
    with pytest.raises(LocalProtocolError, match="feature"):
        pair.conn[M].send(SAMPLES[m.BoardArrived])


def test_ping_answered_plain_check_alive_not() -> None:
    """CheckAlive on the vertical channel: Ping → Pong with the same Id; plain → nothing."""
    pair = Pair()
    pair.connect()
    pair.send(SV, m.CheckAlive(type=m.CheckAliveType.PING, id="v1"))
    assert decode(pair.conn[M].data_to_send()) == m.CheckAlive(type=m.CheckAliveType.PONG, id="v1")
    pair.send(SV, m.CheckAlive())
    assert pair.conn[M].data_to_send() == b""


def test_horizontal_messages_are_errors_on_the_vertical_channel() -> None:
    """A lane message on the supervisory channel is a protocol error."""
    pair = Pair()
    pair.connect()
    with pytest.raises(RemoteProtocolError, match="StartTransport"):
        pair.conn[M].receive_data(encode(m.StartTransport(board_id=BOARD)))
        pair.conn[M].next_event()
