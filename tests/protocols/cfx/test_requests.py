"""Request/response helpers fill the envelope as the SDK's requester and responder do (cfx.md §2.4)."""

from __future__ import annotations

import re

import pytest

from protocols.cfx import (
    ActivateRecipeRequest,
    ActivateRecipeResponse,
    AreYouThereRequest,
    AreYouThereResponse,
    GetActiveFaultsRequest,
    GetActiveFaultsResponse,
    GetLoadedMaterialsRequest,
    GetLoadedMaterialsResponse,
    Heartbeat,
    NotSupportedResponse,
    StatusResult,
    WhoIsThereRequest,
    WhoIsThereResponse,
    decode_envelope,
    encode_envelope,
    make_response,
    new_request,
    not_supported_response,
    response_type_for,
)
from protocols.cfx.messages import MESSAGE_TYPES, CFXMessage
from protocols.errors import LocalProtocolError


@pytest.mark.parametrize(
    ("request_type", "response_type"),
    [
        (AreYouThereRequest, AreYouThereResponse),
        (WhoIsThereRequest, WhoIsThereResponse),
        (ActivateRecipeRequest, ActivateRecipeResponse),
        (GetActiveFaultsRequest, GetActiveFaultsResponse),
        (GetLoadedMaterialsRequest, GetLoadedMaterialsResponse),
    ],
)
def test_response_type_for(request_type: type[CFXMessage], response_type: type[CFXMessage]) -> None:
    """The response is the request's name with Request → Response, by class or by name."""
    assert response_type_for(request_type) is response_type
    assert response_type_for(request_type.MESSAGE_NAME) is response_type


def test_every_modelled_request_has_its_response() -> None:
    """Each *Request in the catalogue has its *Response (cfx.md §3.6)."""
    requests = [name for name in MESSAGE_TYPES if name.endswith("Request")]
    assert requests
    assert all(response_type_for(name) is not None for name in requests)


def test_not_a_request() -> None:
    """Events and unknown requests have no response type."""
    assert response_type_for(Heartbeat) is None
    assert response_type_for("CFX.Vendor.FooRequest") is None


def test_new_request_and_response_addressing() -> None:
    """RequestID "REQUEST-<guid>"; the response swaps Source/Target and echoes RequestID."""
    request = new_request(AreYouThereRequest(cfx_handle="Oven.1"), source="Line.Ctl", target="Oven.1")
    assert re.fullmatch(
        r"REQUEST-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", request.request_id or ""
    )
    assert (request.source, request.target) == ("Line.Ctl", "Oven.1")
    response = make_response(request, AreYouThereResponse(cfx_handle="Oven.1"), responder="Oven.1")
    assert (response.source, response.target, response.request_id) == (
        "Oven.1",
        "Line.Ctl",
        request.request_id,
    )
    assert response.message_name == "CFX.AreYouThereResponse"
    assert response.unique_id != request.unique_id


def test_new_request_refuses_events() -> None:
    """Only requests go through new_request."""
    with pytest.raises(LocalProtocolError):
        new_request(Heartbeat(), source="a", target="b")


def test_not_supported_response_is_failed() -> None:
    """NotSupportedResponse carries RequestResult (not Result) with Failed and the message."""
    request = new_request(GetActiveFaultsRequest(), source="Line.Ctl", target="Oven.1")
    answer = not_supported_response(request, responder="Oven.1", message="Unknown message")
    body = answer.body
    assert isinstance(body, NotSupportedResponse)
    assert body.request_result.result is StatusResult.FAILED
    assert body.request_result.message == "Unknown message"
    assert (answer.target, answer.request_id) == ("Line.Ctl", request.request_id)
    data = encode_envelope(answer)
    assert (
        b'"MessageBody":{"$type":"CFX.NotSupportedResponse, CFX","RequestResult":{"Result":"Failed"' in data
    )
    assert decode_envelope(data) == answer
