"""Elements nested inside Hermes messages: feature markers, sub-boards, lane configurations.

A feature (``<FeatureBoardForecast/>``) is an empty marker object; a peer announces it by
including the element, so :class:`SupportedFeatures` has one optional field per feature, and
``features.feature_board_forecast is not None`` asks whether the peer has it. Re-exported by
:mod:`protocols.hermes.messages`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from protocols.hermes.enums import SubBoardState

# --------------------------------------------------------------------------------------------
# Features and nested elements
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeatureBoardForecast:
    """Marker ``<FeatureBoardForecast/>``: the peer handles BoardForecast."""

    TAG: ClassVar[str] = "FeatureBoardForecast"


@dataclass(frozen=True, slots=True)
class FeatureCheckAliveResponse:
    """Marker ``<FeatureCheckAliveResponse/>``: the peer answers a Ping with a Pong."""

    TAG: ClassVar[str] = "FeatureCheckAliveResponse"


@dataclass(frozen=True, slots=True)
class FeatureQueryBoardInfo:
    """Marker ``<FeatureQueryBoardInfo/>``: the peer handles QueryBoardInfo."""

    TAG: ClassVar[str] = "FeatureQueryBoardInfo"


@dataclass(frozen=True, slots=True)
class FeatureSendBoardInfo:
    """Marker ``<FeatureSendBoardInfo/>``: the peer handles SendBoardInfo."""

    TAG: ClassVar[str] = "FeatureSendBoardInfo"


@dataclass(frozen=True, slots=True)
class FeatureCommand:
    """Marker ``<FeatureCommand/>`` (1.6): the peer handles Command."""

    TAG: ClassVar[str] = "FeatureCommand"


@dataclass(frozen=True, slots=True)
class FeatureConfiguration:
    """Marker ``<FeatureConfiguration/>`` (vertical channel)."""

    TAG: ClassVar[str] = "FeatureConfiguration"


@dataclass(frozen=True, slots=True)
class FeatureBoardTracking:
    """Marker ``<FeatureBoardTracking/>`` (vertical): BoardArrived and BoardDeparted."""

    TAG: ClassVar[str] = "FeatureBoardTracking"


@dataclass(frozen=True, slots=True)
class FeatureQueryWorkOrderInfo:
    """Marker ``<FeatureQueryWorkOrderInfo/>`` (vertical)."""

    TAG: ClassVar[str] = "FeatureQueryWorkOrderInfo"


@dataclass(frozen=True, slots=True)
class FeatureSendWorkOrderInfo:
    """Marker ``<FeatureSendWorkOrderInfo/>`` (vertical)."""

    TAG: ClassVar[str] = "FeatureSendWorkOrderInfo"


@dataclass(frozen=True, slots=True)
class FeatureReplyWorkOrderInfo:
    """Marker ``<FeatureReplyWorkOrderInfo/>`` (vertical, 1.6)."""

    TAG: ClassVar[str] = "FeatureReplyWorkOrderInfo"


@dataclass(frozen=True, slots=True)
class FeatureQueryHermesCapabilities:
    """Marker ``<FeatureQueryHermesCapabilities/>`` (vertical, 1.6)."""

    TAG: ClassVar[str] = "FeatureQueryHermesCapabilities"


@dataclass(frozen=True, slots=True)
class FeatureSendHermesCapabilities:
    """Marker ``<FeatureSendHermesCapabilities/>`` (vertical, 1.6)."""

    TAG: ClassVar[str] = "FeatureSendHermesCapabilities"


@dataclass(frozen=True, slots=True)
class SupportedFeatures:
    """``<SupportedFeatures>`` of a ServiceDescription (horizontal); a field is set when announced."""

    TAG: ClassVar[str] = "SupportedFeatures"

    feature_board_forecast: FeatureBoardForecast | None = None
    feature_check_alive_response: FeatureCheckAliveResponse | None = None
    feature_query_board_info: FeatureQueryBoardInfo | None = None
    feature_send_board_info: FeatureSendBoardInfo | None = None
    feature_command: FeatureCommand | None = None

    @classmethod
    def all(cls) -> SupportedFeatures:
        """Every horizontal feature announced."""
        return cls(
            FeatureBoardForecast(),
            FeatureCheckAliveResponse(),
            FeatureQueryBoardInfo(),
            FeatureSendBoardInfo(),
            FeatureCommand(),
        )


@dataclass(frozen=True, slots=True)
class SupervisoryFeatures:
    """``<SupportedFeatures>`` of a SupervisoryServiceDescription (vertical channel, §2.3)."""

    TAG: ClassVar[str] = "SupportedFeatures"

    feature_configuration: FeatureConfiguration | None = None
    feature_check_alive_response: FeatureCheckAliveResponse | None = None
    feature_board_tracking: FeatureBoardTracking | None = None
    feature_query_work_order_info: FeatureQueryWorkOrderInfo | None = None
    feature_send_work_order_info: FeatureSendWorkOrderInfo | None = None
    feature_reply_work_order_info: FeatureReplyWorkOrderInfo | None = None
    feature_query_hermes_capabilities: FeatureQueryHermesCapabilities | None = None
    feature_send_hermes_capabilities: FeatureSendHermesCapabilities | None = None

    @classmethod
    def all(cls) -> SupervisoryFeatures:
        """Every vertical feature announced."""
        return cls(
            FeatureConfiguration(),
            FeatureCheckAliveResponse(),
            FeatureBoardTracking(),
            FeatureQueryWorkOrderInfo(),
            FeatureSendWorkOrderInfo(),
            FeatureReplyWorkOrderInfo(),
            FeatureQueryHermesCapabilities(),
            FeatureSendHermesCapabilities(),
        )


@dataclass(frozen=True, slots=True)
class SubBoard:
    """``<SB Pos=".." Bc=".." St=".."/>``: one sub-board of a panel (``Bc`` is optional)."""

    TAG: ClassVar[str] = "SB"

    pos: int
    st: SubBoardState
    bc: str | None = None


@dataclass(frozen=True, slots=True)
class UpstreamConfiguration:
    """``<UpstreamConfiguration>``: where a lane's Upstream interface (the client) connects to."""

    TAG: ClassVar[str] = "UpstreamConfiguration"

    upstream_lane_id: int
    host_address: str
    port: int
    upstream_interface_id: str | None = None


@dataclass(frozen=True, slots=True)
class DownstreamConfiguration:
    """``<DownstreamConfiguration>``: a lane's Downstream interface (the server) and its filter."""

    TAG: ClassVar[str] = "DownstreamConfiguration"

    downstream_lane_id: int
    port: int
    downstream_interface_id: str | None = None
    client_address: str | None = None


@dataclass(frozen=True, slots=True)
class OptionalMessages:
    """``<OptionalMessages>`` of SendHermesCapabilities: each marker element present is True."""

    TAG: ClassVar[str] = "OptionalMessages"

    message_check_alive_response: bool = False
    message_board_forecast: bool = False
    message_query_board_info: bool = False
    message_send_board_info: bool = False
    message_board_arrived: bool = False
    message_board_departed: bool = False
    message_query_work_order_info: bool = False
    message_reply_work_order_info: bool = False
    message_command: bool = False


@dataclass(frozen=True, slots=True)
class CapabilityAttributes:
    """``<Attributes>`` of SendHermesCapabilities: u16 values saying which optional fields work.

    lib_cpp treats these as plain u16 values that it always writes, so we always write them too
    and read a missing one as 0.
    """

    TAG: ClassVar[str] = "Attributes"

    product_type_id: int = 0
    top_barcode: int = 0
    bottom_barcode: int = 0
    length: int = 0
    width: int = 0
    thickness: int = 0
    conveyor_speed: int = 0
    top_clearance_height: int = 0
    bottom_clearance_height: int = 0
    weight: int = 0
    work_order_id: int = 0
    batch_id: int = 0
    route: int = 0
    action: int = 0
    sub_boards: int = 0


__all__ = [
    "CapabilityAttributes",
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
    "OptionalMessages",
    "SubBoard",
    "SupervisoryFeatures",
    "SupportedFeatures",
    "UpstreamConfiguration",
]
