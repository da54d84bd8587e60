"""What the packages integrators import from export: a change here is an API change (CHANGELOG)."""

from __future__ import annotations

import gateway.testing
import protocols.cfx
import protocols.cfx.messages
import protocols.hermes
from protocols.cfx.messages import MESSAGE_TYPES, STRUCTURE_TYPES
from protocols.cfx.messages import enums as cfx_enums

CFX_CORE = {
    "CFXDecodeError",
    "CFX_VERSION",
    "Envelope",
    "Problem",
    "RawMessage",
    "decode_envelope",
    "decode_envelopes",
    "encode_body",
    "encode_envelope",
    "encode_envelopes",
    "is_request",
    "make_response",
    "new_request",
    "not_supported_response",
    "response_type_for",
    "validate_bytes",
    "validate_envelope",
    "validate_json",
}

HERMES = {
    "ACTION_PASS_THROUGH",
    "ACTION_PROCESS",
    "ACTION_UNDEFINED",
    "BoardArrived",
    "BoardArrivedTransfer",
    "BoardAvailable",
    "BoardDeparted",
    "BoardDepartedTransfer",
    "BoardForecast",
    "BoardQuality",
    "CLOSED",
    "CapabilityAttributes",
    "CheckAlive",
    "CheckAliveType",
    "Command",
    "ConfigurationConnection",
    "ConfigurationRole",
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
    "Framer",
    "GetConfiguration",
    "HermesDecodeError",
    "HermesFramingError",
    "HorizontalConnection",
    "MAX_MESSAGE_SIZE",
    "MESSAGE_BY_TAG",
    "MESSAGE_TYPES",
    "MachineReady",
    "Message",
    "NEED_DATA",
    "Notification",
    "NotificationCode",
    "OptionalMessages",
    "Outcome",
    "QueryBoardInfo",
    "QueryHermesCapabilities",
    "QueryWorkOrderInfo",
    "ROUTE_MANUAL_REMOVAL",
    "ROUTE_RETURN_BOARD",
    "ROUTE_UNDEFINED",
    "ReplyWorkOrderInfo",
    "ReplyWorkOrderInfoStatus",
    "RevokeBoardAvailable",
    "RevokeMachineReady",
    "Role",
    "SendBoardInfo",
    "SendHermesCapabilities",
    "SendWorkOrderInfo",
    "ServiceDescription",
    "SetConfiguration",
    "SeverityType",
    "StartTransport",
    "State",
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
    "VerticalConnection",
    "VerticalRole",
    "VerticalState",
    "decode",
    "encode",
    "format_timestamp",
    "message_from_tree",
}

TESTING = {
    "BROKERS",
    "Broker",
    "CFXEventCollector",
    "EnvelopeDict",
    "EventNotSeen",
    "LinegateGateway",
    "SimulatedLine",
    "TcpProxy",
    "free_port",
    "line_products",
    "line_spec",
    "unreachable",
    "wire_gateway",
}


def test_protocols_cfx_exports_the_codec_and_the_whole_catalogue() -> None:
    exported = set(protocols.cfx.__all__)
    assert exported == CFX_CORE | set(protocols.cfx.messages.__all__)
    catalogue = set(protocols.cfx.messages.__all__)
    assert {cls.__name__ for cls in MESSAGE_TYPES.values()} <= catalogue
    assert {cls.__name__ for cls in STRUCTURE_TYPES.values()} <= catalogue
    assert set(cfx_enums.__all__) <= catalogue
    assert len(MESSAGE_TYPES) == 183
    assert all(hasattr(protocols.cfx, name) for name in exported)


def test_gateway_testing_exports() -> None:
    assert set(gateway.testing.__all__) == TESTING
    assert all(hasattr(gateway.testing, name) for name in TESTING)


def test_protocols_hermes_exports() -> None:
    assert set(protocols.hermes.__all__) == HERMES
    assert all(hasattr(protocols.hermes, name) for name in HERMES)
