"""Request/response pairing and the envelope fields the SDK's responder fills (cfx.md §2.4, §3.6)."""

from __future__ import annotations

import uuid

from protocols.cfx.enums import StatusResult
from protocols.cfx.envelope import Envelope
from protocols.cfx.messages.base import MESSAGE_TYPES, CFXMessage
from protocols.cfx.messages.core import NotSupportedResponse
from protocols.cfx.messages.structures import RequestResult
from protocols.errors import LocalProtocolError

_REQUEST_SUFFIX = "Request"
_RESPONSE_SUFFIX = "Response"


def is_request(message: type[CFXMessage] | str) -> bool:
    """Whether the message (class or MessageName) is a request that needs a response."""
    name = message if isinstance(message, str) else message.MESSAGE_NAME
    return name.endswith(_REQUEST_SUFFIX)


def response_type_for(request: type[CFXMessage] | str) -> type[CFXMessage] | None:
    """The response class for a request class or MessageName, or None when linegate has none.

    cfx.md §3.6: the response is the request's name with "Request" replaced by "Response", in
    the same namespace.
    """
    name = request if isinstance(request, str) else request.MESSAGE_NAME
    if not name.endswith(_REQUEST_SUFFIX):
        return None
    return MESSAGE_TYPES.get(name[: -len(_REQUEST_SUFFIX)] + _RESPONSE_SUFFIX)


def new_request(body: CFXMessage, *, source: str, target: str) -> Envelope:
    """Wrap a request as the SDK's ``ExecuteRequest`` does: RequestID ``"REQUEST-<guid>"``.

    Raises:
        LocalProtocolError: ``body`` is not a request.
    """
    if not is_request(type(body)):
        raise LocalProtocolError(f"{type(body).MESSAGE_NAME or type(body).__name__} is not a request")
    return Envelope.create(body, source=source, target=target, request_id=f"REQUEST-{uuid.uuid4()}")


def make_response(request: Envelope, body: CFXMessage, *, responder: str) -> Envelope:
    """Wrap a response as the SDK's responder does.

    Source = ``responder``, Target = the request's Source, RequestID = the request's RequestID.
    """
    return Envelope.create(body, source=responder, target=request.source, request_id=request.request_id)


def not_supported_response(request: Envelope, *, responder: str, message: str = "Not supported") -> Envelope:
    """A ``CFX.NotSupportedResponse`` with RequestResult Failed (the SDK's default says Success)."""
    body = NotSupportedResponse(request_result=RequestResult(result=StatusResult.FAILED, message=message))
    return make_response(request, body, responder=responder)


__all__ = ["is_request", "make_response", "new_request", "not_supported_response", "response_type_for"]
