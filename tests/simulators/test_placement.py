"""The CFX placement machine, driven by independent CFX peers as placement.md describes it.

Requests go out through :class:`CFXRequester` (an SDK-style proton requester); published events
land on a :class:`CFXListener` standing in for linegate, with no broker in between. One test
publishes through the real RabbitMQ and reads the exchange with aio-pika.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import pytest

from protocols.cfx import (
    ActivateRecipeRequest,
    ActivateRecipeResponse,
    AreYouThereRequest,
    AreYouThereResponse,
    CFXMessage,
    ComponentsPlaced,
    EndpointConnected,
    EndpointShuttingDown,
    Envelope,
    FaultCause,
    FaultCleared,
    FaultOccurred,
    GetActiveFaultsRequest,
    GetActiveRecipeRequest,
    GetActiveRecipeResponse,
    GetAvailableRecipesRequest,
    GetAvailableRecipesResponse,
    Heartbeat,
    MaterialsInstalled,
    MaterialsLoaded,
    NotSupportedResponse,
    RecipeActivated,
    ResourceState,
    SMTPlacementFault,
    SMTPlacementFaultType,
    StationStateChanged,
    StatusResult,
    UnitsArrived,
    UnitsDeparted,
    WorkCompleted,
    WorkStarted,
    decode_envelope,
    new_request,
    validate_bytes,
)
from protocols.cfx.transport import CFXListener, CFXRequester
from protocols.cfx.transport.wire import decode_payload
from protocols.errors import RequestTimeout
from simulators import Board, Feeder, Handoff, PlacementMachine, ScaledClock, SteppedClock

# Every simulator here runs on the plugin's virtual_clock, stepped: time moves only when the test says.
pytestmark = pytest.mark.linegate_clock(stepped=True)

HANDLE = "Test.PX20.7"
CONTROLLER = "Test.LineController.1"
EVENTS = "/linegate/events"
DEADLINE = 5.0  # real seconds; only bounds a broken test
BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"
AMQP10_URL = "amqp://guest:guest@127.0.0.1:5672"
FLOW = (UnitsArrived, WorkStarted, MaterialsInstalled, WorkCompleted, UnitsDeparted)


class Inbox:
    """The events a listener has received, read in order; ``seen`` keeps every one read."""

    def __init__(self, listener: CFXListener) -> None:
        self.listener = listener
        self.seen: list[Envelope] = []

    async def next(self) -> Envelope:
        envelope = await asyncio.wait_for(anext(self.listener), DEADLINE)
        self.seen.append(envelope)
        return envelope

    async def next_of(self, kind: type[CFXMessage]) -> Any:
        """Read on to the next envelope whose body is a ``kind``, and return that envelope."""
        while not isinstance((envelope := await self.next()).body, kind):
            pass
        return envelope

    async def until(self, kind: type[CFXMessage], count: int) -> list[Envelope]:
        """Read until ``count`` more ``kind`` bodies have arrived; return everything read meanwhile."""
        start = len(self.seen)
        for _ in range(count):
            await self.next_of(kind)
        return self.seen[start:]


@pytest.fixture
async def inbox() -> AsyncIterator[Inbox]:
    async with CFXListener(event_addresses=[EVENTS]) as listener:
        yield Inbox(listener)


@pytest.fixture
async def machine(
    virtual_clock: SteppedClock, handoff: Handoff, inbox: Inbox
) -> AsyncIterator[PlacementMachine]:
    async with PlacementMachine(
        handle=HANDLE,
        clock=virtual_clock,
        board_in=handoff,
        publish_uri=inbox.listener.uri,
        publish_address=EVENTS,
        changeover_time=10.0,
        spread=0.0,
    ) as simulator:
        yield simulator


@pytest.fixture
async def requester() -> AsyncIterator[CFXRequester]:
    async with CFXRequester(CONTROLLER) as client:
        yield client


async def ask(
    requester: CFXRequester, machine: PlacementMachine, body: CFXMessage, timeout: float = DEADLINE
) -> Envelope:
    assert machine.request_uri is not None
    request = new_request(body, source=CONTROLLER, target=HANDLE)
    response = await requester.request(machine.request_uri, request, timeout=timeout)
    assert (response.source, response.target, response.request_id) == (HANDLE, CONTROLLER, request.request_id)
    return response


async def feed(handoff: Handoff, boards: list[Board]) -> None:
    for board in boards:
        await handoff.give_board(board)


async def test_presence_first_then_heartbeats_on_the_machine_clock(
    machine: PlacementMachine, inbox: Inbox, virtual_clock: SteppedClock
) -> None:
    """EndpointConnected advertises the request URI; heartbeats carry recipes and faults, every 60 s."""
    connected = await inbox.next()
    assert isinstance(connected.body, EndpointConnected)
    assert connected.source == HANDLE
    assert connected.body.request_network_uri == machine.request_uri
    assert connected.body.request_target_address == HANDLE
    first = await inbox.next_of(Heartbeat)
    assert first.body.heartbeat_frequency == timedelta(minutes=1)
    assert first.body.active_faults == []
    [active] = first.body.active_recipes
    assert (active.recipe_identifier.recipe_name, active.recipe_identifier.revision) == ("PCB-CTRL-A", "1")
    started = next(e.body for e in inbox.seen if isinstance(e.body, StationStateChanged))
    assert (started.old_state, started.new_state) == (ResourceState.NST, ResourceState.SBY_NO_PRODUCT_STARVED)
    machine.raise_fault("E-AIR", "supply air low", cause=FaultCause.SERVICES_FAILURE)
    await virtual_clock.run_for(60)
    second = await inbox.next_of(Heartbeat)
    assert second.time_stamp - first.time_stamp == timedelta(seconds=60)
    [fault] = second.body.active_faults
    assert (fault.fault_code, fault.cause) == ("E-AIR", FaultCause.SERVICES_FAILURE)


async def test_recipe_requests_over_amqp(
    machine: PlacementMachine, requester: CFXRequester, inbox: Inbox, virtual_clock: SteppedClock
) -> None:
    """AreYouThere, GetAvailableRecipes, GetActiveRecipe, ActivateRecipe (accepted and refused)."""
    there = (await ask(requester, machine, AreYouThereRequest(cfx_handle=HANDLE))).body
    assert isinstance(there, AreYouThereResponse)
    assert (there.result.result, there.cfx_handle) == (StatusResult.SUCCESS, HANDLE)
    assert there.request_network_uri == machine.request_uri
    available = (await ask(requester, machine, GetAvailableRecipesRequest())).body
    assert isinstance(available, GetAvailableRecipesResponse)
    assert [(r.recipe_name, r.revision) for r in available.recipes or []] == [
        ("PCB-CTRL-A", "1"),
        ("PCB-PWR-B", "1"),
    ]
    assert (available.actual_count, available.recipe_count) == (2, 2)
    limited = (await ask(requester, machine, GetAvailableRecipesRequest(max_count=1))).body
    assert isinstance(limited, GetAvailableRecipesResponse)
    # ActualCount: every match; RecipeCount: the ones listed (computed, as the SDK's getter).
    assert (limited.actual_count, limited.recipe_count) == (2, 1)

    async def activate(name: str, revision: str | None = None) -> tuple[StatusResult, int, str | None]:
        body = (
            await ask(requester, machine, ActivateRecipeRequest(recipe_name=name, revision=revision))
        ).body
        assert isinstance(body, ActivateRecipeResponse)
        return body.result.result, body.result.result_code, body.result.message

    assert (await activate("NO-SUCH-PCB"))[:2] == (StatusResult.FAILED, 1)
    assert (await activate("PCB-PWR-B", "7"))[:2] == (StatusResult.FAILED, 1)
    assert (await activate("PCB-PWR-B", "latest"))[:2] == (StatusResult.FAILED, 5)
    machine.recipes.refuse("operator door open")
    assert await activate("PCB-PWR-B") == (StatusResult.FAILED, 1, "operator door open")
    machine.recipes.accept()
    machine.recipes.add("PCB-NEW-C", cycle_time=20.0, components=(("U9", "IC-NOT-LOADED"),))
    assert (await activate("PCB-NEW-C"))[:2] == (StatusResult.FAILED, 3)
    machine.raise_fault("E-DOOR", "front cover open")
    assert (await activate("PCB-PWR-B"))[:2] == (StatusResult.FAILED, 4)
    machine.clear_fault("E-DOOR")
    assert (await activate("PCB-PWR-B", "1"))[:2] == (StatusResult.SUCCESS, 0)
    assert (await activate("PCB-CTRL-A"))[:2] == (StatusResult.FAILED, 2)
    still = (await ask(requester, machine, GetActiveRecipeRequest())).body
    assert isinstance(still, GetActiveRecipeResponse) and still.active_recipe_name == "PCB-CTRL-A"
    assert machine.state.code == 4500  # changing over
    await virtual_clock.run_for(machine.changeover_time)
    activated = await inbox.next_of(RecipeActivated)
    assert (activated.body.recipe_name, activated.body.revision) == ("PCB-PWR-B", "1")
    assert activated.body.expected_cycle_time == 45000.0  # milliseconds
    assert activated.body.number_of_components_per_unit == 23
    now = (await ask(requester, machine, GetActiveRecipeRequest())).body
    assert isinstance(now, GetActiveRecipeResponse)
    assert (now.active_recipe_name, now.active_recipe_revision) == ("PCB-PWR-B", "1")
    other = (await ask(requester, machine, GetActiveFaultsRequest())).body
    assert isinstance(other, NotSupportedResponse)
    assert other.request_result.result == StatusResult.FAILED


async def test_boards_give_the_cfx_sequence_with_one_transaction_each(
    machine: PlacementMachine, inbox: Inbox, virtual_clock: SteppedClock, handoff: Handoff
) -> None:
    """Per board: Arrived, WorkStarted, MaterialsInstalled, WorkCompleted, Departed, one TransactionID."""
    boards = [Board(barcode=f"SN-{n}", work_order_id="WO-17") for n in range(3)]
    feeding = asyncio.create_task(feed(handoff, boards))
    await virtual_clock.run_until(lambda: machine.boards_done == 3, within=600)
    await feeding
    read = await inbox.until(UnitsDeparted, 3)
    flow = [e for e in read if isinstance(e.body, FLOW)]
    assert [type(e.body) for e in flow] == list(FLOW) * 3
    transactions = set()
    for n, board in enumerate(boards):
        bodies: list[Any] = [e.body for e in flow[5 * n : 5 * n + 5]]
        arrived, started, installed, completed, departed = bodies
        assert arrived.primary_identifier == departed.primary_identifier == board.barcode
        assert arrived.hermes_identifier == started.hermes_identifier == board.board_id
        assert started.transaction_id == installed.transaction_id == completed.transaction_id
        transactions.add(started.transaction_id)
        assert (started.recipe_name, started.revision) == ("PCB-CTRL-A", "1")
        assert started.work_order_identifier.work_order_id == "WO-17"
        designators = [
            c.reference_designator for m in installed.installed_materials for c in m.installed_components
        ]
        assert len(designators) == 21
        assert {"R1", "R10", "C8", "D2", "U1"} <= set(designators)
        work = flow[5 * n + 3].time_stamp - flow[5 * n + 1].time_stamp
        assert work == timedelta(seconds=30)  # spread 0: the nominal cycle time
    assert len(transactions) == 3
    # What the machine sends is what the CFX SDK writes: no finding (quantities were ints once).
    assert all(e.data is not None and validate_bytes(e.data) == [] for e in read)
    states = [e.body.new_state for e in read if isinstance(e.body, StationStateChanged)]
    assert ResourceState.PRD_REGULAR_WORK in states
    assert machine.feeders["1-01"].quantity == 10000 - 3 * 10


async def test_components_placed_counts_per_sample_window(
    machine: PlacementMachine, inbox: Inbox, virtual_clock: SteppedClock, handoff: Handoff
) -> None:
    """ComponentsPlaced comes once per 60 s window with placements, and the windows add up to every part."""
    boards = [Board(), Board(), Board()]
    feeding = asyncio.create_task(feed(handoff, boards))
    await virtual_clock.run_until(lambda: machine.boards_done == 3, within=600)
    await feeding
    await virtual_clock.run_for(machine.placement_report_interval)  # closes the last window
    reports: list[Any] = []
    while sum(r.total_components_placed for r in reports) < 3 * 21:
        reports.append((await inbox.next_of(ComponentsPlaced)).body)
    assert sum(r.total_components_placed for r in reports) == 3 * 21
    assert all(r.end_time - r.start_time == timedelta(seconds=60) for r in reports)
    assert all(r.total_components_not_placed == 0 for r in reports)
    assert [b.start_time for b in reports[1:]] == [a.end_time for a in reports[:-1]]


async def test_empty_feeder_faults_until_refilled(
    machine: PlacementMachine, inbox: Inbox, virtual_clock: SteppedClock, handoff: Handoff
) -> None:
    """An empty reel → FaultOccurred(SMTPlacementFault) and DOWN; refill → same FaultOccurrenceId cleared."""
    machine.load_feeder(
        Feeder("1-03", "LED-GRN-0603", 3, reel_size=4000)
    )  # two LEDs per board: the 2nd board runs short
    boards = [Board(barcode="SN-A"), Board(barcode="SN-B")]
    feeding = asyncio.create_task(feed(handoff, boards))
    code = "FEEDER-EMPTY-1-03"
    await virtual_clock.run_until(lambda: code in machine.faults, within=600)
    occurred = await inbox.next_of(FaultOccurred)
    fault = occurred.body.fault
    assert isinstance(fault, SMTPlacementFault)
    assert (fault.cause, fault.placement_fault_type) == (
        FaultCause.MISSING_COMPONENT,
        SMTPlacementFaultType.PARTS_EXHAUST,
    )
    assert fault.fault_code == code and fault.reference_part_number == "LED-GRN-0603"
    assert fault.material_location is not None and fault.designator is not None
    assert fault.material_location.location_identifier == "1-03"
    assert fault.designator.reference_designator == "D2"
    second_start = [e.body for e in inbox.seen if isinstance(e.body, WorkStarted)][-1]
    assert second_start.primary_identifier == "SN-B" and fault.transaction_id == second_start.transaction_id
    down = await inbox.next_of(StationStateChanged)
    assert down.body.new_state == ResourceState("5000")
    assert down.body.related_fault.fault_occurrence_id == fault.fault_occurrence_id
    await virtual_clock.run_for(600)
    assert machine.boards_done == 1  # the board waits in the machine
    machine.refill("1-03")
    loaded = await inbox.next_of(MaterialsLoaded)
    [reel] = loaded.body.materials
    assert (reel.location_identifier, reel.material_package.quantity) == ("1-03", 4000)
    cleared = await inbox.next_of(FaultCleared)
    assert cleared.body.fault_occurrence_id == fault.fault_occurrence_id
    await virtual_clock.run_until(lambda: machine.boards_done == 2, within=600)
    await feeding
    installed = await inbox.next_of(MaterialsInstalled)
    leds = [m for m in installed.body.installed_materials if m.reference_part_number == "LED-GRN-0603"]
    assert [m.quantity_installed for m in leds] == [1, 1]  # one from the old reel, one from the new
    assert leds[0].material.unique_identifier != leds[1].material.unique_identifier
    assert machine.feeders["1-03"].quantity == 3999


async def test_reset_without_parts_stops_again_and_a_reel_elsewhere_resumes(
    machine: PlacementMachine, inbox: Inbox, virtual_clock: SteppedClock, handoff: Handoff
) -> None:
    """clear_fault with the reel still empty → a new occurrence; the part loaded in another slot → resumes."""
    machine.load_feeder(Feeder("1-03", "LED-GRN-0603", 1))
    feeding = asyncio.create_task(feed(handoff, [Board(barcode="SN-C")]))
    code = "FEEDER-EMPTY-1-03"
    await virtual_clock.run_until(lambda: code in machine.faults, within=600)
    first = (await inbox.next_of(FaultOccurred)).body.fault
    machine.clear_fault(code)
    assert (await inbox.next_of(FaultCleared)).body.fault_occurrence_id == first.fault_occurrence_id
    again = (await inbox.next_of(FaultOccurred)).body.fault
    assert again.fault_code == code and again.fault_occurrence_id != first.fault_occurrence_id
    machine.load_feeder(Feeder("3-01", "LED-GRN-0603", 500))
    assert (await inbox.next_of(FaultCleared)).body.fault_occurrence_id == again.fault_occurrence_id
    await virtual_clock.run_until(lambda: machine.boards_done == 1, within=600)
    await feeding
    installed = await inbox.next_of(MaterialsInstalled)
    slots = [m.carrier_location.location_identifier for m in installed.body.installed_materials]
    assert slots.count("1-03") == 1 and slots.count("3-01") == 1
    assert machine.feeders["3-01"].quantity == 499


async def test_silent_machine_keeps_the_socket_but_does_not_answer(
    machine: PlacementMachine, requester: CFXRequester
) -> None:
    """go_silent: the requester times out; after go_silent(False) the machine answers again."""
    machine.go_silent()
    with pytest.raises(RequestTimeout):
        await ask(requester, machine, AreYouThereRequest(cfx_handle=HANDLE), timeout=0.5)
    machine.go_silent(False)
    assert isinstance((await ask(requester, machine, AreYouThereRequest())).body, AreYouThereResponse)


async def test_dropped_publish_connection_spools_and_reconnects_in_order(
    machine: PlacementMachine, inbox: Inbox, virtual_clock: SteppedClock, requester: CFXRequester
) -> None:
    """After a drop, events wait in the spool until the reconnect, then arrive in order; none is lost."""
    await inbox.next_of(Heartbeat)
    machine.drop_connection()
    machine.raise_fault("E-DOOR", "front cover open", cause=FaultCause.SAFETY_STOP)
    machine.clear_fault("E-DOOR")
    await asyncio.wait_for(
        virtual_clock.wait_for_sleeper(virtual_clock.now() + machine.reconnect_interval), DEADLINE
    )
    assert not machine.publish_connected and machine.spooled >= 4
    await virtual_clock.run_for(machine.reconnect_interval)
    occurred = await inbox.next_of(FaultOccurred)
    assert (occurred.body.fault.fault_code, occurred.body.fault.cause) == ("E-DOOR", FaultCause.SAFETY_STOP)
    after = await inbox.until(FaultCleared, 1)
    assert [type(e.body) for e in after] == [StationStateChanged, FaultCleared]
    cleared: Any = after[-1].body
    assert cleared.fault_occurrence_id == occurred.body.fault.fault_occurrence_id
    assert isinstance((await ask(requester, machine, AreYouThereRequest())).body, AreYouThereResponse)


async def test_run_slow_stretches_the_work(
    machine: PlacementMachine, inbox: Inbox, virtual_clock: SteppedClock, handoff: Handoff
) -> None:
    """run_slow(2): WorkStarted to WorkCompleted takes twice the recipe's cycle time."""
    machine.run_slow(2.0)
    feeding = asyncio.create_task(feed(handoff, [Board()]))
    await virtual_clock.run_until(lambda: machine.boards_done == 1, within=600)
    await feeding
    started = await inbox.next_of(WorkStarted)
    completed = await inbox.next_of(WorkCompleted)
    assert completed.time_stamp - started.time_stamp == timedelta(seconds=60)


@pytest.mark.broker
async def test_publishes_through_rabbitmq(virtual_clock: SteppedClock) -> None:
    """Publishing to /exchange/<x> on RabbitMQ: routed by the "<handle>.<MessageName>" subject, gzipped."""
    exchange_name = f"linegate-test.{uuid.uuid4().hex[:8]}.placement"
    connection = await aio_pika.connect(BROKER_URL)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC)
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, f"{HANDLE}.#")
        try:
            async with PlacementMachine(
                handle=HANDLE,
                clock=virtual_clock,
                publish_uri=AMQP10_URL,
                publish_address=f"/exchange/{exchange_name}",
            ):
                got = []
                async with queue.iterator() as messages:
                    for _ in range(3):
                        got.append(await asyncio.wait_for(anext(messages), DEADLINE))
                        await got[-1].ack()
            # stop() published EndpointShuttingDown and waited until the broker accepted it.
            last = await queue.get(timeout=DEADLINE, no_ack=True)
        finally:
            await channel.exchange_delete(exchange_name)
    envelopes = [decode_envelope(decode_payload(m.body, m.content_encoding)) for m in [*got, last]]
    assert [type(e.body) for e in envelopes] == [
        EndpointConnected,
        StationStateChanged,
        Heartbeat,
        EndpointShuttingDown,
    ]
    assert got[0].routing_key == f"{HANDLE}.CFX.EndpointConnected"
    assert last.routing_key == f"{HANDLE}.CFX.EndpointShuttingDown"
    assert got[0].content_encoding == "gzip"
    assert all(e.source == HANDLE for e in envelopes)


async def test_an_accelerated_machine_stamps_its_events_with_the_real_calendar(inbox: Inbox) -> None:
    """At 10,000 simulated seconds per second, heartbeats every simulated minute still carry
    TimeStamps beside the host's clock: acceleration must not leak into CFX TimeStamp."""
    clock = ScaledClock(10_000)
    async with PlacementMachine(
        handle=HANDLE, clock=clock, publish_uri=inbox.listener.uri, publish_address=EVENTS, spread=0.0
    ):
        beats = [e for e in await inbox.until(Heartbeat, 20) if isinstance(e.body, Heartbeat)]
        simulated = clock.now()
    assert simulated >= 19 * 60  # twenty heartbeats: at least nineteen simulated minutes apart
    now = datetime.now(UTC)
    assert all(abs(beat.time_stamp - now) < timedelta(seconds=30) for beat in beats)
