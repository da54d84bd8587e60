"""``CFX.*`` messages: presence, heartbeat, endpoint information (cfx.md §2.6, §4)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import msgspec

from protocols.cfx.enums import StatusResult, SupportedTopicQueryType
from protocols.cfx.messages.base import CFXMessage, coerce_times, message, type_tag
from protocols.cfx.messages.structures import ActiveRecipe, Endpoint, Fault, RequestResult, SupportedTopic

if TYPE_CHECKING:
    Span = timedelta
else:
    from protocols.cfx.timefmt import TimeSpan as Span  # runtime type: written in .NET "c" format


def _zero() -> timedelta:
    # TimeSpan.Zero: what a C# reader leaves when HeartbeatFrequency is missing.
    return Span(0)


@message
class Heartbeat(CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Heartbeat")):
    """Sent at least every 5 minutes on every publish channel (the SDK sends one a minute).

    ``active_faults``/``active_recipes`` [v1.7]: None means unknown, ``[]`` known to be empty.
    """

    cfx_handle: str | None = None
    heartbeat_frequency: Span = msgspec.field(default_factory=_zero)
    active_faults: list[Fault] | None = None
    active_recipes: list[ActiveRecipe] | None = None

    def __post_init__(self) -> None:
        coerce_times(self, "heartbeat_frequency")


@message
class EndpointConnected(CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.EndpointConnected")):
    """An endpoint joined; advertises its request listener."""

    cfx_handle: str | None = None
    request_network_uri: str | None = None
    request_target_address: str | None = None


@message
class EndpointShuttingDown(CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.EndpointShuttingDown")):
    """An endpoint is about to leave."""

    cfx_handle: str | None = None


@message
class AreYouThereRequest(CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.AreYouThereRequest")):
    """Asks whether the endpoint with ``cfx_handle`` is present (REQ)."""

    cfx_handle: str | None = None


@message
class AreYouThereResponse(CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.AreYouThereResponse")):
    """Answer to AreYouThereRequest."""

    result: RequestResult = msgspec.field(default_factory=RequestResult)
    cfx_handle: str | None = None
    request_network_uri: str | None = None
    request_target_address: str | None = None


@message
class WhoIsThereRequest(CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.WhoIsThereRequest")):
    """Asks which endpoints support the given topics (REQ)."""

    supported_topic_query_type: SupportedTopicQueryType = SupportedTopicQueryType.IGNORE
    supported_topics: list[SupportedTopic] | None = msgspec.field(default_factory=list)


@message
class WhoIsThereResponse(CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.WhoIsThereResponse")):
    """Answer to WhoIsThereRequest (same members as AreYouThereResponse)."""

    result: RequestResult = msgspec.field(default_factory=RequestResult)
    cfx_handle: str | None = None
    request_network_uri: str | None = None
    request_target_address: str | None = None


@message
class GetEndpointInformationRequest(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.GetEndpointInformationRequest")
):
    """Asks for an endpoint's information (REQ)."""

    cfx_handle: str | None = None


@message
class GetEndpointInformationResponse(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.GetEndpointInformationResponse")
):
    """Answer to GetEndpointInformationRequest."""

    result: RequestResult = msgspec.field(default_factory=RequestResult)
    endpoint_information: Endpoint | None = None


def _failed() -> RequestResult:
    return RequestResult(result=StatusResult.FAILED, message="Not supported")


@message
class NotSupportedResponse(CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.NotSupportedResponse")):
    """Answer to a request the endpoint does not handle; note the key is ``RequestResult``.

    The SDK defaults the result to Success (cfx.md §2.4), which is odd; ours defaults to Failed.
    """

    request_result: RequestResult = msgspec.field(default_factory=_failed)


__all__ = [
    "AreYouThereRequest",
    "AreYouThereResponse",
    "EndpointConnected",
    "EndpointShuttingDown",
    "GetEndpointInformationRequest",
    "GetEndpointInformationResponse",
    "Heartbeat",
    "NotSupportedResponse",
    "WhoIsThereRequest",
    "WhoIsThereResponse",
]
