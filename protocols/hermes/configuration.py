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
from datetime import datetime

from protocols.errors import LocalProtocolError
from protocols.hermes.connection import FramedConnection
from protocols.hermes.messages import (
    CheckAlive,
    CurrentConfiguration,
    GetConfiguration,
    Notification,
    NotificationCode,
    SetConfiguration,
    SeverityType,
)
from protocols.hermes.table import Moves, compile_moves, everywhere

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

CONFIGURATION_MOVES: Moves[ConfigurationRole, ConfigurationState] = compile_moves(
    ConfigurationRole,
    ConfigurationState,
    transitions=CONFIGURATION_TRANSITIONS,
    # Notification and CheckAlive: both ways, in every open state.
    stateless=everywhere({Notification: (SVC, CLI), CheckAlive: (SVC, CLI)}, (_IDLE, _PENDING)),
)


def _illegal_text(role: ConfigurationRole, state: ConfigurationState, kind: type) -> str:
    return (
        f"{kind.__name__} from the {role.value} is not allowed in "
        f"configuration state {state.value} (IPC-HERMES-9852 §2.2)"
    )


def configuration_error_notification(description: str) -> Notification:
    """The reply to a SetConfiguration that failed: code 4 ConfigurationError (reference §1)."""
    return Notification(NotificationCode.CONFIGURATION_ERROR, SeverityType.ERROR, description)


class ConfigurationConnection(FramedConnection[ConfigurationRole, ConfigurationState]):
    """One configuration-service session, service or client side, without I/O.

    The keep-alive timer is off by default: a configuration session lasts one request.

    Args:
        role: ``ConfigurationRole.SERVICE`` (the machine) or ``ConfigurationRole.CLIENT``.
        check_alive_period: see :class:`~protocols.hermes.connection.FramedConnection`.
        now: see :class:`~protocols.hermes.connection.FramedConnection`.
    """

    MOVES = CONFIGURATION_MOVES
    ERROR_STATE = ConfigurationState.ERROR
    CLOSED_STATE = ConfigurationState.DISCONNECTED

    def __init__(
        self, role: ConfigurationRole, *, check_alive_period: float | None = None, now: float = 0.0
    ) -> None:
        super().__init__(role, _IDLE, check_alive_period=check_alive_period, now=now)

    def _illegal(self, role: ConfigurationRole, state: ConfigurationState, kind: type) -> str:
        return _illegal_text(role, state, kind)

    def reject(self, description: str, *, timestamp: datetime | None = None) -> bytes:
        """Service side: the Notification code 4 bytes that answer a failed SetConfiguration.

        ``timestamp`` is the envelope's, from the caller's wall clock (see ``send``).

        Raises:
            LocalProtocolError: called on the client side.
        """
        if self.role is not ConfigurationRole.SERVICE:
            raise LocalProtocolError("only the configuration service rejects a configuration")
        return self.send(configuration_error_notification(description), timestamp=timestamp)


__all__ = [
    "CONFIGURATION_MOVES",
    "CONFIGURATION_PORT",
    "CONFIGURATION_TRANSITIONS",
    "ConfigurationConnection",
    "ConfigurationRole",
    "ConfigurationState",
    "configuration_error_notification",
]
