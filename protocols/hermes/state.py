"""The horizontal Hermes state machine (IPC-HERMES-9852 §3), kept as data.

Both peers of a lane keep the **same** state variable; what differs is who may send each
message. The table below is the whole machine: a key ``(role that sends, state, message
class)`` maps to the state after the message. A key that is missing is an illegal event.

Two explicit sets complete the table (reference §3, "rules the table does not show"):

* ``ACCEPTED_AND_IGNORED``: legal, but the state does not change (the sender announcing the
  next board while the current one is still moving, a BoardForecast while idle).
* ``STATELESS``: legal in every connected state (from SocketConnected on), never change it
  (Notification, CheckAlive, Command, QueryBoardInfo, SendBoardInfo).

Roles follow reference §0: ``Role.SENDER`` is the board sender, whose *Downstream* interface
is the TCP server; ``Role.RECEIVER`` is the board receiver, whose *Upstream* interface is the
TCP client.

``render_markdown()`` draws ``docs/hermes-state-table.md`` from these tables (as h11's docs
draw their diagrams from ``h11/_state.py``), and a test keeps the file up to date.
"""

from __future__ import annotations

import enum

from protocols.errors import LocalProtocolError, RemoteProtocolError
from protocols.hermes.messages import (
    BoardAvailable,
    BoardForecast,
    CheckAlive,
    Command,
    MachineReady,
    Notification,
    QueryBoardInfo,
    RevokeBoardAvailable,
    RevokeMachineReady,
    SendBoardInfo,
    ServiceDescription,
    StartTransport,
    StopTransport,
    TransportFinished,
)
from protocols.hermes.table import Moves, Outcome, compile_moves, everywhere


class Role(enum.Enum):
    """Which side of a lane a peer plays (reference §0)."""

    #: The upstream machine, which hands the board on. Its Downstream interface; TCP server.
    SENDER = "S"
    #: The downstream machine, which takes the board. Its Upstream interface; TCP client.
    RECEIVER = "R"

    @property
    def peer(self) -> Role:
        """The role at the other end of the lane."""
        return Role.RECEIVER if self is Role.SENDER else Role.SENDER


class State(enum.Enum):
    """The states of reference §3, spelled as lib_cpp's ``EState`` spells them."""

    NOT_CONNECTED = "NotConnected"
    SOCKET_CONNECTED = "SocketConnected"
    SERVICE_DESCRIPTION_DOWNSTREAM = "ServiceDescriptionDownstream"
    NOT_AVAILABLE_NOT_READY = "NotAvailableNotReady"
    BOARD_AVAILABLE = "BoardAvailable"
    MACHINE_READY = "MachineReady"
    AVAILABLE_AND_READY = "AvailableAndReady"
    TRANSPORTING = "Transporting"
    TRANSPORT_STOPPED = "TransportStopped"
    TRANSPORT_FINISHED = "TransportFinished"
    DISCONNECTED = "Disconnected"
    #: linegate's own, not the standard's: a protocol error happened and the connection must be
    #: closed after sending the error's Notification (h11's ERROR state).
    ERROR = "Error"


S = Role.SENDER
R = Role.RECEIVER

# Reference §3 table, row by row, in its order. (who sends, from, message) -> to.
TRANSITIONS: dict[tuple[Role, State, type], State] = {
    (R, State.SOCKET_CONNECTED, ServiceDescription): State.SERVICE_DESCRIPTION_DOWNSTREAM,
    (S, State.SERVICE_DESCRIPTION_DOWNSTREAM, ServiceDescription): State.NOT_AVAILABLE_NOT_READY,
    (S, State.NOT_AVAILABLE_NOT_READY, BoardAvailable): State.BOARD_AVAILABLE,
    (R, State.NOT_AVAILABLE_NOT_READY, MachineReady): State.MACHINE_READY,
    (R, State.BOARD_AVAILABLE, MachineReady): State.AVAILABLE_AND_READY,
    (S, State.BOARD_AVAILABLE, RevokeBoardAvailable): State.NOT_AVAILABLE_NOT_READY,
    (S, State.MACHINE_READY, BoardAvailable): State.AVAILABLE_AND_READY,
    (R, State.MACHINE_READY, RevokeMachineReady): State.NOT_AVAILABLE_NOT_READY,
    # Allowed without a BoardAvailable, e.g. behind a non-Hermes upstream machine (§3).
    (R, State.MACHINE_READY, StartTransport): State.TRANSPORTING,
    (R, State.AVAILABLE_AND_READY, StartTransport): State.TRANSPORTING,
    (S, State.AVAILABLE_AND_READY, RevokeBoardAvailable): State.MACHINE_READY,
    (R, State.AVAILABLE_AND_READY, RevokeMachineReady): State.BOARD_AVAILABLE,
    (S, State.TRANSPORTING, TransportFinished): State.TRANSPORT_FINISHED,
    (R, State.TRANSPORTING, StopTransport): State.TRANSPORT_STOPPED,
    (R, State.TRANSPORT_FINISHED, StopTransport): State.NOT_AVAILABLE_NOT_READY,
    (S, State.TRANSPORT_STOPPED, TransportFinished): State.NOT_AVAILABLE_NOT_READY,
}

# Legal, no state change (§3): the sender may announce or revoke the next board while the
# current one moves (lib's receiver forgets it, so the sender repeats it after the cycle);
# BoardForecast is valid while idle or ready (lib's receiver also drops it while moving).
ACCEPTED_AND_IGNORED: frozenset[tuple[Role, State, type]] = frozenset(
    {
        (S, State.TRANSPORTING, BoardAvailable),
        (S, State.TRANSPORT_STOPPED, BoardAvailable),
        (S, State.TRANSPORTING, RevokeBoardAvailable),
        (S, State.TRANSPORT_STOPPED, RevokeBoardAvailable),
        (S, State.NOT_AVAILABLE_NOT_READY, BoardForecast),
        (S, State.MACHINE_READY, BoardForecast),
        (S, State.TRANSPORTING, BoardForecast),
        (S, State.TRANSPORT_STOPPED, BoardForecast),
    }
)

# Valid in every connected state and never change it (§3), with who may send them.
STATELESS: dict[type, frozenset[Role]] = {
    Notification: frozenset({S, R}),
    CheckAlive: frozenset({S, R}),
    Command: frozenset({S, R}),
    QueryBoardInfo: frozenset({R}),
    SendBoardInfo: frozenset({S}),
}

# The states in which a session exists and the stateless messages are valid. lib accepts them
# from SocketConnected on (its state machines drop them only when not connected).
CONNECTED_STATES: frozenset[State] = frozenset(
    set(State) - {State.NOT_CONNECTED, State.DISCONNECTED, State.ERROR}
)

# Everything the horizontal channel carries (an unknown tag is not in here and is ignored).
HORIZONTAL_MESSAGES: tuple[type, ...] = (
    ServiceDescription,
    BoardAvailable,
    RevokeBoardAvailable,
    MachineReady,
    RevokeMachineReady,
    StartTransport,
    StopTransport,
    TransportFinished,
    BoardForecast,
    QueryBoardInfo,
    SendBoardInfo,
    Notification,
    CheckAlive,
    Command,
)


def _stateless_rows() -> list[tuple[Role, State, type]]:
    connected = [state for state in State if state in CONNECTED_STATES]
    return everywhere(STATELESS, connected)


# Precomputed once: (role, state) -> message class -> Move (the state after it, and whether it
# was a transition, accepted and ignored, or stateless). The connection swaps these in on every
# state change (h11's READERS idea): one dict lookup per message, no branching.
MOVES: Moves[Role, State] = compile_moves(
    Role, State, transitions=TRANSITIONS, ignored=ACCEPTED_AND_IGNORED, stateless=_stateless_rows()
)


def legal_moves(role: Role, state: State) -> dict[type, State]:
    """All messages ``role`` may send in ``state``, with the state each one leads to.

    Args:
        role: who sends.
        state: the current state.

    Returns:
        message class → next state (the same state for ignored and stateless messages).
    """
    return {kind: move.target for kind, move in MOVES[role, state].items()}


def classify(role: Role, state: State, message_type: type) -> Outcome | None:
    """Say whether ``message_type`` sent by ``role`` in ``state`` is legal, and how.

    Returns:
        the outcome, or None when the event is illegal.
    """
    move = MOVES[role, state].get(message_type)
    return None if move is None else move.outcome


def illegal_event_text(role: Role, state: State, message_type: type) -> str:
    """The error text for an illegal event: names the event, the role and the state."""
    who = "board sender" if role is Role.SENDER else "board receiver"
    return (
        f"{message_type.__name__} from the {who} is not allowed in state {state.value} (IPC-HERMES-9852 §3)"
    )


def next_state(role: Role, state: State, message_type: type, *, local: bool) -> State:
    """Apply one message to the state.

    Args:
        role: who sends the message.
        state: the current state.
        message_type: the message class.
        local: True when we send it (an illegal event is then our bug).

    Returns:
        the state after the message.

    Raises:
        LocalProtocolError: ``local`` and the event is illegal.
        RemoteProtocolError: not ``local`` and the event is illegal.
    """
    try:
        return MOVES[role, state][message_type].target
    except KeyError:
        error = LocalProtocolError if local else RemoteProtocolError
        raise error(illegal_event_text(role, state, message_type)) from None


def render_markdown() -> str:
    """Render the tables of this module as the Markdown of ``docs/hermes-state-table.md``.

    Returns:
        the document text, ending with a newline.
    """
    lines = [
        "# Hermes horizontal state table",
        "",
        "Generated from `protocols/hermes/state.py` by `render_markdown()`; do not edit by hand.",
        "Regenerate with `python -m protocols.hermes.state > docs/hermes-state-table.md`.",
        "",
        "S = board sender (Downstream interface, TCP server); R = board receiver (Upstream",
        "interface, TCP client). Both peers keep the same state (IPC-HERMES-9852 §3).",
        "",
        "## Transitions",
        "",
        "| From | Message (who sends) | To |",
        "|---|---|---|",
    ]
    for (role, state, message_type), target in TRANSITIONS.items():
        lines.append(f"| {state.value} | {message_type.__name__} ({role.value}) | {target.value} |")
    lines += [
        "",
        "## Accepted and ignored (no state change)",
        "",
        "| State | Message (who sends) |",
        "|---|---|",
    ]
    order = {state: index for index, state in enumerate(State)}
    for role, state, message_type in sorted(
        ACCEPTED_AND_IGNORED, key=lambda key: (order[key[1]], key[2].__name__)
    ):
        lines.append(f"| {state.value} | {message_type.__name__} ({role.value}) |")
    lines += [
        "",
        "## Stateless (valid in every connected state, no state change)",
        "",
        "| Message | Who sends |",
        "|---|---|",
    ]
    for message_type, senders in STATELESS.items():
        who = ", ".join(sorted(role.value for role in senders))
        lines.append(f"| {message_type.__name__} | {who} |")
    lines += [
        "",
        "Connected states: " + ", ".join(state.value for state in State if state in CONNECTED_STATES) + ".",
        "",
        "Any other (state, message, sender) is a protocol error: Notification code 1 (ProtocolError),",
        "severity 1 (Fatal), then the connection closes.",
        "",
    ]
    return "\n".join(lines)


__all__ = [
    "ACCEPTED_AND_IGNORED",
    "CONNECTED_STATES",
    "HORIZONTAL_MESSAGES",
    "MOVES",
    "STATELESS",
    "TRANSITIONS",
    "Outcome",
    "Role",
    "State",
    "classify",
    "illegal_event_text",
    "legal_moves",
    "next_state",
    "render_markdown",
]


if __name__ == "__main__":  # pragma: no cover
    print(render_markdown(), end="")
