"""The sans-IO horizontal connection: every state-table row in both roles, every illegal message,
handshake, features, CheckAlive, errors and ERROR, byte-by-byte feeding. No event loop."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from protocols.hermes import messages as m
from protocols.hermes.codec import decode, encode
from protocols.hermes.connection import (
    CLOSED,
    NEED_DATA,
    Admission,
    Event,
    HorizontalConnection,
    admit_connection,
    refusal_notification,
)
from protocols.hermes.framing import Framer
from protocols.hermes.state import HORIZONTAL_MESSAGES, MOVES, TRANSITIONS, Role, State

S, R = Role.SENDER, Role.RECEIVER
BOARD = "0f8fad5b-d9cb-469f-a165-70867728950e"
OTHER = "7c9e6679-7425-40de-944b-e07fc1f90ae7"

SAMPLES: dict[type, m.Message] = {
    m.ServiceDescription: m.ServiceDescription("M1", 1, "1.6", m.SupportedFeatures.all()),
    m.BoardAvailable: m.BoardAvailable(BOARD, "M0", m.BoardQuality.GOOD, m.FlippedBoard.TOP_SIDE_IS_UP),
    m.RevokeBoardAvailable: m.RevokeBoardAvailable(),
    m.MachineReady: m.MachineReady(failed_board=m.BoardQuality.ANY),
    m.RevokeMachineReady: m.RevokeMachineReady(),
    m.StartTransport: m.StartTransport(board_id=BOARD),
    m.StopTransport: m.StopTransport(transfer_state=m.TransferState.COMPLETE, board_id=BOARD),
    m.TransportFinished: m.TransportFinished(transfer_state=m.TransferState.COMPLETE, board_id=BOARD),
    m.BoardForecast: m.BoardForecast(m.BoardQuality.ANY, m.FlippedBoard.SIDE_UP_IS_UNKNOWN),
    m.QueryBoardInfo: m.QueryBoardInfo(top_barcode="X1"),
    m.SendBoardInfo: m.SendBoardInfo(board_id=BOARD),
    m.Notification: m.Notification(m.NotificationCode.UNSPECIFIC, m.SeverityType.INFO, "hello"),
    m.CheckAlive: m.CheckAlive(),
    m.Command: m.Command(command=1),
}

# How to reach each state from a fresh pair: (who sends, message class) steps.
PATHS: dict[State, list[tuple[Role, type]]] = {
    State.SOCKET_CONNECTED: [],
    State.SERVICE_DESCRIPTION_DOWNSTREAM: [(R, m.ServiceDescription)],
    State.NOT_AVAILABLE_NOT_READY: [(R, m.ServiceDescription), (S, m.ServiceDescription)],
}
PATHS[State.BOARD_AVAILABLE] = [*PATHS[State.NOT_AVAILABLE_NOT_READY], (S, m.BoardAvailable)]
PATHS[State.MACHINE_READY] = [*PATHS[State.NOT_AVAILABLE_NOT_READY], (R, m.MachineReady)]
PATHS[State.AVAILABLE_AND_READY] = [*PATHS[State.BOARD_AVAILABLE], (R, m.MachineReady)]
PATHS[State.TRANSPORTING] = [*PATHS[State.AVAILABLE_AND_READY], (R, m.StartTransport)]
PATHS[State.TRANSPORT_FINISHED] = [*PATHS[State.TRANSPORTING], (S, m.TransportFinished)]
PATHS[State.TRANSPORT_STOPPED] = [*PATHS[State.TRANSPORTING], (R, m.StopTransport)]


class Pair:
    """A sender and a receiver connection joined by a fake link (h11's ConnectionPair)."""

    def __init__(self) -> None:
        self.conn = {S: HorizontalConnection(S), R: HorizontalConnection(R)}

    def send(self, who: Role, message: m.Message) -> Event:
        data = self.conn[who].send(message)
        other = self.conn[who.peer]
        other.receive_data(data)
        event = other.next_event()
        assert other.next_event() is NEED_DATA
        return event

    def walk(self, state: State) -> None:
        for who, kind in PATHS[state]:
            self.send(who, SAMPLES[kind])
        assert self.conn[S].state is self.conn[R].state is state


def _receive(connection: HorizontalConnection, data: bytes) -> Event:
    connection.receive_data(data)
    return connection.next_event()


@pytest.mark.parametrize(("key", "target"), list(TRANSITIONS.items()), ids=lambda v: str(v))
def test_every_row_moves_both_roles_to_the_same_state(key: tuple[Role, State, type], target: State) -> None:
    """Sending a row's trigger from its role moves the sending and the receiving side alike."""
    who, source, kind = key
    pair = Pair()
    pair.walk(source)
    event = pair.send(who, SAMPLES[kind])
    assert event == SAMPLES[kind]
    assert pair.conn[S].state is target
    assert pair.conn[R].state is target


ILLEGAL = [
    (state, who, kind)
    for state in PATHS
    for who in Role
    for kind in HORIZONTAL_MESSAGES
    if kind not in MOVES[who, state]
]


@pytest.mark.parametrize(("state", "who", "kind"), ILLEGAL, ids=lambda v: getattr(v, "__name__", str(v)))
def test_every_illegal_message_received_is_a_fatal_protocol_error(
    state: State, who: Role, kind: type
) -> None:
    """A message not allowed in the state: RemoteProtocolError, hint Notification 1/Fatal, ERROR after."""
    pair = Pair()
    pair.walk(state)
    victim = pair.conn[who.peer]
    with pytest.raises(RemoteProtocolError) as info:
        _receive(victim, encode(SAMPLES[kind]))
    hint = info.value.hint
    assert isinstance(hint, m.Notification)
    assert hint.notification_code == m.NotificationCode.PROTOCOL_ERROR
    assert hint.severity == m.SeverityType.FATAL
    assert kind.__name__ in str(info.value) and state.value in str(info.value)
    assert victim.state is State.ERROR
    for call in (
        lambda: victim.next_event(),
        lambda: victim.receive_data(b"x"),
        lambda: victim.send(m.CheckAlive()),
    ):
        with pytest.raises(RemoteProtocolError):
            call()


@pytest.mark.parametrize(("state", "who", "kind"), ILLEGAL, ids=lambda v: getattr(v, "__name__", str(v)))
def test_every_illegal_message_sent_is_a_local_error(state: State, who: Role, kind: type) -> None:
    """Sending a message not allowed now raises LocalProtocolError with lib's SoftwareError hint."""
    pair = Pair()
    pair.walk(state)
    ours = pair.conn[who]
    with pytest.raises(LocalProtocolError) as info:
        ours.send(SAMPLES[kind])
    assert isinstance(info.value.hint, m.Notification)
    assert info.value.hint.severity == m.SeverityType.FATAL
    assert ours.state is State.ERROR
    with pytest.raises(LocalProtocolError):
        ours.send(m.CheckAlive())


def test_the_acceptance_tool_cases_in_not_available_not_ready() -> None:
    """[acc] §3: second ServiceDescription, RevokeMachineReady, StartTransport, StopTransport against
    a sender; second ServiceDescription, RevokeBoardAvailable, TransportFinished against a receiver."""
    cases = {
        S: [m.ServiceDescription, m.RevokeMachineReady, m.StartTransport, m.StopTransport],
        R: [m.ServiceDescription, m.RevokeBoardAvailable, m.TransportFinished],
    }
    for victim_role, kinds in cases.items():
        for kind in kinds:
            pair = Pair()
            pair.walk(State.NOT_AVAILABLE_NOT_READY)
            with pytest.raises(RemoteProtocolError):
                _receive(pair.conn[victim_role], encode(SAMPLES[kind]))


@pytest.mark.parametrize("state", [State.TRANSPORTING, State.TRANSPORT_STOPPED])
def test_early_board_available_is_delivered_without_a_state_change(state: State) -> None:
    """BoardAvailable/RevokeBoardAvailable while the board moves: accepted and ignored (§3)."""
    pair = Pair()
    pair.walk(state)
    assert pair.send(S, SAMPLES[m.BoardAvailable]) == SAMPLES[m.BoardAvailable]
    assert pair.send(S, m.RevokeBoardAvailable()) == m.RevokeBoardAvailable()
    assert pair.conn[R].state is state and pair.conn[S].state is state


def test_start_transport_without_board_available() -> None:
    """MachineReady → StartTransport is allowed without a BoardAvailable (non-Hermes upstream)."""
    pair = Pair()
    pair.walk(State.MACHINE_READY)
    pair.send(R, m.StartTransport(board_id=OTHER))
    assert pair.conn[S].start_board_id == OTHER
    pair.send(S, m.TransportFinished(transfer_state=m.TransferState.COMPLETE, board_id=OTHER))
    pair.send(R, m.StopTransport(transfer_state=m.TransferState.COMPLETE, board_id=OTHER))
    assert pair.conn[S].state is State.NOT_AVAILABLE_NOT_READY


def test_concurrent_transport_finished_and_stop_transport_agree() -> None:
    """lib's tests send TransportFinished and StopTransport at once; both sides end idle."""
    pair = Pair()
    pair.walk(State.TRANSPORTING)
    finished = pair.conn[S].send(SAMPLES[m.TransportFinished])
    stop = pair.conn[R].send(SAMPLES[m.StopTransport])
    assert _receive(pair.conn[S], stop) == SAMPLES[m.StopTransport]
    assert _receive(pair.conn[R], finished) == SAMPLES[m.TransportFinished]
    assert pair.conn[S].state is pair.conn[R].state is State.NOT_AVAILABLE_NOT_READY


def test_concurrent_revoke_and_start_agree() -> None:
    """RevokeBoardAvailable crossing StartTransport: both sides end in Transporting."""
    pair = Pair()
    pair.walk(State.AVAILABLE_AND_READY)
    revoke = pair.conn[S].send(m.RevokeBoardAvailable())
    start = pair.conn[R].send(SAMPLES[m.StartTransport])
    _receive(pair.conn[S], start)
    _receive(pair.conn[R], revoke)
    assert pair.conn[S].state is pair.conn[R].state is State.TRANSPORTING


@pytest.mark.parametrize("who", [S, R])
def test_stop_or_finish_with_another_board_id_is_a_protocol_error(who: Role) -> None:
    """§2.1: StopTransport (and, as lib's receiver checks, TransportFinished) must carry the start BoardId."""
    pair = Pair()
    pair.walk(State.TRANSPORTING)
    wrong: m.Message = (
        m.TransportFinished(transfer_state=m.TransferState.COMPLETE, board_id=OTHER)
        if who is S
        else m.StopTransport(transfer_state=m.TransferState.COMPLETE, board_id=OTHER)
    )
    with pytest.raises(RemoteProtocolError, match="does not match"):
        _receive(pair.conn[who.peer], encode(wrong))
    with pytest.raises(LocalProtocolError, match="does not match"):
        pair.conn[who].send(wrong)


def test_optional_messages_need_the_peers_feature() -> None:
    """§2.5: BoardForecast, QueryBoardInfo, SendBoardInfo, Command, Ping only if the peer announced them."""
    bare = m.ServiceDescription("M", 1, "1.6")
    for who, kind in [(S, m.BoardForecast), (R, m.QueryBoardInfo), (S, m.SendBoardInfo), (R, m.Command)]:
        pair = Pair()
        pair.send(R, bare)
        pair.send(S, bare)
        with pytest.raises(LocalProtocolError, match="feature"):
            pair.conn[who].send(SAMPLES[kind])
    pair = Pair()
    pair.send(R, bare)
    pair.send(S, bare)
    with pytest.raises(LocalProtocolError, match="feature"):
        pair.conn[S].send(m.CheckAlive(type=m.CheckAliveType.PING, id="1"))
    pair = Pair()
    pair.walk(State.NOT_AVAILABLE_NOT_READY)  # both announce everything
    assert pair.send(S, SAMPLES[m.BoardForecast]) == SAMPLES[m.BoardForecast]
    assert pair.send(R, SAMPLES[m.QueryBoardInfo]) == SAMPLES[m.QueryBoardInfo]
    assert pair.conn[R].peer_description == SAMPLES[m.ServiceDescription]


def test_ping_is_answered_with_a_pong_with_the_same_id() -> None:
    """A Ping is delivered and a Pong with the same Id is queued (eAUTO, §3)."""
    pair = Pair()
    pair.walk(State.NOT_AVAILABLE_NOT_READY)
    ping = m.CheckAlive(type=m.CheckAliveType.PING, id="42")
    assert pair.send(S, ping) == ping
    pong = decode(pair.conn[R].data_to_send())
    assert pong == m.CheckAlive(type=m.CheckAliveType.PONG, id="42")
    assert pair.conn[R].data_to_send() == b""


@pytest.mark.parametrize("check", [m.CheckAlive(), m.CheckAlive(type=m.CheckAliveType.UNKNOWN, id="7")])
def test_plain_check_alive_is_not_answered(check: m.CheckAlive) -> None:
    """[acc]: a CheckAlive without Type (or Unknown) expects no answer."""
    connection = HorizontalConnection(S)
    assert _receive(connection, encode(check)) == check
    assert connection.data_to_send() == b""


def test_several_messages_in_one_read_and_plain_check_alives() -> None:
    """[acc]: CheckAlive + ServiceDescription + CheckAlive in one packet; none of the CheckAlives answered."""
    sender = HorizontalConnection(S)
    data = encode(m.CheckAlive()) + b"\r\n" + encode(SAMPLES[m.ServiceDescription]) + encode(m.CheckAlive())
    sender.receive_data(data)
    events = [sender.next_event() for _ in range(4)]
    assert events == [m.CheckAlive(), SAMPLES[m.ServiceDescription], m.CheckAlive(), NEED_DATA]
    assert sender.data_to_send() == b""
    assert sender.state is State.SERVICE_DESCRIPTION_DOWNSTREAM


def test_a_whole_cycle_fed_one_byte_at_a_time() -> None:
    """Messages split at every byte boundary give the same events (h11's byte-by-byte idea)."""
    receiver = HorizontalConnection(R)
    receiver.send(SAMPLES[m.ServiceDescription])
    expected = [SAMPLES[m.ServiceDescription], SAMPLES[m.BoardAvailable], SAMPLES[m.Notification]]
    stream = b'<?xml version="1.0" encoding="utf-8"?>\n' + b"\r\n".join(encode(x) for x in expected)
    events: list[Event] = []
    for index in range(len(stream)):
        receiver.receive_data(stream[index : index + 1])
        while (event := receiver.next_event()) is not NEED_DATA:
            events.append(event)
    assert events == expected
    assert receiver.state is State.BOARD_AVAILABLE


def test_unknown_message_is_delivered_and_changes_nothing() -> None:
    """An unknown tag is never an error (§2): UnknownMessage, same state."""
    pair = Pair()
    pair.walk(State.NOT_AVAILABLE_NOT_READY)
    event = _receive(
        pair.conn[S], b'<Hermes Timestamp="2024-05-14T08:15:02.117"><FancyNewThing A="1"/></Hermes>'
    )
    assert event == m.UnknownMessage("FancyNewThing")
    assert pair.conn[S].state is State.NOT_AVAILABLE_NOT_READY


def test_unknown_attribute_is_ignored() -> None:
    """[acc]: an unknown attribute on a known message is ignored."""
    connection = HorizontalConnection(S)
    event = _receive(
        connection,
        b'<Hermes Timestamp="2024-05-14T08:15:02"><ServiceDescription MachineId="X" LaneId="1" '
        b'Version="1.6" Colour="blue"><SupportedFeatures/><Extra/></ServiceDescription></Hermes>',
    )
    assert isinstance(event, m.ServiceDescription) and event.machine_id == "X"


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (
            b'<Hermes Timestamp="x"><ServiceDescription LaneId="1" Version="1.6"><SupportedFeatures/>'
            b"</ServiceDescription></Hermes>",
            "MachineId",
        ),
        (b'<Hermes><ServiceDescription MachineId="a" </Hermes>', "(?i)xml"),
    ],
)
def test_malformed_input_is_a_fatal_protocol_error(data: bytes, needle: str) -> None:
    """A missing mandatory attribute or broken XML: RemoteProtocolError with hint 1/Fatal."""
    connection = HorizontalConnection(S)
    with pytest.raises(RemoteProtocolError, match=needle) as info:
        _receive(connection, data)
    assert isinstance(info.value.hint, m.Notification)
    assert info.value.hint.notification_code == m.NotificationCode.PROTOCOL_ERROR
    assert connection.state is State.ERROR
    with pytest.raises(RemoteProtocolError, match="in ERROR"):
        connection.next_event()


def test_too_much_data_without_a_message_is_an_error() -> None:
    """§1: more than 65,536 bytes with no complete message is a protocol error."""
    connection = HorizontalConnection(S)
    with pytest.raises(RemoteProtocolError):
        connection.receive_data(b"<Hermes>" + b" " * 70000)
        connection.next_event()
    assert connection.state is State.ERROR


def test_eof_gives_closed_and_sending_afterwards_fails() -> None:
    """receive_data(b"") ends the session: CLOSED, Disconnected; a send then raises, no ERROR."""
    connection = HorizontalConnection(S)
    connection.receive_data(encode(SAMPLES[m.ServiceDescription]))
    connection.receive_data(b"")
    assert connection.next_event() == SAMPLES[m.ServiceDescription]
    assert connection.next_event() is CLOSED
    assert connection.state is State.DISCONNECTED
    with pytest.raises(LocalProtocolError, match="closed"):
        connection.send(SAMPLES[m.ServiceDescription])
    assert connection.next_deadline() is None


def test_send_failed_puts_the_connection_in_error() -> None:
    """After send_failed() every call raises."""
    connection = HorizontalConnection(R)
    connection.send_failed()
    assert connection.state is State.ERROR
    with pytest.raises(ProtocolError):
        connection.send(SAMPLES[m.ServiceDescription])


def test_check_alive_timer_uses_only_the_callers_clock() -> None:
    """The plain CheckAlive is due one period after the last send; every send restarts it (§3)."""
    connection = HorizontalConnection(R, check_alive_period=10.0, now=100.0)
    assert connection.next_deadline() == 110.0
    assert connection.check_alive(109.9) == b""
    connection.send(SAMPLES[m.ServiceDescription], now=105.0)
    assert connection.next_deadline() == 115.0
    data = connection.check_alive(115.0)
    assert decode(data) == m.CheckAlive()
    assert connection.next_deadline() == 125.0
    assert HorizontalConnection(R, check_alive_period=None).next_deadline() is None


def test_shutdown_sends_machine_shutdown_and_closes() -> None:
    """A clean stop: Notification code 5 (MachineShutdown), then the connection is closed."""
    pair = Pair()
    pair.walk(State.NOT_AVAILABLE_NOT_READY)
    data = pair.conn[S].shutdown()
    notification = _receive(pair.conn[R], data)
    assert isinstance(notification, m.Notification)
    assert notification.notification_code == m.NotificationCode.MACHINE_SHUTDOWN
    assert pair.conn[S].state is State.DISCONNECTED


def test_a_missing_mandatory_field_never_reaches_the_connection() -> None:
    """Our own message without a mandatory value is refused when built, before any send."""
    connection = HorizontalConnection(R)
    with pytest.raises(LocalProtocolError, match="machine_id"):
        m.ServiceDescription(None, 1, "1.6")  # type: ignore[arg-type]
    assert connection.state is State.SOCKET_CONNECTED


def test_framer_used_by_the_connection_keeps_the_remainder() -> None:
    """Bytes after one message stay for the next (the [acc] framing bug must not happen)."""
    framer = Framer()
    one = encode(m.CheckAlive())
    framer.feed(one + one[:10])
    assert framer.next_frame() is not None
    assert framer.next_frame() is None
    framer.feed(one[10:])
    assert framer.next_frame() is not None


CALLS: list[Callable[[HorizontalConnection], object]] = [
    lambda c: c.next_event(),
    lambda c: c.receive_data(b""),
    lambda c: c.send(m.CheckAlive()),
    lambda c: c.shutdown(),
]


@pytest.mark.parametrize("call", CALLS)
def test_every_call_raises_at_once_after_an_error(call: Callable[[HorizontalConnection], object]) -> None:
    """h11's rule: once in ERROR, every call raises."""
    connection = HorizontalConnection(S)
    with pytest.raises(RemoteProtocolError):
        _receive(connection, encode(m.StartTransport(board_id=BOARD)))
    with pytest.raises(RemoteProtocolError):
        call(connection)


# Fuzz invariant: whatever bytes arrive, in whatever split, the connection yields events or
# raises RemoteProtocolError; it never raises anything else.
VALID_CHUNKS = [encode(message) for message in SAMPLES.values()]


@given(
    st.lists(st.one_of(st.sampled_from(VALID_CHUNKS), st.binary(max_size=40)), max_size=12),
    st.integers(min_value=1, max_value=64),
)
def test_any_input_parses_or_raises_remote_protocol_error(chunks: list[bytes], split: int) -> None:
    """Arbitrary byte soup, cut into pieces of ``split`` bytes: events or RemoteProtocolError only."""
    for role in Role:
        connection = HorizontalConnection(role)
        data = b"".join(chunks)
        try:
            for start in range(0, len(data), split):
                connection.receive_data(data[start : start + split])
                while connection.next_event() is not NEED_DATA:
                    pass
        except RemoteProtocolError as exc:
            assert isinstance(exc.hint, m.Notification)
            assert connection.state is State.ERROR


@given(st.lists(st.tuples(st.sampled_from(list(Role)), st.sampled_from(list(SAMPLES))), max_size=30))
def test_both_sides_always_agree_on_the_state(steps: list[tuple[Role, type]]) -> None:
    """Any sequence of legal messages leaves the sender's and the receiver's state equal."""
    pair = Pair()
    for who, kind in steps:
        state = pair.conn[who].state
        if kind not in MOVES[who, state] or not pair.conn[who].peer_supports(kind):
            continue
        message = SAMPLES[kind]
        if isinstance(message, m.StopTransport | m.TransportFinished):
            message = type(message)(m.TransferState.COMPLETE, pair.conn[who].start_board_id or BOARD)
        pair.send(who, message)
        assert pair.conn[S].state is pair.conn[R].state


def test_a_lane_admits_a_new_connection_only_when_it_has_none() -> None:
    """§1, one connection per lane: with no session the newcomer gets the lane; with a session
    that completed its handshake it is refused, however long that session has been quiet."""
    assert admit_connection(None, now=0.0) is Admission.ACCEPT
    pair = Pair()
    sender = pair.conn[S]
    pair.walk(State.NOT_AVAILABLE_NOT_READY)
    assert sender.handshaken
    assert admit_connection(sender, now=1e9) is Admission.REFUSE
    sender.receive_data(b"")
    assert sender.next_event() is CLOSED
    assert admit_connection(sender, now=0.0) is Admission.ACCEPT  # a session that ended


def test_a_silent_session_holds_the_lane_until_its_handshake_deadline() -> None:
    """[acc] test_connect_2_times: a newcomer is refused while the session has not sent its
    ServiceDescription yet, and replaces it only once the session's handshake deadline has
    passed; without a deadline the silent session keeps the lane."""
    silent = HorizontalConnection(S, now=100.0, handshake_timeout=10.0)
    assert not silent.handshaken and silent.handshake_deadline == 110.0
    assert admit_connection(silent, now=100.0) is Admission.REFUSE
    assert admit_connection(silent, now=109.99) is Admission.REFUSE
    assert admit_connection(silent, now=110.0) is Admission.REPLACE
    halfway = HorizontalConnection(S, now=100.0, handshake_timeout=10.0)
    _receive(halfway, encode(SAMPLES[m.ServiceDescription]))  # its answer not sent yet
    assert admit_connection(halfway, now=111.0) is Admission.REPLACE
    halfway.send(SAMPLES[m.ServiceDescription])
    assert halfway.handshake_deadline is None
    assert admit_connection(halfway, now=111.0) is Admission.REFUSE
    assert admit_connection(HorizontalConnection(S), now=1e9) is Admission.REFUSE


def test_the_refusal_is_code_2_with_severity_error() -> None:
    """§1 / [acc]: NotificationCode 2 (ConnectionRefusedBecauseOfEstablishedConnection), severity
    2 (Error)."""
    refusal = refusal_notification()
    code = m.NotificationCode.CONNECTION_REFUSED_BECAUSE_OF_ESTABLISHED_CONNECTION
    assert refusal.notification_code == code == 2
    assert refusal.severity == m.SeverityType.ERROR == 2
