"""Hermes (IPC-HERMES-9852 1.6) messages as frozen value objects, one class per XML element.

Class names are the element names of the standard; fields are the snake_case of the attribute
names (``BoardId`` -> ``board_id``). Mandatory attributes have no default, optional ones default
to ``None`` (reference §2). Only :mod:`protocols.hermes.codec` knows the wire spelling.

The enumerations (:mod:`protocols.hermes.enums`) and the nested elements such as features and
sub-boards (:mod:`protocols.hermes.elements`) are re-exported here, so this module is the one
place to import message types from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from protocols.hermes.elements import (
    CapabilityAttributes,
    DownstreamConfiguration,
    FeatureBoardForecast,
    FeatureBoardTracking,
    FeatureCheckAliveResponse,
    FeatureCommand,
    FeatureConfiguration,
    FeatureQueryBoardInfo,
    FeatureQueryHermesCapabilities,
    FeatureQueryWorkOrderInfo,
    FeatureReplyWorkOrderInfo,
    FeatureSendBoardInfo,
    FeatureSendHermesCapabilities,
    FeatureSendWorkOrderInfo,
    OptionalMessages,
    SubBoard,
    SupervisoryFeatures,
    SupportedFeatures,
    UpstreamConfiguration,
)
from protocols.hermes.enums import (
    ACTION_PASS_THROUGH,
    ACTION_PROCESS,
    ACTION_UNDEFINED,
    ROUTE_MANUAL_REMOVAL,
    ROUTE_RETURN_BOARD,
    ROUTE_UNDEFINED,
    BoardArrivedTransfer,
    BoardDepartedTransfer,
    BoardQuality,
    CheckAliveType,
    FlippedBoard,
    NotificationCode,
    ReplyWorkOrderInfoStatus,
    SeverityType,
    SubBoardState,
    TransferState,
)

# Shared defaults: the nested elements are frozen, so one empty instance serves every message.
_NO_FEATURES = SupportedFeatures()
_NO_SUPERVISORY_FEATURES = SupervisoryFeatures()
_NO_OPTIONAL_MESSAGES = OptionalMessages()
_NO_ATTRIBUTES = CapabilityAttributes()


# --------------------------------------------------------------------------------------------
# Horizontal channel (reference §2.1)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServiceDescription:
    """The first message of a horizontal session, in both directions."""

    TAG: ClassVar[str] = "ServiceDescription"

    machine_id: str
    lane_id: int
    version: str
    supported_features: SupportedFeatures = _NO_FEATURES
    interface_id: str | None = None


@dataclass(frozen=True, slots=True)
class BoardAvailable:
    """Sender → receiver: a board is ready to leave."""

    TAG: ClassVar[str] = "BoardAvailable"

    board_id: str
    board_id_created_by: str
    failed_board: BoardQuality
    flipped_board: FlippedBoard
    product_type_id: str | None = None
    top_barcode: str | None = None
    bottom_barcode: str | None = None
    length: float | None = None
    width: float | None = None
    thickness: float | None = None
    conveyor_speed: float | None = None
    top_clearance_height: float | None = None
    bottom_clearance_height: float | None = None
    weight: float | None = None
    work_order_id: str | None = None
    batch_id: str | None = None
    route: int | None = None
    action: int | None = None
    sub_boards: tuple[SubBoard, ...] = ()


@dataclass(frozen=True, slots=True)
class RevokeBoardAvailable:
    """Sender → receiver: the announced board is no longer available."""

    TAG: ClassVar[str] = "RevokeBoardAvailable"


@dataclass(frozen=True, slots=True)
class MachineReady:
    """Receiver → sender: ready to take a board of the given quality."""

    TAG: ClassVar[str] = "MachineReady"

    failed_board: BoardQuality
    forecast_id: str | None = None
    board_id: str | None = None
    product_type_id: str | None = None
    flipped_board: FlippedBoard | None = None
    top_barcode: str | None = None
    bottom_barcode: str | None = None
    length: float | None = None
    width: float | None = None
    thickness: float | None = None
    conveyor_speed: float | None = None
    top_clearance_height: float | None = None
    bottom_clearance_height: float | None = None
    weight: float | None = None
    work_order_id: str | None = None
    batch_id: str | None = None


@dataclass(frozen=True, slots=True)
class RevokeMachineReady:
    """Receiver → sender: no longer ready."""

    TAG: ClassVar[str] = "RevokeMachineReady"


@dataclass(frozen=True, slots=True)
class StartTransport:
    """Receiver → sender: start conveying the board (at ``conveyor_speed`` mm/s if given)."""

    TAG: ClassVar[str] = "StartTransport"

    board_id: str
    conveyor_speed: float | None = None


@dataclass(frozen=True, slots=True)
class StopTransport:
    """Receiver → sender: the board arrived, or the receiver stopped the transfer."""

    TAG: ClassVar[str] = "StopTransport"

    transfer_state: TransferState
    board_id: str


@dataclass(frozen=True, slots=True)
class TransportFinished:
    """Sender → receiver: the sender finished conveying the board."""

    TAG: ClassVar[str] = "TransportFinished"

    transfer_state: TransferState
    board_id: str


@dataclass(frozen=True, slots=True)
class BoardForecast:
    """Sender → receiver (FeatureBoardForecast): a board will be available soon."""

    TAG: ClassVar[str] = "BoardForecast"

    failed_board: BoardQuality
    flipped_board: FlippedBoard
    forecast_id: str | None = None
    time_until_available: float | None = None
    board_id: str | None = None
    board_id_created_by: str | None = None
    product_type_id: str | None = None
    top_barcode: str | None = None
    bottom_barcode: str | None = None
    length: float | None = None
    width: float | None = None
    thickness: float | None = None
    conveyor_speed: float | None = None
    top_clearance_height: float | None = None
    bottom_clearance_height: float | None = None
    weight: float | None = None
    work_order_id: str | None = None
    batch_id: str | None = None


@dataclass(frozen=True, slots=True)
class QueryBoardInfo:
    """Receiver → sender (FeatureQueryBoardInfo): what do you know about this barcode?"""

    TAG: ClassVar[str] = "QueryBoardInfo"

    top_barcode: str | None = None
    bottom_barcode: str | None = None


@dataclass(frozen=True, slots=True)
class SendBoardInfo:
    """Sender → receiver: the answer to QueryBoardInfo; all fields empty for an unknown board."""

    TAG: ClassVar[str] = "SendBoardInfo"

    board_id: str | None = None
    board_id_created_by: str | None = None
    failed_board: BoardQuality | None = None
    product_type_id: str | None = None
    flipped_board: FlippedBoard | None = None
    top_barcode: str | None = None
    bottom_barcode: str | None = None
    length: float | None = None
    width: float | None = None
    thickness: float | None = None
    conveyor_speed: float | None = None
    top_clearance_height: float | None = None
    bottom_clearance_height: float | None = None
    weight: float | None = None
    work_order_id: str | None = None
    batch_id: str | None = None
    route: int | None = None
    action: int | None = None
    sub_boards: tuple[SubBoard, ...] = ()


@dataclass(frozen=True, slots=True)
class Notification:
    """Both directions, every channel: an event or error, e.g. code 1/Fatal before a close."""

    TAG: ClassVar[str] = "Notification"

    notification_code: NotificationCode
    severity: SeverityType
    description: str


@dataclass(frozen=True, slots=True)
class CheckAlive:
    """Both directions: a keep-alive (no type), a Ping, or the Pong echoing the Ping's ``id``."""

    TAG: ClassVar[str] = "CheckAlive"

    type: CheckAliveType | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Command:
    """Both directions (1.6, FeatureCommand): an application-defined command number."""

    TAG: ClassVar[str] = "Command"

    command: int


# --------------------------------------------------------------------------------------------
# Configuration service (reference §2.2)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GetConfiguration:
    """Configuration client → machine: send me your CurrentConfiguration."""

    TAG: ClassVar[str] = "GetConfiguration"


@dataclass(frozen=True, slots=True)
class SetConfiguration:
    """Configuration client → machine: use these lanes and ports."""

    TAG: ClassVar[str] = "SetConfiguration"

    machine_id: str
    supervisory_system_port: int | None = None
    upstream_configurations: tuple[UpstreamConfiguration, ...] = ()
    downstream_configurations: tuple[DownstreamConfiguration, ...] = ()


@dataclass(frozen=True, slots=True)
class CurrentConfiguration:
    """Machine → configuration client: the configuration in use (``machine_id`` optional here)."""

    TAG: ClassVar[str] = "CurrentConfiguration"

    machine_id: str | None = None
    supervisory_system_port: int | None = None
    upstream_configurations: tuple[UpstreamConfiguration, ...] = ()
    downstream_configurations: tuple[DownstreamConfiguration, ...] = ()


# --------------------------------------------------------------------------------------------
# Vertical channel (reference §2.3)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SupervisoryServiceDescription:
    """The first message of a vertical session: the supervisory client sends it, the machine answers."""

    TAG: ClassVar[str] = "SupervisoryServiceDescription"

    system_id: str
    version: str
    supported_features: SupervisoryFeatures = _NO_SUPERVISORY_FEATURES


@dataclass(frozen=True, slots=True)
class BoardArrived:
    """Machine → supervisory system: a board entered the machine."""

    TAG: ClassVar[str] = "BoardArrived"

    machine_id: str
    upstream_lane_id: int
    board_transfer: BoardArrivedTransfer
    board_id: str
    board_id_created_by: str
    failed_board: BoardQuality
    flipped_board: FlippedBoard
    upstream_interface_id: str | None = None
    magazine_id: str | None = None
    slot_id: int | None = None
    product_type_id: str | None = None
    top_barcode: str | None = None
    bottom_barcode: str | None = None
    length: float | None = None
    width: float | None = None
    thickness: float | None = None
    conveyor_speed: float | None = None
    top_clearance_height: float | None = None
    bottom_clearance_height: float | None = None
    weight: float | None = None
    work_order_id: str | None = None
    batch_id: str | None = None
    route: int | None = None
    action: int | None = None
    sub_boards: tuple[SubBoard, ...] = ()


@dataclass(frozen=True, slots=True)
class BoardDeparted:
    """Machine → supervisory system: a board left the machine."""

    TAG: ClassVar[str] = "BoardDeparted"

    machine_id: str
    downstream_lane_id: int
    board_transfer: BoardDepartedTransfer
    board_id: str
    board_id_created_by: str
    failed_board: BoardQuality
    flipped_board: FlippedBoard
    downstream_interface_id: str | None = None
    magazine_id: str | None = None
    slot_id: int | None = None
    product_type_id: str | None = None
    top_barcode: str | None = None
    bottom_barcode: str | None = None
    length: float | None = None
    width: float | None = None
    thickness: float | None = None
    conveyor_speed: float | None = None
    top_clearance_height: float | None = None
    bottom_clearance_height: float | None = None
    weight: float | None = None
    work_order_id: str | None = None
    batch_id: str | None = None
    route: int | None = None
    action: int | None = None
    sub_boards: tuple[SubBoard, ...] = ()


@dataclass(frozen=True, slots=True)
class QueryWorkOrderInfo:
    """Machine → supervisory system: which work order does this board (or slot) belong to?"""

    TAG: ClassVar[str] = "QueryWorkOrderInfo"

    machine_id: str
    query_id: str | None = None
    magazine_id: str | None = None
    slot_id: int | None = None
    barcode: str | None = None
    work_order_id: str | None = None
    batch_id: str | None = None


@dataclass(frozen=True, slots=True)
class SendWorkOrderInfo:
    """Supervisory system → machine: the work order and board data."""

    TAG: ClassVar[str] = "SendWorkOrderInfo"

    query_id: str | None = None
    work_order_id: str | None = None
    batch_id: str | None = None
    board_id: str | None = None
    board_id_created_by: str | None = None
    failed_board: BoardQuality | None = None
    product_type_id: str | None = None
    flipped_board: FlippedBoard | None = None
    top_barcode: str | None = None
    bottom_barcode: str | None = None
    length: float | None = None
    width: float | None = None
    thickness: float | None = None
    conveyor_speed: float | None = None
    top_clearance_height: float | None = None
    bottom_clearance_height: float | None = None
    weight: float | None = None
    route: int | None = None
    action: int | None = None
    sub_boards: tuple[SubBoard, ...] = ()


@dataclass(frozen=True, slots=True)
class ReplyWorkOrderInfo:
    """Machine → supervisory system (1.6): accepted or rejected a work order."""

    TAG: ClassVar[str] = "ReplyWorkOrderInfo"

    work_order_id: str
    status: ReplyWorkOrderInfoStatus
    batch_id: str | None = None


@dataclass(frozen=True, slots=True)
class QueryHermesCapabilities:
    """Supervisory system → machine (1.6): which optional messages and fields do you support?"""

    TAG: ClassVar[str] = "QueryHermesCapabilities"


@dataclass(frozen=True, slots=True)
class SendHermesCapabilities:
    """Machine → supervisory system (1.6): the answer to QueryHermesCapabilities."""

    TAG: ClassVar[str] = "SendHermesCapabilities"

    optional_messages: OptionalMessages = _NO_OPTIONAL_MESSAGES
    attributes: CapabilityAttributes = _NO_ATTRIBUTES


@dataclass(frozen=True, slots=True)
class UnknownMessage:
    """A message element we do not know; the standard says to ignore it (reference §2)."""

    tag: str


Message = (
    ServiceDescription
    | BoardAvailable
    | RevokeBoardAvailable
    | MachineReady
    | RevokeMachineReady
    | StartTransport
    | StopTransport
    | TransportFinished
    | BoardForecast
    | QueryBoardInfo
    | SendBoardInfo
    | Notification
    | CheckAlive
    | Command
    | GetConfiguration
    | SetConfiguration
    | CurrentConfiguration
    | SupervisoryServiceDescription
    | BoardArrived
    | BoardDeparted
    | QueryWorkOrderInfo
    | SendWorkOrderInfo
    | ReplyWorkOrderInfo
    | QueryHermesCapabilities
    | SendHermesCapabilities
)

#: Every message class, in the order of reference §2.
MESSAGE_TYPES: tuple[type[Message], ...] = (
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
    GetConfiguration,
    SetConfiguration,
    CurrentConfiguration,
    SupervisoryServiceDescription,
    BoardArrived,
    BoardDeparted,
    QueryWorkOrderInfo,
    SendWorkOrderInfo,
    ReplyWorkOrderInfo,
    QueryHermesCapabilities,
    SendHermesCapabilities,
)

#: Message class by XML element name.
MESSAGE_BY_TAG: dict[str, type[Message]] = {cls.TAG: cls for cls in MESSAGE_TYPES}

__all__ = [
    "ACTION_PASS_THROUGH",
    "ACTION_PROCESS",
    "ACTION_UNDEFINED",
    "MESSAGE_BY_TAG",
    "MESSAGE_TYPES",
    "ROUTE_MANUAL_REMOVAL",
    "ROUTE_RETURN_BOARD",
    "ROUTE_UNDEFINED",
    "BoardArrived",
    "BoardArrivedTransfer",
    "BoardAvailable",
    "BoardDeparted",
    "BoardDepartedTransfer",
    "BoardForecast",
    "BoardQuality",
    "CapabilityAttributes",
    "CheckAlive",
    "CheckAliveType",
    "Command",
    "CurrentConfiguration",
    "DownstreamConfiguration",
    "FeatureBoardForecast",
    "FeatureBoardTracking",
    "FeatureCheckAliveResponse",
    "FeatureCommand",
    "FeatureConfiguration",
    "FeatureQueryBoardInfo",
    "FeatureQueryHermesCapabilities",
    "FeatureQueryWorkOrderInfo",
    "FeatureReplyWorkOrderInfo",
    "FeatureSendBoardInfo",
    "FeatureSendHermesCapabilities",
    "FeatureSendWorkOrderInfo",
    "FlippedBoard",
    "GetConfiguration",
    "MachineReady",
    "Message",
    "Notification",
    "NotificationCode",
    "OptionalMessages",
    "QueryBoardInfo",
    "QueryHermesCapabilities",
    "QueryWorkOrderInfo",
    "ReplyWorkOrderInfo",
    "ReplyWorkOrderInfoStatus",
    "RevokeBoardAvailable",
    "RevokeMachineReady",
    "SendBoardInfo",
    "SendHermesCapabilities",
    "SendWorkOrderInfo",
    "ServiceDescription",
    "SetConfiguration",
    "SeverityType",
    "StartTransport",
    "StopTransport",
    "SubBoard",
    "SubBoardState",
    "SupervisoryFeatures",
    "SupervisoryServiceDescription",
    "SupportedFeatures",
    "TransferState",
    "TransportFinished",
    "UnknownMessage",
    "UpstreamConfiguration",
]
