"""Hermes enumerations (reference §2.4), as :class:`enum.IntEnum` with the values on the wire.

Every enumeration has a 0 member: the standard defines it for most of them, and lib_cpp reads an
out-of-range value as 0, which our decoder copies. Re-exported by :mod:`protocols.hermes.messages`.
"""

from __future__ import annotations

from enum import IntEnum

# --------------------------------------------------------------------------------------------
# Enumerations (reference §2.4)
# --------------------------------------------------------------------------------------------


class BoardQuality(IntEnum):
    """``FailedBoard``: the quality of a board, or which quality a receiver accepts."""

    ANY = 0
    GOOD = 1
    FAILED = 2


class FlippedBoard(IntEnum):
    """``FlippedBoard``: which side of the board is up."""

    SIDE_UP_IS_UNKNOWN = 0
    TOP_SIDE_IS_UP = 1
    BOTTOM_SIDE_IS_UP = 2


class TransferState(IntEnum):
    """``TransferState`` of TransportFinished and StopTransport (0 exists in lib only)."""

    UNKNOWN = 0
    NOT_STARTED = 1
    INCOMPLETE = 2
    COMPLETE = 3


class NotificationCode(IntEnum):
    """``NotificationCode`` of a Notification."""

    UNSPECIFIC = 0
    PROTOCOL_ERROR = 1
    CONNECTION_REFUSED_BECAUSE_OF_ESTABLISHED_CONNECTION = 2
    CONNECTION_RESET_BECAUSE_OF_CHANGED_CONFIGURATION = 3
    CONFIGURATION_ERROR = 4
    MACHINE_SHUTDOWN = 5
    BOARD_FORECAST_ERROR = 6


class SeverityType(IntEnum):
    """``Severity`` of a Notification (0 exists in lib only)."""

    UNKNOWN = 0
    FATAL = 1
    ERROR = 2
    WARNING = 3
    INFO = 4


class CheckAliveType(IntEnum):
    """``Type`` of a CheckAlive: a Ping asks for a Pong with the same ``Id``."""

    UNKNOWN = 0
    PING = 1
    PONG = 2


class SubBoardState(IntEnum):
    """``St`` of a sub-board (``<SB>``) in ``<SubBoards>``."""

    UNKNOWN = 0
    GOOD = 1
    FAILED = 2
    MISSING = 3
    SKIP = 4


class BoardArrivedTransfer(IntEnum):
    """``BoardTransfer`` of BoardArrived: how the board got into the machine (0: lib's unknown)."""

    UNKNOWN = 0
    TRANSFERRED = 1
    LOADED = 2
    INSERTED = 3


class BoardDepartedTransfer(IntEnum):
    """``BoardTransfer`` of BoardDeparted: how the board left the machine (0: lib's unknown)."""

    UNKNOWN = 0
    TRANSFERRED = 1
    UNLOADED = 2
    REMOVED = 3


class ReplyWorkOrderInfoStatus(IntEnum):
    """``Status`` of ReplyWorkOrderInfo."""

    REJECTED = 0
    ACCEPTED_AND_READY = 1
    ACCEPTED_AND_QUEUED = 2


# Route and Action are plain u16 on the wire, not enumerations; these are the spec-table values
# ([c#], reference §2.4; lib's cROUTE_UNDEFINED=999 / cACTION_UNDEFINED=1 disagree with the tables).
ROUTE_UNDEFINED = 0
ROUTE_RETURN_BOARD = 900
ROUTE_MANUAL_REMOVAL = 999
ACTION_UNDEFINED = 0
ACTION_PROCESS = 1
ACTION_PASS_THROUGH = 2


__all__ = [
    "ACTION_PASS_THROUGH",
    "ACTION_PROCESS",
    "ACTION_UNDEFINED",
    "ROUTE_MANUAL_REMOVAL",
    "ROUTE_RETURN_BOARD",
    "ROUTE_UNDEFINED",
    "BoardArrivedTransfer",
    "BoardDepartedTransfer",
    "BoardQuality",
    "CheckAliveType",
    "FlippedBoard",
    "NotificationCode",
    "ReplyWorkOrderInfoStatus",
    "SeverityType",
    "SubBoardState",
    "TransferState",
]
