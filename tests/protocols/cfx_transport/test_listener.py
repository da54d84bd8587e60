"""Point-to-point CFX requests: our listener and requester over real loopback AMQP 1.0."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import threading
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from proton import Event, Message
from proton.handlers import MessagingHandler
from proton.reactor import Container, LinkOption
from proton.utils import BlockingConnection

from protocols.cfx.codec import decode_envelope, encode_envelope
from protocols.cfx.enums import StatusResult, SupportedTopicQueryType
from protocols.cfx.envelope import Envelope, RawMessage
from protocols.cfx.messages import (
    AreYouThereRequest,
    AreYouThereResponse,
    CFXMessage,
    Endpoint,
    GetActiveRecipeRequest,
    GetActiveRecipeResponse,
    GetEndpointInformationRequest,
    GetEndpointInformationResponse,
    NotSupportedResponse,
    RequestResult,
    SupportedTopic,
    WhoIsThereRequest,
    WhoIsThereResponse,
)
from protocols.cfx.requests import new_request
from protocols.cfx.transport import CFXListener, CFXRequester
from protocols.cfx.transport.amqp10 import body_bytes, content_encoding_of
from protocols.errors import RequestTimeout, TransportError

OVEN = "AcmeThermal.RF-X10.SN20451"
PLACER = "SMTPlus.Model_21342.Machine1"
ME = "Line1.Controller"


async def active_recipe(request: Envelope) -> CFXMessage | None:
    """A handler answering GetActiveRecipe for the oven, and nothing else."""
    if isinstance(request.body, GetActiveRecipeRequest):
        return GetActiveRecipeResponse(result=RequestResult(), active_recipe_name="PROD-A")
    return None


@pytest.fixture
async def listener() -> AsyncIterator[CFXListener]:
    server = CFXListener("127.0.0.1", 0)
    server.add_handle(OVEN, active_recipe, endpoint=Endpoint(cfx_handle=OVEN, friendly_name="Reflow 1"))
    server.add_handle(PLACER)  # no handler: only the built-in requests are answered
    async with server:
        yield server


@pytest.fixture
async def requester() -> AsyncIterator[CFXRequester]:
    async with CFXRequester(ME) as client:
        yield client


async def test_two_handles_answer_are_you_there_on_one_listener(
    listener: CFXListener, requester: CFXRequester
) -> None:
    """Each hosted handle answers for itself, with Source/Target/RequestID as the SDK sets them."""
    for handle in (OVEN, PLACER):
        request = new_request(AreYouThereRequest(cfx_handle=handle), source=ME, target=handle)
        response = await requester.request(listener.uri, request, timeout=5)
        assert isinstance(response.body, AreYouThereResponse)
        assert response.body.cfx_handle == handle
        assert response.body.request_network_uri == listener.uri
        assert response.body.request_target_address == handle
        assert (response.source, response.target, response.request_id) == (handle, ME, request.request_id)


async def test_get_endpoint_information_is_built_in(listener: CFXListener, requester: CFXRequester) -> None:
    request = new_request(GetEndpointInformationRequest(cfx_handle=OVEN), source=ME, target=OVEN)
    response = await requester.request(listener.uri, request, timeout=5)
    assert isinstance(response.body, GetEndpointInformationResponse)
    assert response.body.endpoint_information is not None
    assert response.body.endpoint_information.friendly_name == "Reflow 1"
    assert response.body.result.result == StatusResult.SUCCESS


async def test_registered_handler_answers(listener: CFXListener, requester: CFXRequester) -> None:
    request = new_request(GetActiveRecipeRequest(), source=ME, target=OVEN)
    response = await requester.request(listener.uri, request, timeout=5)
    assert isinstance(response.body, GetActiveRecipeResponse)
    assert response.request_id == request.request_id


@pytest.mark.parametrize(
    "body",
    [
        WhoIsThereRequest(),
        WhoIsThereRequest(
            supported_topic_query_type=SupportedTopicQueryType.ANY,
            supported_topics=[SupportedTopic(topic_name="CFX.Production")],
        ),
    ],
    ids=["ignore-topics", "any-topic"],
)
async def test_who_is_there_is_answered_for_every_hosted_handle(
    listener: CFXListener, requester: CFXRequester, body: WhoIsThereRequest
) -> None:
    """Each hosted handle, with or without a handler, says who and where it is, as the SDK's
    endpoints do: Success, its handle, the request URI and its node address."""
    for handle in (OVEN, PLACER):
        request = new_request(body, source=ME, target=handle)
        response = await requester.request(listener.uri, request, timeout=5)
        assert isinstance(response.body, WhoIsThereResponse), handle
        assert response.body.result.result == StatusResult.SUCCESS
        assert response.body.cfx_handle == handle
        assert response.body.request_network_uri == listener.uri
        assert response.body.request_target_address == handle
        assert (response.source, response.target, response.request_id) == (handle, ME, request.request_id)


async def test_no_handler_gives_not_supported_failed(listener: CFXListener, requester: CFXRequester) -> None:
    request = new_request(GetActiveRecipeRequest(), source=ME, target=PLACER)
    response = await requester.request(listener.uri, request, timeout=5)
    assert isinstance(response.body, NotSupportedResponse)
    assert response.body.request_result.result == StatusResult.FAILED
    assert response.request_id == request.request_id


async def test_unknown_message_type_gives_not_supported(
    listener: CFXListener, requester: CFXRequester
) -> None:
    """A MessageName linegate does not model (a RawMessage body) still gets an answer."""
    request = Envelope(
        message_name="CFX.Vendor.Acme.CalibrateUnicornRequest",
        time_stamp=datetime.now(UTC),
        unique_id=uuid.uuid4(),
        source=ME,
        target=OVEN,
        request_id=f"REQUEST-{uuid.uuid4()}",
        body=RawMessage("CFX.Vendor.Acme.CalibrateUnicornRequest", {"Horn": 1}),
    )
    response = await requester.request(listener.uri, request, timeout=5)
    assert isinstance(response.body, NotSupportedResponse)
    assert response.body.request_result.result == StatusResult.FAILED
    assert response.request_id == request.request_id


async def test_handler_returning_none_or_raising_gives_not_supported(requester: CFXRequester) -> None:
    async def nothing(request: Envelope) -> None:
        return None

    async def broken(request: Envelope) -> CFXMessage:
        raise RuntimeError("sensor unplugged")

    async with CFXListener() as server:
        server.add_handle("A.B.none", nothing)
        server.add_handle("A.B.broken", broken)
        for handle in ("A.B.none", "A.B.broken"):
            request = new_request(GetActiveRecipeRequest(), source=ME, target=handle)
            response = await requester.request(server.uri, request, timeout=5)
            assert isinstance(response.body, NotSupportedResponse), handle
            assert response.body.request_result.result == StatusResult.FAILED


async def test_requester_timeout_names_uri_and_handle(requester: CFXRequester) -> None:
    never = asyncio.Event()

    async def stall(request: Envelope) -> CFXMessage:
        await never.wait()
        raise AssertionError("unreachable")

    async with CFXListener() as server:
        server.add_handle(OVEN, stall)
        request = new_request(GetActiveRecipeRequest(), source=ME, target=OVEN)
        with pytest.raises(RequestTimeout) as info:
            await requester.request(server.uri, request, timeout=0.3)
        assert server.uri in str(info.value)
        assert OVEN in str(info.value)


async def test_unknown_handle_link_is_refused(listener: CFXListener, requester: CFXRequester) -> None:
    request = new_request(AreYouThereRequest(), source=ME, target="Nobody.Here.0")
    with pytest.raises(TransportError, match="not-found"):
        await requester.request(listener.uri, request, timeout=5)


class _RefusedProbe(MessagingHandler):
    """An SDK-style requester's two links to one address; records what the listener gave the
    sender link before it detached it: credit (an invitation to send the request) and why."""

    def __init__(self, uri: str, address: str) -> None:
        super().__init__(prefetch=1)
        self.uri, self.address = uri, address
        self.credit_seen = 0
        self.sent = False
        self.refusal: str | None = None
        self.failure: str | None = None

    def on_start(self, event: Event) -> None:
        container: Any = event.container
        connection = container.connect(self.uri, reconnect=False)
        container.create_receiver(connection, source=self.address, target="reply", name="request-receiver")
        container.create_sender(connection, target=self.address, name="reply")

    def on_link_flow(self, event: Event) -> None:
        link: Any = event.link
        if link.is_sender:
            self.credit_seen = max(self.credit_seen, link.credit)

    def on_sendable(self, event: Event) -> None:
        # As the SDK's requester does: the request goes out as soon as there is credit.
        sender: Any = event.sender
        if not self.sent:
            self.sent = True
            sender.send(Message(body=b"{}", reply_to="reply"))

    def on_link_error(self, event: Event) -> None:
        link: Any = event.link
        self.refusal = link.remote_condition.name
        event.connection.close()

    def on_transport_error(self, event: Event) -> None:
        transport: Any = event.transport
        self.failure = str(transport.condition)

    def on_connection_error(self, event: Event) -> None:
        connection: Any = event.connection
        self.failure = str(connection.remote_condition)


def _probe_refusal(uri: str, address: str) -> _RefusedProbe:
    probe = _RefusedProbe(uri, address)
    Container(probe).run()
    return probe


async def test_a_refused_link_gets_no_credit_so_no_request_can_race_the_refusal(
    listener: CFXListener,
) -> None:
    """A link to a handle the listener does not host is detached with amqp:not-found, and given
    no credit first. It used to get the listener's 100 request credits in the same breath as the
    refusal (proton's flow controller ran before it), inviting a requester that sends on credit
    to put its request on a link being refused, and the listener to answer that transfer (a
    release and fresh credit) on a link the requester may already have dropped. That is the
    suspected cause of issue 15's "no such handle" (2 in 18 tries with the SDK); proton clients
    here never hit it, so the test pins the mechanism: no credit, no request, only not-found."""
    for _ in range(5):
        probe = await asyncio.to_thread(_probe_refusal, listener.uri, "Nobody.Here.0")
        assert probe.refusal == "amqp:not-found"
        assert probe.credit_seen == 0 and not probe.sent
        assert probe.failure is None


async def test_requests_to_unknown_handles_always_get_not_found(
    listener: CFXListener, requester: CFXRequester
) -> None:
    async def one(n: int) -> str:
        request = new_request(AreYouThereRequest(), source=ME, target=f"Nobody.Here.{n}")
        try:
            await requester.request(listener.uri, request, timeout=5)
        except TransportError as exc:
            return str(exc)
        return "answered"

    outcomes = await asyncio.gather(*(one(n) for n in range(18)))
    assert all("amqp:not-found" in outcome for outcome in outcomes), outcomes


async def test_connection_refused_is_a_transport_error(requester: CFXRequester) -> None:
    async with CFXListener() as server:
        uri = server.uri
    request = new_request(AreYouThereRequest(), source=ME, target=OVEN)
    with pytest.raises(TransportError):
        await requester.request(uri, request, timeout=5)


async def test_a_port_in_use_fails_the_start_and_leaves_nothing_running() -> None:
    """Entering a listener on a port already taken raises OSError and leaves no thread and no
    task behind (an adapter retrying its listener must not leak one per attempt)."""
    threads = threading.active_count()
    tasks = len(asyncio.all_tasks())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            async with CFXListener("127.0.0.1", port):
                pass
    assert threading.active_count() == threads
    assert len(asyncio.all_tasks()) == tasks


class _Target(LinkOption):
    """Sets a receiver link's target address (the SDK's requester names its reply address there)."""

    def __init__(self, address: str) -> None:
        self.address = address

    def apply(self, link: Any) -> None:
        link.target.address = self.address


def _sdk_style_request(uri: str, handle: str, body: bytes, content_encoding: str | None) -> Message:
    """Send one request the way the SDK's ExecuteRequest does, with a client we did not write.

    proton's BlockingConnection, in a worker thread: receiver link 'request-receiver' (source =
    handle, target = reply address), sender link named after the reply address, message-id
    'command-request', application property offset = 1.
    """
    reply_to = f"{ME}-{uuid.uuid4()}"
    connection = BlockingConnection(uri, timeout=5)
    try:
        receiver = connection.create_receiver(handle, name="request-receiver", options=_Target(reply_to))
        sender = connection.create_sender(handle, name=reply_to)
        message = Message(body=body, inferred=True)
        fields: Any = message
        fields.id = "command-request"
        fields.reply_to = reply_to
        if content_encoding:
            fields.content_encoding = content_encoding
        fields.content_type = 'application/json; charset="utf-8"'
        fields.properties = {"offset": 1}
        sender.send(message)
        reply: Message = receiver.receive(timeout=5)
        receiver.accept()
        return reply
    finally:
        connection.close()


@pytest.mark.parametrize("compress", [True, False], ids=["gzip", "raw"])
async def test_sdk_style_request(listener: CFXListener, compress: bool) -> None:
    """An SDK-shaped request (gzip by default) is answered raw, correlated to 'command-request'."""
    request = new_request(AreYouThereRequest(cfx_handle=OVEN), source=ME, target=OVEN)
    data = encode_envelope(request)
    body, encoding = (gzip.compress(data), "gzip") if compress else (data, None)
    reply = await asyncio.to_thread(_sdk_style_request, listener.uri, OVEN, body, encoding)
    assert reply.correlation_id == "command-request"
    assert content_encoding_of(reply) is None  # reference §2.4: the responder replies raw
    assert reply.inferred  # one Data section
    response = decode_envelope(_body(reply))
    assert isinstance(response.body, AreYouThereResponse)
    assert (response.source, response.target, response.request_id) == (OVEN, ME, request.request_id)


@pytest.mark.parametrize(
    "body",
    [
        b"not json at all",
        b"\x1f\x8b\x08\x00garbage",
        json.dumps({"MessageName": "CFX.AreYouThereRequest", "TimeStamp": "yesterday"}).encode(),
        b"[]",
    ],
    ids=["text", "bad-gzip", "wrong-types", "empty-batch"],
)
async def test_garbage_request_gets_failed_answer_and_listener_survives(
    listener: CFXListener, requester: CFXRequester, body: bytes
) -> None:
    encoding = "gzip" if body.startswith(b"\x1f\x8b") else None
    reply = await asyncio.to_thread(_sdk_style_request, listener.uri, OVEN, body, encoding)
    response = decode_envelope(_body(reply))
    assert isinstance(response.body, NotSupportedResponse)
    assert response.body.request_result.result == StatusResult.FAILED
    assert listener.malformed_count == 1
    # ...and the listener still answers proper requests.
    request = new_request(AreYouThereRequest(), source=ME, target=OVEN)
    assert isinstance((await requester.request(listener.uri, request, timeout=5)).body, AreYouThereResponse)


async def test_many_concurrent_requests(listener: CFXListener, requester: CFXRequester) -> None:
    requests = [new_request(AreYouThereRequest(), source=ME, target=OVEN) for _ in range(20)]
    responses = await asyncio.gather(*(requester.request(listener.uri, r, timeout=10) for r in requests))
    assert [r.request_id for r in responses] == [r.request_id for r in requests]


def _body(message: Message) -> bytes:
    """The Data section of a message, as bytes."""
    data = body_bytes(message)
    assert data is not None, "body is not binary"
    return data


@pytest.mark.parametrize(
    "garbage",
    [b"GET / HTTP/1.1\r\n\r\n", b"AMQP\x00\x01\x00\x00\x00\x00\x00\x08\x07\x00\x00\x00", b"\xff" * 256],
    ids=["http", "bad-frame", "noise"],
)
async def test_tcp_garbage_does_not_break_the_listener(
    listener: CFXListener, requester: CFXRequester, garbage: bytes
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(garbage)
    await writer.drain()
    async with asyncio.timeout(5):
        await reader.read()  # proton answers with its header and/or closes
    writer.close()
    request = new_request(AreYouThereRequest(), source=ME, target=OVEN)
    assert isinstance((await requester.request(listener.uri, request, timeout=5)).body, AreYouThereResponse)


async def test_cancelled_request_cleans_up_and_the_requester_keeps_working(requester: CFXRequester) -> None:
    """Cancelling a request mid-flight (stalled peer) closes its connection; nothing is left waiting."""
    entered = asyncio.Event()
    release = asyncio.Event()

    async def stall(request: Envelope) -> CFXMessage | None:
        entered.set()
        await release.wait()
        return None

    async with CFXListener() as server:
        server.add_handle(OVEN, stall)
        pending = asyncio.create_task(
            requester.request(
                server.uri, new_request(GetActiveRecipeRequest(), source=ME, target=OVEN), timeout=30
            )
        )
        async with asyncio.timeout(5):
            await entered.wait()
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        release.set()
        request = new_request(AreYouThereRequest(), source=ME, target=OVEN)
        response = await requester.request(server.uri, request, timeout=5)
        assert isinstance(response.body, AreYouThereResponse)
