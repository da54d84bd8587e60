"""The shared move tables (protocols/hermes/table.py) and what ``next_event()`` says a message did."""

from __future__ import annotations

import pytest

from protocols.hermes import messages as m
from protocols.hermes.configuration import ConfigurationConnection, ConfigurationRole, ConfigurationState
from protocols.hermes.connection import NEED_DATA, HorizontalConnection
from protocols.hermes.state import ACCEPTED_AND_IGNORED, STATELESS, TRANSITIONS, Role, State
from protocols.hermes.table import Move, Outcome, compile_moves, everywhere
from protocols.hermes.vertical import VerticalConnection, VerticalRole, VerticalState
from tests.protocols.hermes.test_connection import PATHS, SAMPLES, Pair
from tests.protocols.hermes.test_vertical import ALL
from tests.protocols.hermes.test_vertical import SAMPLES as VERTICAL_SAMPLES

S, R = Role.SENDER, Role.RECEIVER


def _deliver(pair: Pair, who: Role, message: m.Message) -> Outcome | None:
    """Send ``message`` from ``who`` and return the outcome the peer's ``next_event()`` reports."""
    other = pair.conn[who.peer]
    other.receive_data(pair.conn[who].send(message))
    assert other.next_event() == message
    return other.outcome


def test_compile_moves_lets_a_transition_beat_an_ignored_row_and_both_beat_a_stateless_one() -> None:
    """Overlapping rows resolve transition > ignored > stateless, whatever order they come in."""
    key = (S, State.TRANSPORTING, m.Notification)
    moves = compile_moves(
        Role,
        State,
        transitions={key: State.ERROR},
        ignored=[key, (S, State.MACHINE_READY, m.Notification)],
        stateless=everywhere({m.Notification: (S,)}, [State.TRANSPORTING, State.MACHINE_READY]),
    )
    assert moves[S, State.TRANSPORTING][m.Notification] == Move(State.ERROR, Outcome.TRANSITION)
    assert moves[S, State.MACHINE_READY][m.Notification] == Move(State.MACHINE_READY, Outcome.IGNORED)
    assert moves[R, State.TRANSPORTING] == {}


@pytest.mark.parametrize(("key", "target"), list(TRANSITIONS.items()), ids=str)
def test_every_transition_row_is_reported(key: tuple[Role, State, type], target: State) -> None:
    """A row of the transition table, received, gives Outcome.TRANSITION and the row's state."""
    who, source, kind = key
    pair = Pair()
    pair.walk(source)
    assert _deliver(pair, who, SAMPLES[kind]) is Outcome.TRANSITION
    assert pair.conn[who.peer].state is target


@pytest.mark.parametrize("key", sorted(ACCEPTED_AND_IGNORED, key=str), ids=str)
def test_every_ignored_row_is_reported_as_ignored(key: tuple[Role, State, type]) -> None:
    """An accepted-and-ignored message (BoardAvailable while Transporting, ...) gives
    Outcome.IGNORED and leaves the state alone."""
    who, state, kind = key
    pair = Pair()
    pair.walk(state)
    assert _deliver(pair, who, SAMPLES[kind]) is Outcome.IGNORED
    assert pair.conn[who.peer].state is state


@pytest.mark.parametrize(
    ("kind", "who", "state"),
    [
        (kind, who, state)
        for kind, senders in STATELESS.items()
        for who in sorted(senders, key=str)
        for state in (State.NOT_AVAILABLE_NOT_READY, State.TRANSPORTING)
    ],
    ids=str,
)
def test_every_stateless_message_is_reported_as_stateless(kind: type, who: Role, state: State) -> None:
    """Notification, CheckAlive, Command, QueryBoardInfo, SendBoardInfo give Outcome.STATELESS."""
    pair = Pair()
    pair.walk(state)
    assert _deliver(pair, who, SAMPLES[kind]) is Outcome.STATELESS
    assert pair.conn[who.peer].state is state


def test_no_message_means_no_outcome() -> None:
    """NEED_DATA and an unknown tag leave ``outcome`` at None: nothing was checked."""
    connection = HorizontalConnection(R)
    connection.receive_data(b'<Hermes Timestamp="2024-05-14T08:15:02.117"><Future/></Hermes>')
    assert isinstance(connection.next_event(), m.UnknownMessage)
    assert connection.outcome is None
    assert connection.next_event() is NEED_DATA
    assert connection.outcome is None


def test_outcome_is_reset_by_the_next_call() -> None:
    """A stale outcome never survives into the next ``next_event()``."""
    pair = Pair()
    receiver = pair.conn[R]
    receiver.receive_data(pair.conn[S].send(m.CheckAlive()))
    # Before the handshake the receiver is in SocketConnected, where CheckAlive is stateless.
    assert receiver.next_event() == m.CheckAlive()
    assert receiver.outcome is Outcome.STATELESS
    assert receiver.next_event() is NEED_DATA
    assert receiver.outcome is None


def test_vertical_handshake_is_a_transition_and_board_tracking_is_stateless() -> None:
    """The vertical channel reports through the same base: its handshake rows are transitions,
    its Connected-only messages stateless."""
    machine, mes = VerticalConnection(VerticalRole.MACHINE), VerticalConnection(VerticalRole.SUPERVISORY)
    machine.receive_data(mes.send(VERTICAL_SAMPLES[m.SupervisoryServiceDescription]))
    machine.next_event()
    assert machine.outcome is Outcome.TRANSITION
    answer = m.SupervisoryServiceDescription("M1", "1.6", ALL)
    mes.receive_data(machine.send(answer))
    mes.next_event()
    assert mes.outcome is Outcome.TRANSITION
    assert mes.state is machine.state is VerticalState.CONNECTED
    mes.receive_data(machine.send(VERTICAL_SAMPLES[m.BoardArrived]))
    mes.next_event()
    assert mes.outcome is Outcome.STATELESS


def test_configuration_get_is_a_transition_and_check_alive_is_stateless() -> None:
    """The configuration channel too: GetConfiguration moves to GetPending, CheckAlive does not."""
    service = ConfigurationConnection(ConfigurationRole.SERVICE)
    client = ConfigurationConnection(ConfigurationRole.CLIENT)
    service.receive_data(client.send(m.CheckAlive()))
    service.next_event()
    assert service.outcome is Outcome.STATELESS
    service.receive_data(client.send(m.GetConfiguration()))
    service.next_event()
    assert service.outcome is Outcome.TRANSITION
    assert service.state is ConfigurationState.GET_PENDING


def test_paths_cover_every_state_the_table_is_tested_from() -> None:
    """Every source state of the rows above has a path (so no row is silently skipped)."""
    sources = {state for _, state, _ in TRANSITIONS} | {state for _, state, _ in ACCEPTED_AND_IGNORED}
    assert sources <= PATHS.keys()
