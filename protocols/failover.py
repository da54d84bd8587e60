"""The order a client tries a cluster's nodes in, one round at a time.

Shared by every client that takes a node list (the CFX publisher and subscriber, the MQTT sink,
the trace consumer), so that "which node next" means the same everywhere.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

Node = TypeVar("Node")

#: ``in_order``: the list's order, from the node after the last one used; ``random``: a fresh
#: shuffle per round.
FAILOVER = ("in_order", "random")


def next_round(
    nodes: Sequence[Node], last: Node | None, failover: str = "in_order", rng: random.Random | None = None
) -> list[Node]:
    """The nodes to try in a new round. The one we were on (just lost, or just failed) comes
    last, so a dead node is not the first one tried again.

    Raises:
        ValueError: ``failover`` is not one of :data:`FAILOVER`.
    """
    if failover not in FAILOVER:
        raise ValueError(f"failover must be one of {', '.join(FAILOVER)}, not {failover!r}")
    order = list(nodes)
    if failover == "random":
        (rng or random).shuffle(order)
    if last is not None and last in order and len(order) > 1:
        if failover == "in_order":
            start = order.index(last) + 1
            order = order[start:] + order[:start]
        else:
            order.remove(last)
            order.append(last)
    return order


__all__ = ["FAILOVER", "next_round"]
