"""The horizontal state table (protocols/hermes/state.py) against reference §3, row by row."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocols.errors import LocalProtocolError, RemoteProtocolError
from protocols.hermes import messages as m
from protocols.hermes.state import (
    ACCEPTED_AND_IGNORED,
    CONNECTED_STATES,
    HORIZONTAL_MESSAGES,
    MOVES,
    STATELESS,
    TRANSITIONS,
    Outcome,
    Role,
    State,
    classify,
    next_state,
    render_markdown,
)

DOC = Path(__file__).resolve().parents[3] / "docs" / "hermes-state-table.md"

# Reference §3, transcribed as text: (from, message, who sends, to).
REFERENCE_ROWS = [
    ("SocketConnected", "ServiceDescription", "R", "ServiceDescriptionDownstream"),
    ("ServiceDescriptionDownstream", "ServiceDescription", "S", "NotAvailableNotReady"),
    ("NotAvailableNotReady", "BoardAvailable", "S", "BoardAvailable"),
    ("NotAvailableNotReady", "MachineReady", "R", "MachineReady"),
    ("BoardAvailable", "MachineReady", "R", "AvailableAndReady"),
    ("BoardAvailable", "RevokeBoardAvailable", "S", "NotAvailableNotReady"),
    ("MachineReady", "BoardAvailable", "S", "AvailableAndReady"),
    ("MachineReady", "RevokeMachineReady", "R", "NotAvailableNotReady"),
    ("MachineReady", "StartTransport", "R", "Transporting"),
    ("AvailableAndReady", "StartTransport", "R", "Transporting"),
    ("AvailableAndReady", "RevokeBoardAvailable", "S", "MachineReady"),
    ("AvailableAndReady", "RevokeMachineReady", "R", "BoardAvailable"),
    ("Transporting", "TransportFinished", "S", "TransportFinished"),
    ("Transporting", "StopTransport", "R", "TransportStopped"),
    ("TransportFinished", "StopTransport", "R", "NotAvailableNotReady"),
    ("TransportStopped", "TransportFinished", "S", "NotAvailableNotReady"),
]


@pytest.mark.parametrize(("source", "tag", "who", "target"), REFERENCE_ROWS)
def test_every_reference_row_is_in_the_table(source: str, tag: str, who: str, target: str) -> None:
    """Each row of reference §3 maps (sender, state, message) to the reference's next state."""
    key = (Role(who), State(source), m.MESSAGE_BY_TAG[tag])
    assert TRANSITIONS[key] is State(target)
    assert next_state(*key, local=False) is State(target)


def test_the_table_has_no_rows_beyond_the_reference() -> None:
    """Nothing was added to the transition table that the reference does not list."""
    ours = {(s.value, t.__name__, r.value, n.value) for (r, s, t), n in TRANSITIONS.items()}
    assert ours == set(REFERENCE_ROWS)


@pytest.mark.parametrize(("source", "tag", "who", "target"), REFERENCE_ROWS)
def test_the_other_role_may_not_send_a_row_message(source: str, tag: str, who: str, target: str) -> None:
    """Who may send each trigger is fixed: the wrong role gets an error naming event, role, state."""
    wrong = Role(who).peer
    message_type = m.MESSAGE_BY_TAG[tag]
    assert classify(wrong, State(source), message_type) is None
    with pytest.raises(RemoteProtocolError, match=f"{tag} from the .* in state {source}"):
        next_state(wrong, State(source), message_type, local=False)
    with pytest.raises(LocalProtocolError, match=tag):
        next_state(wrong, State(source), message_type, local=True)


def test_board_available_and_revoke_are_ignored_while_the_board_moves() -> None:
    """§3: BoardAvailable/RevokeBoardAvailable in Transporting or TransportStopped change nothing."""
    for state in (State.TRANSPORTING, State.TRANSPORT_STOPPED):
        for message_type in (m.BoardAvailable, m.RevokeBoardAvailable):
            assert (Role.SENDER, state, message_type) in ACCEPTED_AND_IGNORED
            assert classify(Role.SENDER, state, message_type) is Outcome.IGNORED
            assert next_state(Role.SENDER, state, message_type, local=False) is state
    assert classify(Role.SENDER, State.TRANSPORT_FINISHED, m.BoardAvailable) is None


def test_board_forecast_is_valid_only_when_idle_or_ready() -> None:
    """§3: BoardForecast valid idle or ready, ignored while moving, an error elsewhere."""
    for state in State:
        outcome = classify(Role.SENDER, state, m.BoardForecast)
        if state in (
            State.NOT_AVAILABLE_NOT_READY,
            State.MACHINE_READY,
            State.TRANSPORTING,
            State.TRANSPORT_STOPPED,
        ):
            assert outcome is Outcome.IGNORED
        else:
            assert outcome is None, state
    assert classify(Role.RECEIVER, State.NOT_AVAILABLE_NOT_READY, m.BoardForecast) is None


@pytest.mark.parametrize("state", [s for s in State if s in CONNECTED_STATES])
def test_stateless_messages_are_valid_in_every_connected_state(state: State) -> None:
    """Notification, CheckAlive, Command both ways; QueryBoardInfo from R; SendBoardInfo from S."""
    assert STATELESS[m.QueryBoardInfo] == {Role.RECEIVER}
    assert STATELESS[m.SendBoardInfo] == {Role.SENDER}
    for message_type, senders in STATELESS.items():
        for role in Role:
            expected = Outcome.STATELESS if role in senders else None
            if (role, state, message_type) not in TRANSITIONS:
                assert classify(role, state, message_type) is expected


def test_nothing_is_legal_when_not_connected() -> None:
    """NotConnected, Disconnected and ERROR accept no message at all."""
    for state in (State.NOT_CONNECTED, State.DISCONNECTED, State.ERROR):
        for role in Role:
            assert MOVES[role, state] == {}


def test_moves_agree_with_classify_everywhere() -> None:
    """The precomputed dispatch tables say exactly what classify() says, for every key."""
    for role in Role:
        for state in State:
            for message_type in (*HORIZONTAL_MESSAGES, m.GetConfiguration, m.BoardArrived):
                legal = classify(role, state, message_type) is not None
                assert (message_type in MOVES[role, state]) is legal


def test_the_docs_table_is_up_to_date() -> None:
    """docs/hermes-state-table.md is what render_markdown() produces from the tables."""
    assert DOC.read_text(encoding="utf-8") == render_markdown()


def test_rendered_table_lists_every_transition() -> None:
    """Every transition appears as one Markdown row."""
    text = render_markdown()
    for source, tag, who, target in REFERENCE_ROWS:
        assert f"| {source} | {tag} ({who}) | {target} |" in text
