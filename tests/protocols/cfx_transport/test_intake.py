"""Event intake on the CFX listener: settled only when committed, bounded by link credit.

The credit ledger is checked on its own (sans-IO, with hypothesis), then the listener with a
real AMQP 1.0 publisher (:class:`AMQP10Publisher`, which returns from ``publish`` only when the
peer has accepted the transfer, as the SDK's spool does) over loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.cfx.envelope import Envelope
from protocols.cfx.messages import AreYouThereRequest, AreYouThereResponse, StationOnline
from protocols.cfx.requests import new_request
from protocols.cfx.transport import (
    AMQP10Publisher,
    CFXListener,
    CFXRequester,
    DeliveryRefused,
    InboundBatch,
    IntakeCredit,
)
from protocols.errors import TransportError

HANDLE = "Acme.Placer.7"
EVENTS = "linegate"

# --- the ledger, sans-IO ---------------------------------------------------------------------


def test_a_link_gets_its_share_and_more_only_as_deliveries_settle() -> None:
    credit = IntakeCredit(window=10, link_credit=10)
    assert credit.opened(1) == {1: 10}
    for _ in range(10):
        credit.received(1)
    assert (credit.backlog, credit.outstanding) == (10, 0)
    assert credit.opened(2) == {}  # nothing is free: a second link waits too
    assert credit.settled(4) == {2: 4}  # shared in turn: the waiting link first, up to its half
    assert credit.settled(4) == {1: 4}
    assert (credit.backlog, credit.outstanding) == (2, 8)


def test_an_idle_link_does_not_hold_the_whole_window() -> None:
    """A receiver cannot take credit back: by default a link holds half the window, so a link
    that opens next to an idle one is served at once."""
    credit = IntakeCredit(window=100)
    assert credit.opened(1) == {1: 50}
    assert credit.opened(2) == {2: 50}


def test_closing_a_link_frees_its_credit_but_not_its_unsettled_deliveries() -> None:
    credit = IntakeCredit(window=6, link_credit=6)
    credit.opened(1)
    credit.received(1)
    credit.received(1)
    grants = credit.closed(1)
    assert grants == {} and credit.backlog == 2  # no link left to give to; two still held
    assert credit.opened(2) == {2: 4}
    assert credit.settled(2) == {2: 2}


def test_a_transfer_beyond_credit_is_counted_and_earns_no_credit() -> None:
    credit = IntakeCredit(window=2, link_credit=2)
    credit.opened(1)
    for _ in range(3):  # one more than granted: the peer broke the protocol
        credit.received(1)
    assert credit.backlog == 3
    assert credit.settled(1) == {}  # still at the window
    assert credit.settled(2) == {1: 2}


_operation = st.one_of(
    st.tuples(st.just("open"), st.integers(0, 3)),
    st.tuples(st.just("receive"), st.integers(0, 3)),
    st.tuples(st.just("settle"), st.integers(1, 5)),
    st.tuples(st.just("close"), st.integers(0, 3)),
)


@given(
    window=st.integers(1, 40),
    link_credit=st.none() | st.integers(1, 40),
    operations=st.lists(_operation, max_size=200),
)
def test_backlog_plus_outstanding_credit_never_exceeds_the_window(
    window: int, link_credit: int | None, operations: list[tuple[str, int]]
) -> None:
    """Whatever a well-behaved peer does (it sends only on credit) and whenever we settle, the
    deliveries we hold plus the credit we granted stay within the window, and no link holds
    more than its share."""
    credit = IntakeCredit(window, link_credit)
    held: dict[int, int] = {}  # link -> credit the peer holds (what the grants gave it)
    unsettled = 0

    def grant(grants: dict[int, int]) -> None:
        for link, n in grants.items():
            assert n > 0 and link in held
            held[link] += n

    for kind, value in operations:
        if kind == "open" and value not in held:
            held[value] = 0
            grant(credit.opened(value))
        elif kind == "receive" and held.get(value, 0) > 0:
            held[value] -= 1
            unsettled += 1
            credit.received(value)
        elif kind == "settle" and unsettled:
            count = min(value, unsettled)
            unsettled -= count
            grant(credit.settled(count))
        elif kind == "close" and value in held:
            del held[value]
            grant(credit.closed(value))
        assert credit.backlog == unsettled
        assert unsettled + sum(held.values()) <= window
        assert all(n <= credit.link_credit for n in held.values())
        assert credit.outstanding == sum(held.values())


# --- the listener, with a real publisher ------------------------------------------------------

WINDOW = 40
LINK_CREDIT = WINDOW // 2  # what one link may hold (the default: half the window)
SENT = 200


async def _credit_held_by_peers(listener: CFXListener) -> int:
    # The engines run on this loop: their links can be read directly.
    return sum(link.credit for link in listener._side.event_links.values())


async def _receive_until(listener: CFXListener, count: int, check: Callable[[], None]) -> list[InboundBatch]:
    batches: list[InboundBatch] = []
    while sum(len(b) for b in batches) < count:
        batches.append(await asyncio.wait_for(listener.receive(), 10))
        check()
    return batches


async def test_transfers_are_accepted_only_after_settle_and_credit_bounds_the_backlog() -> None:
    """The outbox is blocked: the listener holds what the link's credit allowed (within the
    window), unsettled, and the publisher hears "accepted" for none of it; each envelope's
    transfer is accepted only after the consumer settled it, and the rest flows as it does."""
    committed: set[str] = set()
    accepted_early: list[str] = []
    most = 0

    async with (
        CFXListener(event_addresses=[EVENTS], intake_window=WINDOW) as listener,
        AMQP10Publisher(listener.uri, EVENTS, handle=HANDLE) as publisher,
    ):

        def check() -> None:
            nonlocal most
            most = max(most, listener.backlog)
            assert listener.backlog <= WINDOW

        async def send(envelope: Envelope) -> None:
            await publisher.publish(envelope)
            if str(envelope.unique_id) not in committed:
                accepted_early.append(str(envelope.unique_id))

        envelopes = [Envelope.create(StationOnline(), source=HANDLE) for _ in range(SENT)]
        sending = [asyncio.create_task(send(e)) for e in envelopes]
        # Nothing is committed: read what arrives until the link's credit is used up.
        held = await _receive_until(listener, LINK_CREDIT, check)
        assert listener.backlog == LINK_CREDIT
        assert await _credit_held_by_peers(listener) == 0  # it cannot send us one more
        assert not any(task.done() for task in sending)
        received = [e for batch in held for e in batch.envelopes]
        # Commit and settle in order; the publisher may send again as credit comes back.
        while True:
            for batch in held:
                committed.update(str(e.unique_id) for e in batch.envelopes)
                listener.settle(batch)
            if len(received) == SENT:
                break
            held = [await asyncio.wait_for(listener.receive(), 10)]
            check()
            received += held[0].envelopes
        await asyncio.wait_for(asyncio.gather(*sending), 10)
    assert accepted_early == []
    assert [e.unique_id for e in received] == [e.unique_id for e in envelopes]
    assert LINK_CREDIT <= most <= WINDOW


async def test_what_was_received_but_not_settled_is_released_at_close() -> None:
    """At a stop, nothing uncommitted is accepted: the publisher hears "released" (or loses the
    connection), so it keeps those envelopes and sends them again."""
    async with contextlib.AsyncExitStack() as stack:
        listener = await stack.enter_async_context(
            CFXListener(event_addresses=[EVENTS], intake_window=WINDOW)
        )
        publisher = await stack.enter_async_context(AMQP10Publisher(listener.uri, EVENTS, handle=HANDLE))
        envelopes = [Envelope.create(StationOnline(), source=HANDLE) for _ in range(10)]
        sending = [asyncio.create_task(publisher.publish(e)) for e in envelopes]
        await _receive_until(listener, 10, lambda: None)
        await listener.aclose()
        outcomes = await asyncio.wait_for(asyncio.gather(*sending, return_exceptions=True), 10)
    assert all(isinstance(o, DeliveryRefused | TransportError) for o in outcomes), outcomes
    assert any(isinstance(o, DeliveryRefused) and "released" in str(o) for o in outcomes)


@pytest.mark.parametrize("window", [1, 3])
async def test_a_tiny_window_still_delivers_everything_in_order(window: int) -> None:
    async with (
        CFXListener(event_addresses=[EVENTS], intake_window=window) as listener,
        AMQP10Publisher(listener.uri, EVENTS, handle=HANDLE) as publisher,
    ):
        envelopes = [Envelope.create(StationOnline(), source=HANDLE) for _ in range(25)]
        sending = asyncio.gather(*(publisher.publish(e) for e in envelopes))
        got: list[Envelope] = []
        while len(got) < len(envelopes):
            batch = await asyncio.wait_for(listener.receive(), 10)
            assert listener.backlog <= window
            got += batch.envelopes
            listener.settle(batch)
        await asyncio.wait_for(sending, 10)
    assert [e.unique_id for e in got] == [e.unique_id for e in envelopes]


async def test_an_address_that_takes_events_and_requests_answers_requests() -> None:
    """A hosted handle that is also an event address: requests (with reply-to) are answered at
    once, events wait for their settle as on any event address."""
    async with (
        CFXListener(event_addresses=[HANDLE]) as listener,
        AMQP10Publisher(listener.uri, HANDLE, handle="Other.Machine.1") as publisher,
        CFXRequester("Line.Controller") as requester,
    ):
        listener.add_handle(HANDLE)
        request = new_request(AreYouThereRequest(cfx_handle=HANDLE), source="Line.Controller", target=HANDLE)
        response = await requester.request(listener.uri, request, timeout=10)
        assert isinstance(response.body, AreYouThereResponse)
        event = Envelope.create(StationOnline(), source="Other.Machine.1")
        publishing = asyncio.ensure_future(publisher.publish(event))
        batch = await asyncio.wait_for(listener.receive(), 10)
        assert [e.unique_id for e in batch.envelopes] == [event.unique_id]
        listener.settle(batch)
        await asyncio.wait_for(publishing, 10)
