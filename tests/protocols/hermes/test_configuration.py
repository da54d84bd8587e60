"""The sans-IO configuration-service connection (reference §1, §2.2)."""

from __future__ import annotations

import pytest

from protocols.errors import LocalProtocolError, RemoteProtocolError
from protocols.hermes import messages as m
from protocols.hermes.codec import decode, encode
from protocols.hermes.configuration import (
    CONFIGURATION_PORT,
    ConfigurationConnection,
    ConfigurationRole,
    ConfigurationState,
)
from protocols.hermes.connection import NEED_DATA, Event

SVC, CLI = ConfigurationRole.SERVICE, ConfigurationRole.CLIENT
CURRENT = m.CurrentConfiguration(
    machine_id="M1",
    upstream_configurations=(m.UpstreamConfiguration(1, "10.0.0.1", 50101),),
    downstream_configurations=(m.DownstreamConfiguration(1, 50101),),
)


class Pair:
    def __init__(self) -> None:
        self.conn = {SVC: ConfigurationConnection(SVC), CLI: ConfigurationConnection(CLI)}

    def send(self, who: ConfigurationRole, message: m.Message) -> Event:
        other = self.conn[who.peer]
        other.receive_data(self.conn[who].send(message))
        event = other.next_event()
        assert other.next_event() is NEED_DATA
        return event


def test_port_is_1248() -> None:
    """§1: lib's cCONFIG_PORT."""
    assert CONFIGURATION_PORT == 1248


def test_get_is_answered_with_current_configuration() -> None:
    """GetConfiguration → CurrentConfiguration, then the session is idle again."""
    pair = Pair()
    assert pair.send(CLI, m.GetConfiguration()) == m.GetConfiguration()
    assert pair.conn[SVC].state is ConfigurationState.GET_PENDING
    assert pair.send(SVC, CURRENT) == CURRENT
    assert pair.conn[CLI].state is pair.conn[SVC].state is ConfigurationState.IDLE


def test_failed_set_is_answered_with_notification_code_4() -> None:
    """§1: a SetConfiguration that fails is answered with Notification 4 (ConfigurationError)."""
    pair = Pair()
    pair.send(CLI, m.SetConfiguration(machine_id="M1"))
    notification = decode(pair.conn[SVC].reject("port in use"))
    assert isinstance(notification, m.Notification)
    assert notification.notification_code == m.NotificationCode.CONFIGURATION_ERROR
    assert notification.description == "port in use"
    with pytest.raises(LocalProtocolError):
        pair.conn[CLI].reject("no")


def test_lib_client_sequence_set_then_get() -> None:
    """lib's client sends SetConfiguration and then GetConfiguration; the answer is the new state."""
    pair = Pair()
    pair.send(CLI, m.SetConfiguration(machine_id="M2"))
    pair.send(CLI, m.GetConfiguration())
    assert pair.send(SVC, m.CurrentConfiguration(machine_id="M2")) == m.CurrentConfiguration(machine_id="M2")


@pytest.mark.parametrize(
    ("who", "message"),
    [
        (SVC, m.GetConfiguration()),
        (SVC, m.SetConfiguration(machine_id="M1")),
        (CLI, CURRENT),
        (SVC, CURRENT),  # nothing was asked
        (CLI, m.BoardAvailable("b", "M", m.BoardQuality.ANY, m.FlippedBoard.SIDE_UP_IS_UNKNOWN)),
    ],
    ids=lambda v: getattr(v, "value", type(v).__name__),
)
def test_wrong_messages_are_protocol_errors(who: ConfigurationRole, message: m.Message) -> None:
    """Anything outside the service's exchange: RemoteProtocolError with hint 1/Fatal, then ERROR."""
    victim = ConfigurationConnection(who.peer)
    with pytest.raises(RemoteProtocolError) as info:
        victim.receive_data(encode(message))
        victim.next_event()
    assert isinstance(info.value.hint, m.Notification)
    assert info.value.hint.notification_code == m.NotificationCode.PROTOCOL_ERROR
    assert victim.state is ConfigurationState.ERROR
    with pytest.raises(LocalProtocolError):
        ConfigurationConnection(who).send(message)


def test_keep_alive_timer_is_off_by_default() -> None:
    """A configuration session lasts one request: no CheckAlive timer unless asked."""
    assert ConfigurationConnection(CLI).next_deadline() is None
