"""next_round: the node lost or failed last is tried last; in order, the one after it first."""

from __future__ import annotations

import random

import pytest

from protocols.failover import next_round

NODES = ["a", "b", "c"]


def test_in_order_starts_after_the_node_last_used() -> None:
    assert next_round(NODES, None) == ["a", "b", "c"]
    assert next_round(NODES, "a") == ["b", "c", "a"]
    assert next_round(NODES, "c") == ["a", "b", "c"]
    assert next_round(["a"], "a") == ["a"]


def test_random_puts_the_last_node_last_and_covers_every_node() -> None:
    rng = random.Random(7)
    for _ in range(50):
        order = next_round(NODES, "b", "random", rng)
        assert sorted(order) == NODES and order[-1] == "b"


def test_an_unknown_failover_is_refused() -> None:
    with pytest.raises(ValueError, match="in_order, random"):
        next_round(NODES, None, "round_robin")
