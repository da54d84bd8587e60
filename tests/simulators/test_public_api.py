"""``simulators`` exports exactly its ``__all__``: users' fixtures import it, so its surface is API."""

from __future__ import annotations

import types

import simulators


def test_every_public_name_is_in_all() -> None:
    """Nothing public leaks: each non-underscore attribute is in __all__ or is one of our modules."""
    leaked = [
        name
        for name in dir(simulators)
        if not name.startswith("_")
        and name not in simulators.__all__
        and not (
            isinstance(getattr(simulators, name), types.ModuleType)
            and getattr(simulators, name).__name__.startswith("simulators.")
        )
    ]
    assert leaked == []


def test_all_names_exist_and_are_ours() -> None:
    """Every exported name resolves to something defined in simulators, or in protocols (the CFX
    enums the machines report in), not a third-party re-export."""
    for name in simulators.__all__:
        member = getattr(simulators, name)
        if isinstance(member, types.UnionType):  # a type alias such as MachineEvent
            assert all(arg.__module__.startswith("simulators.") for arg in member.__args__), name
            continue
        assert member.__module__.startswith(("simulators.", "protocols.")), (name, member.__module__)


def test_all_is_sorted_and_unique() -> None:
    """__all__ has no duplicates and is kept sorted, so additions show in review."""
    assert list(simulators.__all__) == sorted(set(simulators.__all__))
