"""asyncio endpoints for Hermes: lanes, configuration service, vertical channel.

The only place under ``protocols/hermes`` that does I/O; the protocol rules live in the sans-IO
cores beside it (:mod:`protocols.hermes.connection`, ``vertical``, ``configuration``).
"""

from __future__ import annotations

from protocols.hermes.transport.configuration import (
    ConfigurationRejected,
    ConfigurationServer,
    get_configuration,
    set_configuration,
)
from protocols.hermes.transport.lane import (
    BASE_PORT,
    HERMES_VERSION,
    LaneDisconnected,
    ReceiverLane,
    SenderLane,
    lane_port,
)
from protocols.hermes.transport.stream import HermesConnectionClosed, HermesStream
from protocols.hermes.transport.vertical import VerticalClient, VerticalServer, VerticalSession

__all__ = [
    "BASE_PORT",
    "HERMES_VERSION",
    "ConfigurationRejected",
    "ConfigurationServer",
    "HermesConnectionClosed",
    "HermesStream",
    "LaneDisconnected",
    "ReceiverLane",
    "SenderLane",
    "VerticalClient",
    "VerticalServer",
    "VerticalSession",
    "get_configuration",
    "lane_port",
    "set_configuration",
]
