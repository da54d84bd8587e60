"""The vertical (supervisory) Hermes channel, sans-IO (reference §2.3).

The **machine is the TCP server**, the supervisory system (MES) the client; a machine may
serve several supervisory clients at once, with one :class:`VerticalConnection` each.

States: SocketConnected → (client's SupervisoryServiceDescription) →
SupervisoryServiceDescription → (machine's answer) → Connected → Disconnected. The table
below is the whole channel; the verbs, errors, Pong and CheckAlive timer are those of
:class:`~protocols.hermes.connection.FramedConnection`.
"""

from __future__ import annotations

import enum

from protocols.hermes.connection import DEFAULT_CHECK_ALIVE_PERIOD, FramedConnection
from protocols.hermes.messages import (
    BoardArrived,
    BoardDeparted,
    CheckAlive,
    CurrentConfiguration,
    GetConfiguration,
    Message,
    Notification,
    QueryHermesCapabilities,
    QueryWorkOrderInfo,
    ReplyWorkOrderInfo,
    SendHermesCapabilities,
    SendWorkOrderInfo,
    SetConfiguration,
    SupervisoryFeatures,
    SupervisoryServiceDescription,
)
from protocols.hermes.table import Move, Moves, compile_moves, everywhere

_NO_FEATURES = SupervisoryFeatures()


class VerticalRole(enum.Enum):
    """Which side of the vertical channel (reference §2.3)."""

    #: The machine: TCP server, answers the handshake, reports boards.
    MACHINE = "M"
    #: The supervisory system (MES): TCP client, opens the handshake.
    SUPERVISORY = "S"

    @property
    def peer(self) -> VerticalRole:
        """The role at the other end."""
        return VerticalRole.SUPERVISORY if self is VerticalRole.MACHINE else VerticalRole.MACHINE


class VerticalState(enum.Enum):
    """Vertical channel states (reference §2.3), plus linegate's ERROR."""

    SOCKET_CONNECTED = "SocketConnected"
    SUPERVISORY_SERVICE_DESCRIPTION = "SupervisoryServiceDescription"
    CONNECTED = "Connected"
    DISCONNECTED = "Disconnected"
    ERROR = "Error"


M = VerticalRole.MACHINE
SV = VerticalRole.SUPERVISORY

# (who sends, from, message) -> to: the handshake (reference §2.3: the client sends first).
VERTICAL_TRANSITIONS: dict[tuple[VerticalRole, VerticalState, type], VerticalState] = {
    (
        SV,
        VerticalState.SOCKET_CONNECTED,
        SupervisoryServiceDescription,
    ): VerticalState.SUPERVISORY_SERVICE_DESCRIPTION,
    (
        M,
        VerticalState.SUPERVISORY_SERVICE_DESCRIPTION,
        SupervisoryServiceDescription,
    ): VerticalState.CONNECTED,
}

# Valid once Connected, no state change, with who may send them (reference §2.3).
VERTICAL_CONNECTED_MESSAGES: dict[type, frozenset[VerticalRole]] = {
    BoardArrived: frozenset({M}),
    BoardDeparted: frozenset({M}),
    QueryWorkOrderInfo: frozenset({M}),
    SendWorkOrderInfo: frozenset({SV}),
    ReplyWorkOrderInfo: frozenset({M}),
    QueryHermesCapabilities: frozenset({SV}),
    SendHermesCapabilities: frozenset({M}),
    GetConfiguration: frozenset({SV}),
    SetConfiguration: frozenset({SV}),
    CurrentConfiguration: frozenset({M}),
}

# Valid in every open state, both directions (reference §2.3: Notification, CheckAlive).
VERTICAL_STATELESS: frozenset[type] = frozenset({Notification, CheckAlive})

# Messages that start an exchange, and the feature the *peer* must have announced in its
# SupervisoryServiceDescription before we may send them (reference §2.3, §2.5).
VERTICAL_OPTIONAL_FEATURES: dict[type, str] = {
    BoardArrived: "feature_board_tracking",
    BoardDeparted: "feature_board_tracking",
    QueryWorkOrderInfo: "feature_query_work_order_info",
    SendWorkOrderInfo: "feature_send_work_order_info",
    ReplyWorkOrderInfo: "feature_reply_work_order_info",
    QueryHermesCapabilities: "feature_query_hermes_capabilities",
    GetConfiguration: "feature_configuration",
    SetConfiguration: "feature_configuration",
}

_OPEN = (
    VerticalState.SOCKET_CONNECTED,
    VerticalState.SUPERVISORY_SERVICE_DESCRIPTION,
    VerticalState.CONNECTED,
)

VERTICAL_MOVES: Moves[VerticalRole, VerticalState] = compile_moves(
    VerticalRole,
    VerticalState,
    transitions=VERTICAL_TRANSITIONS,
    stateless=[
        *everywhere(dict.fromkeys(VERTICAL_STATELESS, (M, SV)), _OPEN),
        *everywhere(VERTICAL_CONNECTED_MESSAGES, [VerticalState.CONNECTED]),
    ],
)


def vertical_moves(role: VerticalRole, state: VerticalState) -> dict[type, VerticalState]:
    """All messages ``role`` may send in ``state``, with the state each leads to."""
    return {kind: move.target for kind, move in VERTICAL_MOVES[role, state].items()}


def _illegal_text(role: VerticalRole, state: VerticalState, kind: type) -> str:
    who = "machine" if role is VerticalRole.MACHINE else "supervisory system"
    return f"{kind.__name__} from the {who} is not allowed in vertical state {state.value} (§2.3)"


class VerticalConnection(FramedConnection[VerticalRole, VerticalState]):
    """One vertical session, machine or supervisory side, without I/O.

    Args:
        role: ``VerticalRole.MACHINE`` (the TCP server) or ``VerticalRole.SUPERVISORY``.
        check_alive_period: see :class:`~protocols.hermes.connection.FramedConnection`.
        now: see :class:`~protocols.hermes.connection.FramedConnection`.
    """

    MOVES = VERTICAL_MOVES
    ERROR_STATE = VerticalState.ERROR
    CLOSED_STATE = VerticalState.DISCONNECTED
    OPTIONAL_FEATURES = VERTICAL_OPTIONAL_FEATURES
    PING_NEEDS_FEATURE = True

    def __init__(
        self,
        role: VerticalRole,
        *,
        check_alive_period: float | None = DEFAULT_CHECK_ALIVE_PERIOD,
        now: float = 0.0,
    ) -> None:
        super().__init__(role, VerticalState.SOCKET_CONNECTED, check_alive_period=check_alive_period, now=now)
        #: The peer's SupervisoryServiceDescription, once received.
        self.peer_description: SupervisoryServiceDescription | None = None

    def _illegal(self, role: VerticalRole, state: VerticalState, kind: type) -> str:
        return _illegal_text(role, state, kind)

    @property
    def peer_features(self) -> SupervisoryFeatures:
        """The features the peer announced (none before its description)."""
        if self.peer_description is None:
            return _NO_FEATURES
        return self.peer_description.supported_features

    def _on_received(self, message: Message, move: Move[VerticalState]) -> None:
        if type(message) is SupervisoryServiceDescription:
            self.peer_description = message


__all__ = [
    "VERTICAL_CONNECTED_MESSAGES",
    "VERTICAL_MOVES",
    "VERTICAL_OPTIONAL_FEATURES",
    "VERTICAL_STATELESS",
    "VERTICAL_TRANSITIONS",
    "VerticalConnection",
    "VerticalRole",
    "VerticalState",
]
