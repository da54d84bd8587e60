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

from protocols.errors import LocalProtocolError
from protocols.hermes.connection import DEFAULT_CHECK_ALIVE_PERIOD, FramedConnection
from protocols.hermes.messages import (
    BoardArrived,
    BoardDeparted,
    CheckAlive,
    CheckAliveType,
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


def vertical_moves(role: VerticalRole, state: VerticalState) -> dict[type, VerticalState]:
    """All messages ``role`` may send in ``state``, with the state each leads to."""
    moves: dict[type, VerticalState] = {}
    if state in _OPEN:
        moves.update(dict.fromkeys(VERTICAL_STATELESS, state))
    if state is VerticalState.CONNECTED:
        moves.update({kind: state for kind, who in VERTICAL_CONNECTED_MESSAGES.items() if role in who})
    for (who, where, kind), target in VERTICAL_TRANSITIONS.items():
        if who is role and where is state:
            moves[kind] = target
    return moves


VERTICAL_MOVES: dict[tuple[VerticalRole, VerticalState], dict[type, VerticalState]] = {
    (role, state): vertical_moves(role, state) for role in VerticalRole for state in VerticalState
}


def _illegal(role: VerticalRole, state: VerticalState, kind: type) -> str:
    who = "machine" if role is VerticalRole.MACHINE else "supervisory system"
    return f"{kind.__name__} from the {who} is not allowed in vertical state {state.value} (§2.3)"


class VerticalConnection(FramedConnection):
    """One vertical session, machine or supervisory side, without I/O.

    Args:
        role: ``VerticalRole.MACHINE`` (the TCP server) or ``VerticalRole.SUPERVISORY``.
        check_alive_period: see :class:`~protocols.hermes.connection.FramedConnection`.
        now: see :class:`~protocols.hermes.connection.FramedConnection`.
    """

    def __init__(
        self,
        role: VerticalRole,
        *,
        check_alive_period: float | None = DEFAULT_CHECK_ALIVE_PERIOD,
        now: float = 0.0,
    ) -> None:
        super().__init__(check_alive_period=check_alive_period, now=now)
        self.role = role
        self.peer_role = role.peer
        #: The peer's SupervisoryServiceDescription, once received.
        self.peer_description: SupervisoryServiceDescription | None = None
        self._state = VerticalState.SOCKET_CONNECTED
        self._ours: dict[type, VerticalState] = {}
        self._theirs: dict[type, VerticalState] = {}
        self._enter(VerticalState.SOCKET_CONNECTED)

    @property
    def state(self) -> VerticalState:
        """The channel state."""
        return self._state

    @property
    def peer_features(self) -> SupervisoryFeatures:
        """The features the peer announced (none before its description)."""
        if self.peer_description is None:
            return SupervisoryFeatures()
        return self.peer_description.supported_features

    def peer_supports(self, message_type: type) -> bool:
        """Whether the peer announced the feature a message needs (True if none is needed)."""
        feature = VERTICAL_OPTIONAL_FEATURES.get(message_type)
        return feature is None or getattr(self.peer_features, feature) is not None

    def _enter(self, state: VerticalState) -> None:
        self._state = state
        self._ours = VERTICAL_MOVES[self.role, state]
        self._theirs = VERTICAL_MOVES[self.peer_role, state]

    def _enter_error(self) -> None:
        self._enter(VerticalState.ERROR)

    def _closed(self) -> None:
        self._enter(VerticalState.DISCONNECTED)

    def _is_closed(self) -> bool:
        return self._state is VerticalState.DISCONNECTED

    def _check_received(self, message: Message) -> None:
        target = self._theirs.get(type(message))
        if target is None:
            self._fail_remote(text=_illegal(self.peer_role, self._state, type(message)))
        if isinstance(message, SupervisoryServiceDescription):
            self.peer_description = message
        if target is not self._state:
            self._enter(target)

    def _check_sending(self, message: Message) -> None:
        if self._state is VerticalState.DISCONNECTED:
            raise LocalProtocolError(f"cannot send {type(message).__name__}: the connection is closed")
        target = self._ours.get(type(message))
        if target is None:
            self._fail_local(_illegal(self.role, self._state, type(message)))
        ping = isinstance(message, CheckAlive) and message.type == CheckAliveType.PING
        if not self.peer_supports(type(message)) or (
            ping and self.peer_features.feature_check_alive_response is None
        ):
            self._fail_local(f"the peer did not announce the feature {type(message).__name__} needs")
        if target is not self._state:
            self._enter(target)


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
