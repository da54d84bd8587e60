"""asyncio helpers shared by every server linegate runs (Hermes, the CFX listener's gate, HTTP)."""

from __future__ import annotations

from protocols.transport.guard import (
    DROPS,
    GuardedProtocol,
    PeerGuard,
    PeerLimits,
    guard_of,
    start_guarded_server,
)

__all__ = ["DROPS", "GuardedProtocol", "PeerGuard", "PeerLimits", "guard_of", "start_guarded_server"]
