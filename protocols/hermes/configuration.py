"""The Hermes configuration service, sans-IO (reference §1, §2.2).

The machine listens on TCP 1248 (lib's ``cCONFIG_PORT``). A configuration client connects and
sends GetConfiguration (answered with CurrentConfiguration) or SetConfiguration (answered with
nothing on success, Notification code 4 ConfigurationError on failure). lib's client follows
every SetConfiguration with a GetConfiguration to read the result back; the transport client
here does the same. There is no handshake.

States: Idle → (client's GetConfiguration) → GetPending → (CurrentConfiguration, or a
Notification) → Idle. SetConfiguration leaves the state Idle. Notification and CheckAlive are
valid both ways in every open state.
"""

from __future__ import annotations

import enum

from protocols.errors import LocalProtocolError
from protocols.hermes.connection import FramedConnection
from protocols.hermes.messages import (
    CheckAlive,
    CurrentConfiguration,
    GetConfiguration,
    Message,
    Notification,
    NotificationCode,
    SetConfiguration,
    SeverityType,
)

#: The configuration service's TCP port (reference §1, lib ``cCONFIG_PORT``, spec §2.4.1).
CONFIGURATION_PORT = 1248


class ConfigurationRole(enum.Enum):
    """Which side of a configuration-service connection."""

    #: The machine: TCP server on port 1248, answers.
    SERVICE = "service"
    #: The configuration client: asks and sets.
    CLIENT = "client"

    @property
    def peer(self) -> ConfigurationRole:
        """The role at the other end."""
        return ConfigurationRole.CLIENT if self is ConfigurationRole.SERVICE else ConfigurationRole.SERVICE


class ConfigurationState(enum.Enum):
    """Configuration-service connection states (linegate's; the standard names none)."""

    IDLE = "Idle"
    GET_PENDING = "GetPending"
    DISCONNECTED = "Disconnected"
    ERROR = "Error"


SVC = ConfigurationRole.SERVICE
CLI = ConfigurationRole.CLIENT
_IDLE = ConfigurationState.IDLE
_PENDING = ConfigurationState.GET_PENDING

# (who sends, from, message) -> to.
CONFIGURATION_TRANSITIONS: dict[tuple[ConfigurationRole, ConfigurationState, type], ConfigurationState] = {
    (CLI, _IDLE, GetConfiguration): _PENDING,
    (CLI, _IDLE, SetConfiguration): _IDLE,
    (SVC, _PENDING, CurrentConfiguration): _IDLE,
    # A Notification answers a pending GetConfiguration too (e.g. code 4 after a failed set).
    (SVC, _PENDING, Notification): _IDLE,
}

CONFIGURATION_MOVES: dict[tuple[ConfigurationRole, ConfigurationState], dict[type, ConfigurationState]] = {}
for _role in ConfigurationRole:
    for _state in ConfigurationState:
        _moves: dict[type, ConfigurationState] = {}
        if _state in (_IDLE, _PENDING):
            _moves = {Notification: _state, CheckAlive: _state}
        _moves.update(
            {
                kind: target
                for (who, where, kind), target in CONFIGURATION_TRANSITIONS.items()
                if who is _role and where is _state
            }
        )
        CONFIGURATION_MOVES[_role, _state] = _moves


def configuration_error_notification(description: str) -> Notification:
    """The reply to a SetConfiguration that failed: code 4 ConfigurationError (reference §1)."""
    return Notification(NotificationCode.CONFIGURATION_ERROR, SeverityType.ERROR, description)


class ConfigurationConnection(FramedConnection):
    """One configuration-service session, service or client side, without I/O.

    The keep-alive timer is off by default: a configuration session lasts one request.

    Args:
        role: ``ConfigurationRole.SERVICE`` (the machine) or ``ConfigurationRole.CLIENT``.
        check_alive_period: see :class:`~protocols.hermes.connection.FramedConnection`.
        now: see :class:`~protocols.hermes.connection.FramedConnection`.
    """

    def __init__(
        self, role: ConfigurationRole, *, check_alive_period: float | None = None, now: float = 0.0
    ) -> None:
        super().__init__(check_alive_period=check_alive_period, now=now)
        self.role = role
        self.peer_role = role.peer
        self._state = _IDLE

    @property
    def state(self) -> ConfigurationState:
        """The session state."""
        return self._state

    def reject(self, description: str) -> bytes:
        """Service side: the Notification code 4 bytes that answer a failed SetConfiguration.

        Raises:
            LocalProtocolError: called on the client side.
        """
        if self.role is not ConfigurationRole.SERVICE:
            raise LocalProtocolError("only the configuration service rejects a configuration")
        return self.send(configuration_error_notification(description))

    def _enter_error(self) -> None:
        self._state = ConfigurationState.ERROR

    def _closed(self) -> None:
        self._state = ConfigurationState.DISCONNECTED

    def _is_closed(self) -> bool:
        return self._state is ConfigurationState.DISCONNECTED

    def _check_received(self, message: Message) -> None:
        target = CONFIGURATION_MOVES[self.peer_role, self._state].get(type(message))
        if target is None:
            self._fail_remote(
                text=f"{type(message).__name__} from the {self.peer_role.value} is not allowed in "
                f"configuration state {self._state.value} (IPC-HERMES-9852 §2.2)"
            )
        self._state = target

    def _check_sending(self, message: Message) -> None:
        if self._state is ConfigurationState.DISCONNECTED:
            raise LocalProtocolError(f"cannot send {type(message).__name__}: the connection is closed")
        target = CONFIGURATION_MOVES[self.role, self._state].get(type(message))
        if target is None:
            self._fail_local(
                f"{type(message).__name__} from the {self.role.value} is not allowed in "
                f"configuration state {self._state.value} (IPC-HERMES-9852 §2.2)"
            )
        self._state = target


__all__ = [
    "CONFIGURATION_MOVES",
    "CONFIGURATION_PORT",
    "CONFIGURATION_TRANSITIONS",
    "ConfigurationConnection",
    "ConfigurationRole",
    "ConfigurationState",
    "configuration_error_notification",
]
