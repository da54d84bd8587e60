"""The CFX-native adapter against a CFX machine built from protocols.cfx.transport.

The machine is the other role of the same transports, over real loopback AMQP 1.0: a
CFXListener hosting its handle (answering recipe requests the way its handler decides) and an
AMQP10Publisher publishing its events to the adapter's listener, or through RabbitMQ.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aio_pika
import msgspec
import pytest
from proton import Message
from proton.utils import BlockingConnection
from structlog.testing import capture_logs

from adapters.base import CommandError, RecipeInfo, ReconnectPolicy
from adapters.cfx_native import BrokerEvents, CFXNativeAdapter, DirectEvents, MachineView
from adapters.observations import (
    BoardArrived,
    FaultCleared,
    FaultRaised,
    Observation,
    RecipeActivated,
    Severity,
    StateChanged,
    WorkFinished,
    WorkResult,
    WorkStarted,
)
from protocols import cfx
from protocols.cfx import Envelope, RawMessage
from protocols.cfx.enums import FaultSeverity, ResourceState, StatusResult
from protocols.cfx.messages import CFXMessage
from protocols.cfx.transport import AMQP10Publisher, CFXListener
from protocols.errors import ConfigError

OVEN = "AcmeThermal.RF-X10.SN20451"
ADDRESS = "/linegate/events"
WAIT = 10.0
BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"
AMQP10_URL = "amqp://guest:guest@127.0.0.1:5672"
RUN_ID = uuid.uuid4().hex[:8]


@dataclass
class Machine:
    """A CFX oven: hosts its handle on an AMQP 1.0 listener and publishes its events.

    ``mode`` decides how it answers ActivateRecipeRequest: ``"ok"`` switches, ``"refuse"``
    answers Failed, ``"hang"`` never answers, ``"ignore"`` says Success but keeps its recipe.
    """

    recipes: dict[str, str] = field(default_factory=lambda: {"PROD-A": "1", "PROD-B": "3"})
    active: tuple[str, str] = ("PROD-A", "1")
    mode: str = "ok"
    requests: list[str] = field(default_factory=list)
    listener: CFXListener | None = None
    publisher: AMQP10Publisher | None = None
    port: int = 0

    async def handle(self, request: Envelope) -> CFXMessage | None:
        body = request.body
        self.requests.append(request.message_name.rpartition(".")[2])
        if isinstance(body, cfx.ActivateRecipeRequest):
            if self.mode == "hang":
                await asyncio.Event().wait()
            name = body.recipe_name or ""
            if self.mode == "refuse" or name not in self.recipes:
                failed = cfx.RequestResult(
                    result=StatusResult.FAILED, result_code=17, message=f"Recipe {name} is not on the oven"
                )
                return cfx.ActivateRecipeResponse(result=failed)
            if self.mode != "ignore":
                self.active = (name, self.recipes[name])
            return cfx.ActivateRecipeResponse(result=cfx.RequestResult())
        if isinstance(body, cfx.GetActiveRecipeRequest):
            return cfx.GetActiveRecipeResponse(
                result=cfx.RequestResult(),
                active_recipe_name=self.active[0],
                active_recipe_revision=self.active[1],
            )
        if isinstance(body, cfx.GetAvailableRecipesRequest):
            listed = [cfx.RecipeIdentifier(recipe_name=n, revision=r) for n, r in self.recipes.items()]
            return cfx.GetAvailableRecipesResponse(
                result=cfx.RequestResult(), actual_count=len(listed), recipe_count=len(listed), recipes=listed
            )
        return None  # the listener answers NotSupportedResponse

    @property
    def uri(self) -> str:
        return f"amqp://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Open the request listener (on the same port after a restart)."""
        self.listener = CFXListener("127.0.0.1", self.port)
        self.listener.add_handle(OVEN, self.handle)
        await self.listener.__aenter__()
        self.port = self.listener.port

    async def connect_events(self, uri: str, address: str = ADDRESS) -> None:
        """Open the publish channel to ``address`` at ``uri`` (gzip, the SDK's default codec)."""
        self.publisher = AMQP10Publisher(uri, address, handle=OVEN, gzip=True)
        await self.publisher.__aenter__()

    async def publish(self, body: CFXMessage, *, source: str = OVEN) -> Envelope:
        assert self.publisher is not None
        envelope = Envelope.create(body, source=source)
        await self.publisher.publish(envelope)
        return envelope

    async def stop(self) -> None:
        """Power off: close the publish channel and the request listener."""
        if self.publisher is not None:
            await self.publisher.aclose()
            self.publisher = None
        if self.listener is not None:
            await self.listener.aclose()
            self.listener = None


class Gateway:
    """What the gateway gives the adapter: a forward sink and an observation sink, as queues."""

    def __init__(self) -> None:
        self.envelopes: asyncio.Queue[Envelope] = asyncio.Queue()
        self.observations: asyncio.Queue[Observation] = asyncio.Queue()
        self.sessions: asyncio.Queue[int] = asyncio.Queue()

    async def forward(self, envelopes: Sequence[Envelope]) -> None:
        for envelope in envelopes:
            await self.envelopes.put(envelope)

    async def emit(self, observation: Observation) -> None:
        await self.observations.put(observation)

    async def next_envelope(self) -> Envelope:
        return await asyncio.wait_for(self.envelopes.get(), WAIT)

    async def next_observation(self) -> Observation:
        return await asyncio.wait_for(self.observations.get(), WAIT)


class WatchedAdapter(CFXNativeAdapter):
    """The adapter, reporting each established session to the test."""

    gateway: Gateway

    def connected(self) -> None:
        super().connected()
        self.gateway.sessions.put_nowait(self.health.connects)


FAST = ReconnectPolicy(base=0.02, cap=0.1, healthy_after=60.0)


def make_adapter(
    gateway: Gateway, machine: Machine, *, policy: ReconnectPolicy = FAST, **options: object
) -> WatchedAdapter:
    settings: dict[str, object] = {
        "handle": OVEN,
        "events": DirectEvents(host="127.0.0.1", address=ADDRESS),
        "request_uri": machine.uri,
        "our_handle": "Line1.Gateway",
        "request_timeout": 5.0,
        "confirm_timeout": 1.0,
        "policy": policy,
        "liveness_timeout": 5.0,
    }
    settings.update(options)
    adapter = WatchedAdapter("oven1", **settings)  # type: ignore[arg-type]
    adapter.gateway = gateway
    return adapter


@contextlib.asynccontextmanager
async def running(adapter: WatchedAdapter) -> AsyncIterator[WatchedAdapter]:
    """Run the adapter until the block ends, then cancel it and wait for its cleanup."""
    task = asyncio.create_task(adapter.run(adapter.gateway.emit, forward=adapter.gateway.forward))
    try:
        await asyncio.wait_for(adapter.gateway.sessions.get(), WAIT)
        yield adapter
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def machine() -> AsyncIterator[Machine]:
    m = Machine()
    await m.start()
    try:
        yield m
    finally:
        await m.stop()


@pytest.fixture
async def gateway() -> Gateway:
    return Gateway()


# --- pass-through ---------------------------------------------------------------------------


async def test_events_are_forwarded_in_order_and_keep_the_view_current(
    machine: Machine, gateway: Gateway
) -> None:
    """Every event reaches forward unchanged and in order; its observations follow it."""
    board = str(uuid.uuid4())
    fault = cfx.Fault(fault_code="E-231", severity=FaultSeverity.ALARM, description="Zone 3 overtemperature")
    work = cfx.WorkStarted(
        hermes_identifier=board, primary_identifier="PCB-0001", lane=1, recipe_name="PROD-A"
    )
    bodies: list[CFXMessage] = [
        cfx.StationStateChanged(old_state=ResourceState.NST, new_state=ResourceState("1100")),
        cfx.FaultOccurred(fault=fault),
        cfx.FaultCleared(fault_occurrence_id=fault.fault_occurrence_id),
        cfx.UnitsArrived(hermes_identifier=board, primary_identifier="PCB-0001", lane=1),
        work,
        cfx.WorkCompleted(transaction_id=work.transaction_id, result=cfx.WorkResult.FAILED),
        cfx.RecipeActivated(recipe_name="PROD-B", revision="3", lane=1),
        cfx.Heartbeat(cfx_handle=OVEN, heartbeat_frequency=timedelta(minutes=1)),
    ]
    adapter = make_adapter(gateway, machine)
    async with running(adapter):
        assert adapter.events_uri is not None
        await machine.connect_events(adapter.events_uri)
        sent = [await machine.publish(body) for body in bodies]
        got = [await gateway.next_envelope() for _ in sent]
        seen = [await gateway.next_observation() for _ in range(7)]
    assert [e.unique_id for e in got] == [e.unique_id for e in sent]
    assert [e.body for e in got] == bodies
    state, raised, cleared, arrived, started, finished, recipe = seen
    assert isinstance(state, StateChanged) and state.state == 1100 and state.machine_id == "oven1"
    assert state.at == sent[0].time_stamp
    assert isinstance(raised, FaultRaised) and raised.code == "E-231" and raised.severity is Severity.ALARM
    assert isinstance(cleared, FaultCleared) and cleared.code == "E-231"
    assert isinstance(arrived, BoardArrived) and (arrived.board_id, arrived.barcode) == (board, "PCB-0001")
    assert isinstance(started, WorkStarted) and started.lane == 1 and started.recipe == "PROD-A"
    # WorkCompleted names only its TransactionID: the board comes from the matching WorkStarted.
    assert isinstance(finished, WorkFinished)
    assert (finished.board_id, finished.barcode, finished.lane) == (board, "PCB-0001", 1)
    assert finished.result is WorkResult.FAILED
    assert isinstance(recipe, RecipeActivated) and (recipe.recipe, recipe.revision) == ("PROD-B", "3")
    assert gateway.observations.empty()  # the Heartbeat is a sign of life, not an observation
    assert adapter.stats.forwarded == len(bodies) and adapter.stats.rejected == 0


def _send_garbage(uri: str) -> None:
    connection = BlockingConnection(uri, timeout=WAIT)
    try:
        sender = connection.create_sender(ADDRESS)
        sender.send(
            Message(body=b'{"MessageName": "CFX.Heartbeat", "TimeStamp": 42', inferred=True), timeout=WAIT
        )
    finally:
        connection.close()


async def test_malformed_foreign_and_repeated_envelopes_are_counted_not_forwarded(
    machine: Machine, gateway: Gateway
) -> None:
    """Garbage, another handle's event, a response and a redelivery never reach forward."""
    adapter = make_adapter(gateway, machine)
    with capture_logs() as logs:
        async with running(adapter):
            assert adapter.events_uri is not None
            await asyncio.to_thread(_send_garbage, adapter.events_uri)
            await machine.connect_events(adapter.events_uri)
            await machine.publish(cfx.StationOffline(), source="Other.Oven.2")
            assert machine.publisher is not None
            response = Envelope.create(
                cfx.ActivateRecipeResponse(), source=OVEN, target="Line1.Gateway", request_id="REQUEST-1"
            )
            await machine.publisher.publish(response)
            first = await machine.publish(cfx.StationOnline())
            await machine.publisher.publish(first)  # the SDK's spool resends after a reconnect
            unknown = Envelope(
                message_name="CFX.Vendor.Acme.NozzleCleaned",
                time_stamp=datetime.now(UTC),
                unique_id=uuid.uuid4(),
                source=OVEN,
                target=None,
                request_id=None,
                body=RawMessage(
                    "CFX.Vendor.Acme.NozzleCleaned", {"$type": "CFX.Vendor.Acme.NozzleCleaned, CFX"}
                ),
            )
            await machine.publisher.publish(unknown)
            last = await machine.publish(cfx.StationOffline())
            got = [await gateway.next_envelope() for _ in range(3)]
    assert [e.unique_id for e in got] == [first.unique_id, unknown.unique_id, last.unique_id]
    stats = adapter.stats
    assert (stats.received, stats.forwarded) == (6, 3)
    assert (stats.malformed, stats.rejected, stats.duplicates) == (1, 2, 1)
    rejected = [e for e in logs if e["event"] == "envelope.rejected"]
    assert "is not this machine's handle" in rejected[0]["problems"][0]
    assert "request or response" in rejected[1]["problems"][0]
    assert rejected[0]["machine"] == "oven1" and rejected[0]["handle"] == OVEN


def test_unknown_messages_are_checked_before_they_are_forwarded() -> None:
    """Unknown messages pass unless configured off; a ``$type`` C# readers would ignore is a finding."""
    name = "CFX.Vendor.Acme.NozzleCleaned"

    def unknown(body: dict[str, object]) -> Envelope:
        return Envelope(name, datetime.now(UTC), uuid.uuid4(), OVEN, None, None, RawMessage(name, body))

    lenient = make_adapter(Gateway(), Machine())
    assert lenient.problems(unknown({"Nozzle": 7})) == []
    assert lenient.findings(unknown({"Nozzle": 7})) == []
    late_tag = lenient.findings(unknown({"Nozzle": 7, "$type": f"{name}, CFX"}))
    assert len(late_tag) == 1 and "[type-not-first]" in late_tag[0]
    strict = make_adapter(Gateway(), Machine(), forward_unknown=False)
    assert strict.problems(unknown({"Nozzle": 7})) == [
        f"$.MessageName: {name!r} is not in linegate's catalogue"
    ]


def test_envelopes_without_identity_or_time_are_refused() -> None:
    """What the lenient reader fills in for a missing UniqueID or TimeStamp is not forwarded."""
    adapter = make_adapter(Gateway(), Machine())
    good = Envelope.create(cfx.StationOnline(), source=OVEN)
    assert adapter.problems(good) == []
    nameless = msgspec.structs.replace(good, unique_id=uuid.UUID(int=0))
    assert adapter.problems(nameless) == ["$.UniqueID: missing (all zeros)"]
    timeless = msgspec.structs.replace(good, time_stamp=datetime(1, 1, 1, tzinfo=UTC))
    assert adapter.problems(timeless) == ["$.TimeStamp: missing (DateTime.MinValue)"]


async def test_run_without_forward_is_a_config_error(machine: Machine, gateway: Gateway) -> None:
    adapter = make_adapter(gateway, machine)
    with pytest.raises(ConfigError, match="forward"):
        await adapter.run(gateway.emit)


# --- commands -------------------------------------------------------------------------------


async def test_recipe_activation_is_confirmed_by_read_back(machine: Machine, gateway: Gateway) -> None:
    adapter = make_adapter(gateway, machine, lane=1)
    confirmed = await adapter.activate_recipe("PROD-B", "3")
    assert isinstance(confirmed, RecipeActivated)
    assert (confirmed.machine_id, confirmed.recipe, confirmed.revision, confirmed.lane) == (
        "oven1",
        "PROD-B",
        "3",
        1,
    )
    assert machine.requests == ["ActivateRecipeRequest", "GetActiveRecipeRequest"]
    assert await adapter.active_recipe() == RecipeInfo("PROD-B", "3")
    assert await adapter.available_recipes() == [RecipeInfo("PROD-A", "1"), RecipeInfo("PROD-B", "3")]
    assert adapter.health.last_rtt is not None


async def test_refused_activation_carries_the_machines_message(machine: Machine, gateway: Gateway) -> None:
    adapter = make_adapter(gateway, machine)
    with pytest.raises(CommandError) as refused:
        await adapter.activate_recipe("PROD-X")
    assert refused.value.refused
    assert "Recipe PROD-X is not on the oven" in refused.value.reason
    assert machine.requests == ["ActivateRecipeRequest"]  # no read-back after a refusal


async def test_unsupported_request_is_a_refusal(gateway: Gateway) -> None:
    """A machine that hosts its handle without a handler answers NotSupportedResponse."""
    async with CFXListener("127.0.0.1", 0) as bare:
        bare.add_handle(OVEN)
        adapter = make_adapter(gateway, Machine(port=bare.port))
        with pytest.raises(CommandError) as refused:
            await adapter.available_recipes()
    assert refused.value.refused and "does not support GetAvailableRecipesRequest" in refused.value.reason


async def test_activation_times_out(machine: Machine, gateway: Gateway) -> None:
    machine.mode = "hang"
    adapter = make_adapter(gateway, machine, request_timeout=0.3)
    with pytest.raises(CommandError) as timed_out:
        await adapter.activate_recipe("PROD-B")
    assert not timed_out.value.refused
    assert timed_out.value.reason == f"{OVEN} did not answer ActivateRecipeRequest within 0.3 s"


async def test_accepted_but_never_active_is_not_confirmed(machine: Machine, gateway: Gateway) -> None:
    machine.mode = "ignore"
    adapter = make_adapter(gateway, machine, confirm_timeout=0.3)
    with pytest.raises(CommandError) as unconfirmed:
        await adapter.activate_recipe("PROD-B", "3")
    assert not unconfirmed.value.refused
    assert "accepted PROD-B revision 3 but reports PROD-A revision 1 active" in unconfirmed.value.reason
    assert machine.requests.count("GetActiveRecipeRequest") >= 2  # it looked again before giving up


async def test_commands_without_request_uri_are_refused(gateway: Gateway) -> None:
    adapter = make_adapter(gateway, Machine(), request_uri=None)
    with pytest.raises(CommandError, match="no request URI"):
        await adapter.active_recipe()


# --- liveness and reconnects ----------------------------------------------------------------


async def test_silent_machine_is_detected_and_reconnected(gateway: Gateway) -> None:
    """A request listener that accepts TCP and never answers: AreYouThere fails, the watchdog acts."""
    held: list[asyncio.StreamWriter] = []

    async def black_hole(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(black_hole, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    policy = ReconnectPolicy(base=0.02, cap=0.05, healthy_after=60.0)
    adapter = make_adapter(gateway, Machine(port=port), policy=policy, liveness_timeout=0.6)
    try:
        with capture_logs() as logs:
            async with running(adapter):
                assert await asyncio.wait_for(gateway.sessions.get(), WAIT) == 2
    finally:
        server.close()
        for writer in held:
            writer.close()
    events = [e["event"] for e in logs]
    assert "probe.failed" in events
    failed = next(e for e in logs if e["event"] == "connect.failed")
    assert "no answer from the machine for 0.6 s" in failed["error"]
    assert adapter.health.failures >= 1


async def test_liveness_follows_the_heartbeat_frequency_the_machine_announces(
    machine: Machine, gateway: Gateway
) -> None:
    """Without a configured timeout, the session allows twice the SDK's default heartbeat period
    (1 min) until the machine announces its own; then twice that. A machine that falls silent
    for longer is reconnected, and one that keeps to its heartbeat is not."""
    adapter = make_adapter(gateway, machine, request_uri=None, liveness_timeout=None)
    assert adapter.liveness_timeout == 120.0  # not the policy's 15 s: an idle SDK endpoint is alive
    async with running(adapter):
        assert adapter.events_uri is not None
        await machine.connect_events(adapter.events_uri)
        for _ in range(3):  # keeping to a 0.5 s heartbeat keeps the session
            await machine.publish(cfx.Heartbeat(cfx_handle=OVEN, heartbeat_frequency=timedelta(seconds=0.5)))
            await gateway.next_envelope()
        assert adapter.liveness_timeout == 120.0  # below the SDK's 1 s minimum: ignored
        beat = cfx.Heartbeat(cfx_handle=OVEN, heartbeat_frequency=timedelta(seconds=1))
        with capture_logs() as logs:
            await machine.publish(beat)
            await gateway.next_envelope()
            assert adapter.liveness_timeout == 2.0
            assert adapter.health.connects == 1
            # Silence: the watchdog ends the session two announced periods later.
            assert await asyncio.wait_for(gateway.sessions.get(), WAIT) == 2
    failed = next(e for e in logs if e["event"] == "connect.failed")
    assert "no answer from the machine for 2 s" in failed["error"]


async def test_events_flow_again_after_the_machine_restarts(machine: Machine, gateway: Gateway) -> None:
    """The machine powers off (the session ends on the watchdog) and comes back on the same port."""
    policy = ReconnectPolicy(base=0.02, cap=0.05, healthy_after=60.0)
    adapter = make_adapter(gateway, machine, policy=policy, liveness_timeout=1.5)
    async with running(adapter):
        assert adapter.events_uri is not None
        await machine.connect_events(adapter.events_uri)
        before = await machine.publish(cfx.StationOnline())
        assert (await gateway.next_envelope()).unique_id == before.unique_id
        await machine.stop()
        assert await asyncio.wait_for(gateway.sessions.get(), WAIT) == 2  # watchdog, then reconnect
        await machine.start()
        await machine.connect_events(adapter.events_uri)  # the adapter kept its listener port
        after = await machine.publish(cfx.StationStateChanged(new_state=ResourceState("1100")))
        assert (await gateway.next_envelope()).unique_id == after.unique_id
        assert isinstance(await gateway.next_observation(), StateChanged)
        confirmed = await adapter.activate_recipe("PROD-B")
        assert confirmed.revision == "3"
    assert adapter.health.failures >= 1
    assert "no answer from the machine" in (adapter.health.last_error or "")


async def test_cancelling_run_releases_the_listener(machine: Machine, gateway: Gateway) -> None:
    """After cancellation the events port is free again: nothing is left listening."""
    adapter = make_adapter(gateway, machine)
    async with running(adapter):
        uri = adapter.events_uri
        assert uri is not None
    port = int(uri.rpartition(":")[2])
    async with CFXListener("127.0.0.1", port) as again:
        assert again.port == port


# --- the machine view, without I/O ----------------------------------------------------------


def test_view_links_fault_clear_to_its_code_and_work_to_its_board() -> None:
    view = MachineView("oven1")
    at = datetime(2026, 5, 4, 7, 1, 12, tzinfo=UTC)

    def env(body: CFXMessage) -> Envelope:
        return Envelope.create(body, source=OVEN, time_stamp=at)

    anonymous = cfx.Fault(severity=FaultSeverity.WARNING)
    [raised] = view.observe(env(cfx.FaultOccurred(fault=anonymous)))
    assert isinstance(raised, FaultRaised) and raised.code == str(anonymous.fault_occurrence_id)
    [cleared] = view.observe(env(cfx.FaultCleared(fault_occurrence_id=anonymous.fault_occurrence_id)))
    assert isinstance(cleared, FaultCleared) and cleared.code == raised.code and not view.faults
    unmatched = cfx.WorkCompleted(
        primary_identifier="PCB-9", units=[cfx.UnitPosition(unit_identifier="PCB-9")]
    )
    [finished] = view.observe(env(unmatched))
    assert isinstance(finished, WorkFinished) and finished.barcode == "PCB-9" and finished.lane is None
    assert view.observe(env(cfx.EndpointShuttingDown(cfx_handle=OVEN))) == []


# --- through RabbitMQ -----------------------------------------------------------------------


@pytest.fixture
async def broker_names(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, str]]:
    """A per-test exchange and queue, deleted afterwards."""
    test = re.sub(r"[^A-Za-z0-9_-]", "_", request.node.name)[:60]
    stem = f"linegate-test.{RUN_ID}.{test}"
    yield f"{stem}.x", f"{stem}.q"
    connection = await aio_pika.connect(BROKER_URL)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(f"{stem}.q")
        await channel.exchange_delete(f"{stem}.x")


@pytest.mark.broker
async def test_events_through_the_broker(
    machine: Machine, gateway: Gateway, broker_names: tuple[str, str]
) -> None:
    """The machine publishes AMQP 1.0 to the exchange; the adapter's queue gets only its handle."""
    exchange, queue = broker_names
    events = BrokerEvents(url=BROKER_URL, exchange=exchange, queue=queue, durable=False)
    adapter = make_adapter(gateway, machine, events=events)
    async with running(adapter):
        # RabbitMQ 3.x routes /exchange/<x> by the subject "<Source>.<MessageName>" (cfx.md §2.2).
        await machine.connect_events(AMQP10_URL, f"/exchange/{exchange}")
        await machine.publish(cfx.StationOffline(), source="AcmeThermal.RF-X10.SN20452")
        sent = await machine.publish(cfx.StationStateChanged(new_state=ResourceState("2200")))
        got = await gateway.next_envelope()
        observed = await gateway.next_observation()
    assert got.unique_id == sent.unique_id
    assert isinstance(observed, StateChanged) and observed.state == 2200
    assert adapter.stats.received == 1  # the neighbour's event was never routed to our queue
