"""One way to turn a Hermes channel's rules into the per-state move tables its connection uses.

Every channel (horizontal §3, vertical §2.3, configuration §2.2) states its rules as three kinds
of rows, keyed ``(role that sends, state, message class)``:

* **transitions**: the message is legal and leads to the given state (possibly the same one);
* **ignored**: legal, accepted, and the state does not change (horizontal §3: BoardAvailable
  while Transporting);
* **stateless**: legal and never about the state (Notification, CheckAlive, ...).

:func:`compile_moves` folds the rows into ``(role, state) -> {message class: Move}``, the table
a connection swaps in on each state change (h11's READERS idea), so that one dict lookup per
message says both whether it is legal and what it does. No channel builds its table any other way.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Generic, NamedTuple, TypeVar

RoleT = TypeVar("RoleT", bound=enum.Enum)
StateT = TypeVar("StateT", bound=enum.Enum)

#: A row key: (role that sends, state, message class).
Key = tuple[RoleT, StateT, type]


class Outcome(enum.Enum):
    """What a legal message does to the state; ``next_event()`` and ``send()`` report it."""

    #: A row of the transition table (the state may stay the same, e.g. SetConfiguration).
    TRANSITION = "transition"
    #: Legal, accepted, and the state does not change (horizontal §3).
    IGNORED = "accepted and ignored"
    #: Valid in every state where it is listed; never about the state.
    STATELESS = "stateless"


class Move(NamedTuple, Generic[StateT]):
    """One legal message in one state: where it leads and how."""

    target: StateT
    outcome: Outcome


#: (role, state) -> message class -> Move.
Moves = dict[tuple[RoleT, StateT], dict[type, Move[StateT]]]


def everywhere(
    senders: Mapping[type, Iterable[RoleT]], states: Iterable[StateT]
) -> list[tuple[RoleT, StateT, type]]:
    """Rows for messages valid in each of ``states``, sent by the roles listed for each."""
    states = tuple(states)
    return [(role, state, kind) for kind, roles in senders.items() for role in roles for state in states]


def compile_moves(
    roles: Iterable[RoleT],
    states: Iterable[StateT],
    *,
    transitions: Mapping[tuple[RoleT, StateT, type], StateT],
    ignored: Iterable[tuple[RoleT, StateT, type]] = (),
    stateless: Iterable[tuple[RoleT, StateT, type]] = (),
) -> Moves[RoleT, StateT]:
    """Fold a channel's rows into its per-(role, state) move tables.

    Where rows overlap, a transition beats an ignored row, which beats a stateless one (the
    configuration channel's Notification answers a pending GetConfiguration, a transition, and
    is stateless otherwise).

    Returns:
        a table for every (role, state) pair, empty where nothing is legal.
    """
    moves: Moves[RoleT, StateT] = {(role, state): {} for role in roles for state in states}
    for role, state, kind in stateless:
        moves[role, state][kind] = Move(state, Outcome.STATELESS)
    for role, state, kind in ignored:
        moves[role, state][kind] = Move(state, Outcome.IGNORED)
    for (role, state, kind), target in transitions.items():
        moves[role, state][kind] = Move(target, Outcome.TRANSITION)
    return moves


__all__ = ["Move", "Moves", "Outcome", "compile_moves", "everywhere"]
