"""proton's engine without its reactor: two engines talk through byte strings (sans-IO), and
the listener, the requester and the AMQP 1.0 publisher together start no thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from proton import Event, Message
from proton.handlers import MessagingHandler

from protocols.cfx.envelope import Envelope
from protocols.cfx.messages import AreYouThereRequest, AreYouThereResponse, Heartbeat
from protocols.cfx.requests import new_request
from protocols.cfx.transport import AMQP10Publisher, CFXListener, CFXRequester
from protocols.cfx.transport.engine import AMQPEngine, ClientOptions

HANDLE = "Acme.Oven.Engine"
ME = "Line1.Controller"
EVENTS = "/queue/engine-events"


class _Server(MessagingHandler):
    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[object] = []

    def on_message(self, event: Event) -> None:
        message: Any = event.message
        self.bodies.append(bytes(message.body))


class _Client(MessagingHandler):
    def __init__(self) -> None:
        super().__init__()
        self.accepted = 0

    def on_accepted(self, event: Event) -> None:
        self.accepted += 1


def _exchange(a: AMQPEngine, b: AMQPEngine) -> int:
    """Carry bytes both ways until neither engine has anything to say; returns the bytes moved."""
    moved = 0
    while True:
        a.process()
        b.process()
        ab, ba = a.data_to_send(), b.data_to_send()
        if not ab and not ba:
            return moved
        b.receive_data(ab)
        a.receive_data(ba)
        moved += len(ab) + len(ba)


def test_two_engines_exchange_a_message_through_byte_strings_alone() -> None:
    """No socket, no loop, no reactor: what one engine emits, fed to the other, opens the
    connection (SASL ANONYMOUS included), carries the transfer and brings back its outcome."""
    server_handler, client_handler = _Server(), _Client()
    server = AMQPEngine(server_handler)
    sasl: Any = server.transport.sasl()
    sasl.allowed_mechs("ANONYMOUS")
    client = AMQPEngine(client_handler, client=ClientOptions(container_id=ME, hostname="localhost"))
    connection: Any = client.connection
    connection.open()
    session = connection.session()
    session.open()
    sender = session.sender(EVENTS)
    sender.target.address = EVENTS
    sender.open()
    sender.send(Message(body=b"one", inferred=True))
    assert _exchange(client, server) > 0
    assert server_handler.bodies == [b"one"]
    assert client_handler.accepted == 1
    assert server.connection.remote_container == ME
    connection.close()
    _exchange(client, server)
    assert client.output_closed and server.output_closed


async def test_listener_requester_and_publisher_start_no_thread() -> None:
    """A request answered and an event published and settled, end to end over TCP, with the
    number of threads unchanged throughout and none named for proton or CFX."""
    before = {thread.ident for thread in threading.enumerate()}
    async with CFXListener("127.0.0.1", 0, event_addresses=[EVENTS]) as listener:
        listener.add_handle(HANDLE)
        async with CFXRequester(ME) as requester:
            request = new_request(AreYouThereRequest(), source=ME, target=HANDLE)
            response = await requester.request(listener.uri, request, timeout=5)
        assert isinstance(response.body, AreYouThereResponse)
        async with AMQP10Publisher(listener.uri, EVENTS, handle=HANDLE) as publisher:
            publishing = asyncio.create_task(publisher.publish(Envelope.create(Heartbeat(), source=HANDLE)))
            batch = await asyncio.wait_for(listener.receive(), 5)
            assert len(batch) == 1 and not publishing.done()
            listener.settle(batch)
            await asyncio.wait_for(publishing, 5)
        assert {thread.ident for thread in threading.enumerate()} == before
    new = [thread.name for thread in threading.enumerate() if thread.ident not in before]
    assert new == []
