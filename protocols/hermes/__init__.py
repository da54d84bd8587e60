"""Hermes (IPC-HERMES-9852 1.6): board handoff between machines, sans-IO.

- :mod:`protocols.hermes.messages`: one frozen value object per message, the enumerations.
- :mod:`protocols.hermes.codec`: hardened XML reading, canonical writing.
- :mod:`protocols.hermes.framing`: message boundaries in a TCP byte stream.
- :mod:`protocols.hermes.state`: the horizontal state table (reference §3) as data.
- :mod:`protocols.hermes.connection`, :mod:`~protocols.hermes.vertical`,
  :mod:`~protocols.hermes.configuration`: h11-style connections (bytes in, events out).

The asyncio endpoints (lanes, vertical and configuration servers and clients) live in
:mod:`protocols.hermes.transport`, so importing the protocol core pulls in no asyncio.

The names below are re-exported here; see each module for the details.
"""

from __future__ import annotations

from protocols.hermes.codec import (
    MAX_MESSAGE_SIZE,
    HermesDecodeError,
    decode,
    encode,
    format_timestamp,
    message_from_tree,
)
from protocols.hermes.configuration import ConfigurationConnection, ConfigurationRole
from protocols.hermes.connection import CLOSED, NEED_DATA, HorizontalConnection
from protocols.hermes.framing import Framer, HermesFramingError
from protocols.hermes.messages import *  # noqa: F403
from protocols.hermes.messages import __all__ as _messages_all
from protocols.hermes.state import Role, State
from protocols.hermes.table import Outcome
from protocols.hermes.vertical import VerticalConnection, VerticalRole, VerticalState

__all__ = [
    *_messages_all,
    "CLOSED",
    "Outcome",
    "MAX_MESSAGE_SIZE",
    "NEED_DATA",
    "ConfigurationConnection",
    "ConfigurationRole",
    "Framer",
    "HermesDecodeError",
    "HermesFramingError",
    "HorizontalConnection",
    "Role",
    "State",
    "VerticalConnection",
    "VerticalRole",
    "VerticalState",
    "decode",
    "encode",
    "format_timestamp",
    "message_from_tree",
]
