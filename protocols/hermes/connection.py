"""Sans-IO Hermes connections, h11 style: bytes in, messages out; messages in, bytes out.

:class:`HorizontalConnection` is one side of one lane (reference §3). It has h11's four verbs:

* ``receive_data(data)`` feeds bytes read from the socket (``b""`` means the peer closed);
* ``next_event()`` returns the next message, :data:`NEED_DATA` or :data:`CLOSED`;
* ``send(message)`` checks the message against the state table and returns the bytes to write;
* ``send_failed()`` says the write failed; the connection is then in ERROR.

Protocol errors are raised as :class:`~protocols.errors.RemoteProtocolError` (the peer broke a
rule) or :class:`~protocols.errors.LocalProtocolError` (we tried to), with ``hint`` set to the
Notification the standard says to send before closing (reference §3: code 1 ProtocolError,
severity 1 Fatal, for a peer's error; lib's code 0 Unspecific / Fatal "SoftwareError" for our
own). After an error the connection is in ERROR and every later call raises at once.

**CheckAlive.** A Ping (``Type="1"``) from the peer is delivered as an event *and* answered
automatically (lib's eAUTO mode): the Pong, with the same Id, is queued and the glue collects it
with ``data_to_send()`` after each ``next_event()``. A plain CheckAlive (no Type, or Unknown) is
delivered and not answered ([acc]). The keep-alive timer (lib: 60 s, restarted by every send)
uses no clock: pass ``now`` to ``send``; ``next_deadline()`` says when to call
``check_alive(now)``, which returns the plain ``<CheckAlive/>`` bytes when one is due.

**One connection per lane.** The sender (TCP server) keeps one session per lane (reference §1).
:func:`admit_connection` decides what happens to a new connection while one exists: it is
refused with Notification code 2 (:func:`refusal_notification`), unless the existing one never
completed its handshake within its deadline (``handshake_timeout``), which it then replaces, so
a silent or half-open dead peer cannot hold the lane forever.

**What is delivered.** Every legal message, including the "accepted and ignored" ones (the
state does not change) and :class:`~protocols.hermes.messages.UnknownMessage` for an unknown
tag (never a protocol error, reference §2), so the glue can log them. After each message,
``outcome`` says what it did (a transition, accepted and ignored, or stateless), straight from
the move table, so the glue never re-derives it.

**One base, three channels.** :class:`FramedConnection` does the whole check for the
horizontal, vertical (:mod:`protocols.hermes.vertical`) and configuration
(:mod:`protocols.hermes.configuration`) channels from their move tables
(:func:`protocols.hermes.table.compile_moves`). The clocks are the caller's: it passes ``now``
(the CheckAlive timer) and the envelope ``timestamp`` (the transports always do; without one,
:func:`~protocols.hermes.codec.encode` stamps the local time). Optional messages are
refused on *send* unless the peer announced the feature in its ServiceDescription; on receipt
we are liberal and deliver them (the state rules still apply).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, ClassVar, Generic, NoReturn

from protocols.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from protocols.hermes.codec import HermesDecodeError, decode, encode
from protocols.hermes.framing import Framer
from protocols.hermes.messages import (
    BoardForecast,
    CheckAlive,
    CheckAliveType,
    Command,
    Message,
    Notification,
    NotificationCode,
    QueryBoardInfo,
    SendBoardInfo,
    ServiceDescription,
    SeverityType,
    StartTransport,
    StopTransport,
    SupportedFeatures,
    TransportFinished,
    UnknownMessage,
)
from protocols.hermes.state import MOVES, Role, State, illegal_event_text
from protocols.hermes.table import Move, Moves, Outcome, RoleT, StateT


class Signal(enum.Enum):
    """What ``next_event()`` returns when it has no message."""

    #: Feed more bytes with ``receive_data``.
    NEED_DATA = "NEED_DATA"
    #: The peer closed the connection (after ``receive_data(b"")``) and nothing is left.
    CLOSED = "CLOSED"


NEED_DATA = Signal.NEED_DATA
CLOSED = Signal.CLOSED

#: What ``next_event()`` returns.
Event = Message | UnknownMessage | Signal

#: lib's default CheckAlive period (reference §3, ``checkAlivePeriod``).
DEFAULT_CHECK_ALIVE_PERIOD = 60.0

# Optional horizontal messages and the feature the *peer* must have announced before we may send
# them (reference §2.1, §2.5: "only send an optional message when the peer announced it").
OPTIONAL_FEATURES: dict[type, str] = {
    BoardForecast: "feature_board_forecast",
    QueryBoardInfo: "feature_query_board_info",
    SendBoardInfo: "feature_send_board_info",
    Command: "feature_command",
}


# The messages whose BoardId must match the StartTransport's (§2.1, lib).
_BOARD_ID_CHECKED = frozenset({StopTransport, TransportFinished})

_NO_FEATURES = SupportedFeatures()


def protocol_error_notification(description: str) -> Notification:
    """The Notification for a peer's protocol error: code 1, severity Fatal (reference §3)."""
    return Notification(NotificationCode.PROTOCOL_ERROR, SeverityType.FATAL, description)


def software_error_notification(description: str) -> Notification:
    """The Notification for our own misuse: lib's code 0 / Fatal "SoftwareError" (reference §3)."""
    return Notification(NotificationCode.UNSPECIFIC, SeverityType.FATAL, f"SoftwareError: {description}")


def refusal_notification(description: str = "the lane already has a connection") -> Notification:
    """The Notification for a second connection to a lane: code 2, severity Error (reference §1;
    [acc] recommends severity 2)."""
    return Notification(
        NotificationCode.CONNECTION_REFUSED_BECAUSE_OF_ESTABLISHED_CONNECTION, SeverityType.ERROR, description
    )


def shutdown_notification(description: str = "MachineShutdown") -> Notification:
    """The Notification a clean stop sends before closing: code 5, severity Info (reference §3)."""
    return Notification(NotificationCode.MACHINE_SHUTDOWN, SeverityType.INFO, description)


class FramedConnection(Generic[RoleT, StateT]):
    """What every Hermes channel shares: framing, decoding, the table check, errors, Pong and the
    CheckAlive timer.

    A channel subclass gives its move table (:func:`~protocols.hermes.table.compile_moves`),
    its ERROR and Disconnected states, the text of an illegal event and, where the channel has
    them, the optional messages that need a feature the peer announced. Extra per-channel rules
    go in the ``_on_received`` / ``_on_sending`` hooks.

    Args:
        role: the side this connection plays.
        state: the state a new session starts in.
        check_alive_period: seconds without a send before a plain CheckAlive is due; None or 0
            turns the timer off.
        now: the current time on the caller's clock (it starts the timer).
    """

    #: (role, state) -> message class -> Move: the channel's rules.
    MOVES: ClassVar[Moves[Any, Any]]
    #: The channel's ERROR and Disconnected states.
    ERROR_STATE: ClassVar[Any]
    CLOSED_STATE: ClassVar[Any]
    #: Optional messages and the peer feature (a field of its description's features) each needs.
    OPTIONAL_FEATURES: ClassVar[dict[type, str]] = {}
    #: Whether sending a Ping needs the peer's FeatureCheckAliveResponse (reference §2.5).
    PING_NEEDS_FEATURE: ClassVar[bool] = False

    def __init__(
        self,
        role: RoleT,
        state: StateT,
        *,
        check_alive_period: float | None = DEFAULT_CHECK_ALIVE_PERIOD,
        now: float = 0.0,
    ) -> None:
        self._framer = Framer()
        self._eof = False
        self._error: ProtocolError | None = None
        self._outgoing = bytearray()
        self._period = check_alive_period or None
        self._last_send = now
        self.role = role
        self.peer_role: RoleT = role.peer  # type: ignore[attr-defined]
        #: What the last message returned by ``next_event()`` did (None for an unknown tag).
        self.outcome: Outcome | None = None
        moves = self.MOVES
        # state -> (what we may send, what the peer may send), looked up once per transition;
        # keyed by the state's value, as an Enum member's own hash runs Python code.
        self._dispatch = {
            where._value_: (moves[role, where], moves[self.peer_role, where])
            for who, where in moves
            if who is role
        }
        self._state = state
        self._ours, self._theirs = self._dispatch[state._value_]

    @property
    def state(self) -> StateT:
        """The channel state, or its ERROR / Disconnected."""
        return self._state

    @property
    def buffered(self) -> int:
        """Bytes received that do not yet make a complete message (a message under way)."""
        return self._framer.buffered

    @property
    def peer_features(self) -> Any:
        """The features the peer announced; None on a channel without a handshake."""
        return None

    def peer_supports(self, message_type: type) -> bool:
        """Whether the peer announced the feature an optional message needs (True if none)."""
        feature = self.OPTIONAL_FEATURES.get(message_type)
        return feature is None or getattr(self.peer_features, feature) is not None

    # -- the four verbs ----------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the socket; ``b""`` means the peer closed its side.

        Raises:
            RemoteProtocolError: more than 65,536 bytes without a complete message (§1).
            ProtocolError: the connection is already in ERROR.
        """
        if self._error is not None:
            self._raise_failed()
        if not data:
            self._eof = True
            return
        try:
            self._framer.feed(data)
        except HermesDecodeError as exc:
            self._fail_remote(exc)

    def next_event(self) -> Event:
        """Parse and return the next event.

        After a message, :attr:`outcome` says what it did: :attr:`Outcome.TRANSITION` (a row
        of the transition table), :attr:`Outcome.IGNORED` (accepted, state unchanged) or
        :attr:`Outcome.STATELESS`; it is None for an :class:`UnknownMessage` or a signal.

        Returns:
            the next message (an :class:`UnknownMessage` for an unknown tag), :data:`NEED_DATA`
            when more bytes are needed, or :data:`CLOSED` after EOF.

        Raises:
            RemoteProtocolError: the peer broke the protocol (malformed XML, a missing
                mandatory attribute, an illegal message for the state); ``hint`` is the
                Notification to send before closing, and the connection is in ERROR.
            ProtocolError: the connection is already in ERROR.
        """
        if self._error is not None:
            self._raise_failed()
        self.outcome = None
        try:
            frame = self._framer.next_frame()
            if frame is None:
                if self._eof:
                    self._enter(self.CLOSED_STATE)
                    return CLOSED
                return NEED_DATA
            message = decode(frame)
        except HermesDecodeError as exc:
            self._fail_remote(exc)
        if isinstance(message, UnknownMessage):
            return message  # reference §2: logged and ignored, never an error
        kind = type(message)
        move = self._theirs.get(kind)
        if move is None:
            self._fail_remote(text=self._illegal(self.peer_role, self._state, kind))
        self._on_received(message, move)
        if move.target is not self._state:
            self._enter(move.target)
        self.outcome = move.outcome
        if kind is CheckAlive and message.type == CheckAliveType.PING:  # type: ignore[union-attr]
            # lib eAUTO (reference §3): answer a Ping with a Pong carrying the same Id.
            self._outgoing += encode(CheckAlive(type=CheckAliveType.PONG, id=message.id))  # type: ignore[union-attr]
        return message

    def send(self, message: Message, *, now: float | None = None, timestamp: datetime | None = None) -> bytes:
        """Check ``message`` against the channel's rules and encode it.

        Args:
            message: the message to send (validated when it was built).
            now: the caller's clock; when given, restarts the CheckAlive timer.
            timestamp: the envelope's Timestamp, from the caller's wall clock (the transports
                always pass one); None leaves it to :func:`~protocols.hermes.codec.encode`.

        Returns:
            the bytes to write to the socket.

        Raises:
            LocalProtocolError: the message is not allowed now; ``hint`` is the Notification
                to send before closing, and the connection is in ERROR.
            ProtocolError: the connection is already in ERROR.
        """
        if self._error is not None:
            self._raise_failed()
        kind = type(message)
        if self._state is self.CLOSED_STATE:
            # A race with the peer's close, not a protocol violation: no ERROR, no hint.
            raise LocalProtocolError(f"cannot send {kind.__name__}: the connection is closed")
        move = self._ours.get(kind)
        if move is None:
            self._fail_local(self._illegal(self.role, self._state, kind))
        if (kind in self.OPTIONAL_FEATURES or kind is CheckAlive) and not self._may_send(message):
            # Reference §2.5: optional messages only when the peer announced the feature.
            self._fail_local(f"the peer did not announce the feature {kind.__name__} needs")
        try:
            data = encode(message, timestamp=timestamp)
        except LocalProtocolError as exc:  # too large even without sub-boards: our bug
            self._fail_local(str(exc))
        self._on_sending(message, move)
        if move.target is not self._state:
            self._enter(move.target)
        if now is not None:
            self._last_send = now
        return data

    def send_failed(self) -> None:
        """Tell the connection that writing its bytes failed; it moves to ERROR."""
        if self._error is None:
            self._error = LocalProtocolError("a send failed; the connection is unusable")
        self._enter(self.ERROR_STATE)

    # -- glue helpers ------------------------------------------------------------------------

    @property
    def has_data_to_send(self) -> bool:
        """Whether :meth:`data_to_send` has bytes (a Pong is queued)."""
        return bool(self._outgoing)

    def data_to_send(self) -> bytes:
        """Bytes the connection queued on its own (the automatic Pong); empties the queue."""
        if not self._outgoing:
            return b""
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    def next_deadline(self) -> float | None:
        """When the next plain CheckAlive is due, on the caller's clock (None: timer off)."""
        if self._period is None or self._error is not None or self._state is self.CLOSED_STATE:
            return None
        return self._last_send + self._period

    def check_alive(self, now: float, *, timestamp: datetime | None = None) -> bytes:
        """Return a plain ``<CheckAlive/>`` if the timer expired at ``now``, else ``b""``.

        The timer restarts when one is returned (lib restarts it on every send, reference §3).

        Raises:
            ProtocolError: the connection is in ERROR.
        """
        if self._error is not None:
            self._raise_failed()
        deadline = self.next_deadline()
        if deadline is None or now < deadline:
            return b""
        return self.send(CheckAlive(), now=now, timestamp=timestamp)

    def shutdown(self, description: str = "MachineShutdown", *, timestamp: datetime | None = None) -> bytes:
        """Close cleanly: the Notification code 5 (MachineShutdown) / Info bytes to send last.

        Returns:
            the bytes to write before closing the socket; the connection is closed afterwards.
        """
        if self._error is not None:
            self._raise_failed()
        data = encode(shutdown_notification(description), timestamp=timestamp)
        self._enter(self.CLOSED_STATE)
        return data

    @property
    def error(self) -> ProtocolError | None:
        """The error that put the connection in ERROR, if any."""
        return self._error

    # -- for subclasses ----------------------------------------------------------------------

    def _enter(self, state: StateT) -> None:
        self._state = state
        self._ours, self._theirs = self._dispatch[state._value_]

    def _on_received(self, message: Message, move: Move[StateT]) -> None:
        """A legal message from the peer, before the state moves: the channel's extra rules."""

    def _on_sending(self, message: Message, move: Move[StateT]) -> None:
        """A legal message of ours, before the state moves: the channel's extra rules."""

    def _illegal(self, role: RoleT, state: StateT, kind: type) -> str:
        """The error text of an illegal event: names the message, the role and the state."""
        raise NotImplementedError

    def _may_send(self, message: Message) -> bool:
        if self.OPTIONAL_FEATURES and not self.peer_supports(type(message)):
            return False
        if self.PING_NEEDS_FEATURE and type(message) is CheckAlive and message.type == CheckAliveType.PING:
            return getattr(self.peer_features, "feature_check_alive_response", None) is not None
        return True

    def _raise_failed(self) -> NoReturn:
        error = self._error
        assert error is not None
        # Whose fault it was stays the same: the peer's error or ours.
        kind = LocalProtocolError if isinstance(error, LocalProtocolError) else RemoteProtocolError
        raise kind(f"the connection is in ERROR after: {error}", hint=error.hint)

    def _fail_remote(self, exc: HermesDecodeError | None = None, text: str = "") -> NoReturn:
        error: ProtocolError = exc if exc is not None else RemoteProtocolError(text)
        if error.hint is None:
            error.hint = protocol_error_notification(str(error))
        self._error = error
        self._enter(self.ERROR_STATE)
        raise error

    def _fail_local(self, text: str) -> NoReturn:
        self._error = LocalProtocolError(text, hint=software_error_notification(text))
        self._enter(self.ERROR_STATE)
        raise self._error


class HorizontalConnection(FramedConnection[Role, State]):
    """One side of one Hermes lane (reference §3), without I/O.

    A connection object lives for one TCP session and starts in SocketConnected. The receiver
    (TCP client) sends its ServiceDescription first; the sender (TCP server) answers with its
    own after receiving it. Then boards are handed over by the table in
    :mod:`protocols.hermes.state`.

    Args:
        role: ``Role.SENDER`` (the board sender, Downstream interface, TCP server) or
            ``Role.RECEIVER`` (the board receiver, Upstream interface, TCP client).
        check_alive_period: see :class:`FramedConnection`.
        now: see :class:`FramedConnection`; also the start of the handshake deadline.
        handshake_timeout: seconds from ``now`` within which the ServiceDescriptions must have
            been exchanged, or a new connection to the lane may replace this one
            (:func:`admit_connection`); None: no deadline.
    """

    MOVES = MOVES
    ERROR_STATE = State.ERROR
    CLOSED_STATE = State.DISCONNECTED
    OPTIONAL_FEATURES = OPTIONAL_FEATURES
    PING_NEEDS_FEATURE = True

    def __init__(
        self,
        role: Role,
        *,
        check_alive_period: float | None = DEFAULT_CHECK_ALIVE_PERIOD,
        now: float = 0.0,
        handshake_timeout: float | None = None,
    ) -> None:
        super().__init__(role, State.SOCKET_CONNECTED, check_alive_period=check_alive_period, now=now)
        self._handshake_due = None if handshake_timeout is None else now + handshake_timeout
        #: The peer's ServiceDescription, once received.
        self.peer_description: ServiceDescription | None = None
        #: Our ServiceDescription, once sent.
        self.our_description: ServiceDescription | None = None
        self._start_board_id: str | None = None

    def _illegal(self, role: Role, state: State, kind: type) -> str:
        return illegal_event_text(role, state, kind)

    @property
    def handshaken(self) -> bool:
        """Whether both ServiceDescriptions have been exchanged (reference §3)."""
        return self.peer_description is not None and self.our_description is not None

    @property
    def handshake_deadline(self) -> float | None:
        """When the handshake must be done, on the caller's clock (None: done, or no deadline)."""
        return None if self.handshaken else self._handshake_due

    @property
    def peer_features(self) -> SupportedFeatures:
        """The features the peer announced (none before its ServiceDescription)."""
        if self.peer_description is None:
            return _NO_FEATURES
        return self.peer_description.supported_features

    @property
    def start_board_id(self) -> str | None:
        """The BoardId of the StartTransport of the transport in progress, if any."""
        return self._start_board_id

    def _on_received(self, message: Message, move: Move[State]) -> None:
        if self._start_board_id and type(message) in _BOARD_ID_CHECKED:
            text = self._board_id_mismatch(message)
            if text:
                self._fail_remote(text=text)
        if type(message) is ServiceDescription:
            self.peer_description = message
        self._track_start(message, move.target)

    def _on_sending(self, message: Message, move: Move[State]) -> None:
        if self._start_board_id and type(message) in _BOARD_ID_CHECKED:
            text = self._board_id_mismatch(message)
            if text:
                self._fail_local(text)
        if type(message) is ServiceDescription:
            self.our_description = message
        self._track_start(message, move.target)

    def _board_id_mismatch(self, message: Message) -> str:
        # lib (§2.1): the StopTransport BoardId must equal the StartTransport one; lib's
        # receiver applies the same check to TransportFinished. An empty start id is not checked.
        board_id = message.board_id  # type: ignore[union-attr]
        if board_id == self._start_board_id:
            return ""
        return (
            f"{type(message).__name__} BoardId={board_id} does not match "
            f"StartTransport BoardId={self._start_board_id} (IPC-HERMES-9852 §3)"
        )

    def _track_start(self, message: Message, target: State) -> None:
        if target is State.TRANSPORTING and type(message) is StartTransport:
            self._start_board_id = message.board_id
        elif target is State.NOT_AVAILABLE_NOT_READY:
            self._start_board_id = None


class Admission(enum.Enum):
    """What the sender does with a new connection to its lane (:func:`admit_connection`)."""

    #: No session holds the lane: the new connection gets it.
    ACCEPT = "accept"
    #: A session holds the lane: send :func:`refusal_notification` on the new socket, close it,
    #: and send the session a CheckAlive, so that a dead socket shows up (lib does, reference §1).
    REFUSE = "refuse"
    #: The session holding the lane missed its handshake deadline: drop it; the new one gets it.
    REPLACE = "replace"


def admit_connection(current: HorizontalConnection | None, now: float) -> Admission:
    """Decide what happens to a new connection to a lane whose session is ``current``.

    One connection per lane (reference §1): while a session exists, a new connection is
    refused, also while that session has not sent its ServiceDescription yet (lib refuses as
    soon as it has a session; [acc] ``test_connect_2_times`` holds a silent first connection
    and expects the second refused and the first still served). Only a session past its
    handshake deadline gives way, so a silent or half-open dead peer cannot hold the lane
    forever.

    Args:
        current: the connection of the lane's session; None if there is none or its socket
            has ended (which the glue knows, the core does not).
        now: the current time on the clock the connections were given.
    """
    if current is None or current.state in (State.DISCONNECTED, State.ERROR):
        return Admission.ACCEPT
    deadline = current.handshake_deadline
    if deadline is not None and now >= deadline:
        return Admission.REPLACE
    return Admission.REFUSE


__all__ = [
    "CLOSED",
    "DEFAULT_CHECK_ALIVE_PERIOD",
    "NEED_DATA",
    "OPTIONAL_FEATURES",
    "Admission",
    "Event",
    "FramedConnection",
    "HorizontalConnection",
    "Outcome",
    "Signal",
    "admit_connection",
    "protocol_error_notification",
    "refusal_notification",
    "shutdown_notification",
    "software_error_notification",
]
