"""The running gateway: machines supervised, observations normalized into the outbox, sinks draining.

``MachineRuntime`` is one machine's pipeline: its adapter's observations go through its
``MachineNormalizer`` into the outbox, faults and state changes at high priority. ``Gateway``
runs all of them in one TaskGroup: each adapter under its own supervisor (a crash is logged and
restarted with backoff and never takes another machine down), one drain task per sink, the CFX
request listener hosting every machine's handle, and the heartbeat. A clean stop publishes
EndpointShuttingDown for every handle and lets the sinks flush what they can.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from adapters.base import Adapter
from adapters.files import FilesAdapter
from adapters.observations import Observation, ResultFileRead, WorkStarted
from gateway import presence
from gateway.file_journal import OutboxJournal
from gateway.normalize import MachineNormalizer
from gateway.outbox import Outbox, OutboxItem, Priority
from gateway.recipes import RecipeService
from gateway.sinks.base import Sink, drain
from protocols.backoff import full_jitter
from protocols.cfx import EndpointConnected, EndpointShuttingDown, Envelope, RecipeIdentifier, encode_envelope
from protocols.errors import LinegateError

if TYPE_CHECKING:
    from gateway.trace.service import TraceService

log = structlog.get_logger("linegate.runtime")

# Events the outbox keeps longest when it overflows (the drain itself keeps put order).
_HIGH = (
    "CFX.ResourcePerformance.",  # faults, state changes, log entries
    "CFX.Production.RecipeActivated",
    "CFX.Production.RecipeDeactivated",
    "CFX.EndpointConnected",
    "CFX.EndpointShuttingDown",
    "CFX.Heartbeat",
)
_BULK_IN_HIGH = ("CFX.ResourcePerformance.EnergyConsumed", "CFX.ResourcePerformance.ProcessDataRecorded")


def priority_for(message_name: str) -> Priority:
    """HIGH for faults, state, recipe and presence messages; BULK for unit flow and process data."""
    if message_name.startswith(_BULK_IN_HIGH):
        return Priority.BULK
    return Priority.HIGH if message_name.startswith(_HIGH) else Priority.BULK


def outbox_item(envelope: Envelope) -> OutboxItem:
    """The outbox record of an envelope: its JSON plus routing facts.

    An envelope a transport received (a CFX machine's, relayed) is stored as the bytes it came in:
    a relay changes nothing. One made here is encoded as the SDK writes it.
    """
    assert envelope.source is not None
    return OutboxItem(
        source=envelope.source,
        message_name=envelope.message_name,
        unique_id=str(envelope.unique_id),
        payload=envelope.data if envelope.data is not None else encode_envelope(envelope),
        priority=priority_for(envelope.message_name),
    )


class MachineRuntime:
    """One machine: its adapters, normalizer and the outbox they feed.

    Args:
        machine_id: the id from the line config.
        handle: its CFX handle (Source of its envelopes).
        adapter: the connection to the machine (it also performs the recipe commands).
        outbox: where its envelopes are stored before anything acknowledges them.
        interlock: ``finish_board`` or ``refuse`` (see ``gateway.recipes``).
        trackers: further connections that observe the same machine, such as its Hermes
            vertical channel (which boards arrived and left).
        synthesize_work: the machine's protocol reports no work of its own; derive it from the
            boards' arrival and departure (see ``MachineNormalizer``).
        derive_state: the machine's protocol reports no state; derive it from its work.
        link_grace: seconds of silence after which the machine is reported lost in CFX
            (``gateway.presence``); None watches nothing.
    """

    def __init__(
        self,
        machine_id: str,
        handle: str,
        adapter: Adapter,
        outbox: Outbox,
        interlock: str,
        *,
        trackers: Sequence[Adapter] = (),
        synthesize_work: bool = False,
        derive_state: bool = False,
        link_grace: float | None = None,
    ) -> None:
        self.machine_id = machine_id
        self.handle = handle
        self.adapter = adapter
        self.adapters: tuple[Adapter, ...] = (adapter, *trackers)
        # A machine that speaks CFX itself publishes its own envelopes (presence included); the
        # gateway forwards them and keeps its view of the machine from their observations.
        self.passthrough = adapter.passthrough
        self.outbox = outbox
        self.interlock = interlock
        self.normalizer = MachineNormalizer(
            handle, synthesize_work=synthesize_work, derive_state=derive_state
        )
        self.link_grace = link_grace
        self.observations = 0
        self.events = 0
        self._changed = asyncio.Condition()
        # A result-file machine's journal lives in the outbox: each file's row commits with its
        # events (``record``), so a file counts once across restarts and kill -9.
        self.journal: OutboxJournal | None = None
        if isinstance(adapter, FilesAdapter):
            self.journal = adapter.journal = OutboxJournal(outbox, machine_id)

    def boards_in_process(self, besides: Collection[str] = ()) -> int:
        """Open work transactions (boards between WorkStarted and WorkCompleted), not counting
        a board whose BoardId or barcode is in ``besides``."""
        if not besides:
            return len(self.normalizer.transactions)
        return sum(
            1
            for tx in self.normalizer.transactions.values()
            if tx.board_id not in besides and tx.barcode not in besides
        )

    def defer_work_to_release(self) -> None:
        """Work the gateway synthesizes for this machine starts when the board gate releases
        the board (``released``), not when the board arrives (see ``MachineNormalizer``)."""
        self.normalizer.defer_work_start = self.normalizer.synthesize_work

    async def released(
        self,
        board_id: str | None,
        barcode: str | None,
        recipe: str | None,
        revision: str | None,
        *,
        work_order: str | None = None,
        batch: str | None = None,
    ) -> None:
        """The board gate let a board into the machine on ``recipe`` (None: as it runs), with the
        work order it answered the machine: start its synthesized work now. Where the machine
        reports its own work, only the work order is kept for that WorkStarted."""
        self.normalizer.assign_work_order(board_id, barcode, work_order, batch)
        if self.normalizer.defer_work_start:
            started = WorkStarted(
                machine_id=self.machine_id,
                at=datetime.now(UTC),
                board_id=board_id,
                barcode=barcode,
                recipe=recipe,
                revision=revision,
            )
            await self.record(started)

    async def wait_idle(self, besides: Collection[str] = ()) -> None:
        """Return once no board is in process (boards named in ``besides`` aside)."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.boards_in_process(besides) == 0)

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Return once ``condition()`` holds (at once if it does), asked again after each
        observation: a test or a tool waits on the machine's view instead of polling it."""
        async with self._changed:
            await self._changed.wait_for(condition)

    async def forward(self, envelopes: Sequence[Envelope]) -> None:
        """Commit envelopes the machine published itself (CFX-native pass-through), in order and
        in one group commit; returns once all are committed (the adapter then settles them).

        Raises:
            OutboxFull: the outbox refused one of them (``REFUSE_NEW`` at its bound).
        """
        committed = [self.outbox.submit(outbox_item(envelope)) for envelope in envelopes]
        await asyncio.gather(*committed)
        self.events += len(committed)

    async def observe(self, observation: Observation) -> None:
        """Update the view of the machine (boards, faults, recipe) without publishing anything:
        the observation describes an envelope that was forwarded already."""
        self.observations += 1
        self.normalizer.feed(observation)
        async with self._changed:
            self._changed.notify_all()

    async def record(self, observation: Observation) -> None:
        """Normalize an observation and queue its envelopes for the outbox's next group commit.

        It does not wait for the commit: an adapter acknowledges nothing to its machine, so
        waiting would only serialize the machine's stream on SQLite; the commit follows within
        one loop turn, and many observations share it. A refused event (the outbox is full and
        refuses new ones) is logged as ``outbox.refused``.

        For a CFX-native machine the envelopes come from the machine itself, so its observations
        (and its trackers') only update the view (see ``observe``).
        """
        if self.passthrough:
            await self.observe(observation)
            return
        if isinstance(observation, ResultFileRead) and self.journal is not None:
            await self._record_file(observation, self.journal)
            return
        self.observations += 1
        envelopes = self.normalizer.feed(observation)
        for envelope in envelopes:
            self.outbox.submit(outbox_item(envelope)).add_done_callback(self._committed)
        self.events += len(envelopes)
        async with self._changed:
            self._changed.notify_all()

    async def _record_file(self, observation: ResultFileRead, journal: OutboxJournal) -> None:
        # Unlike other observations this waits for the commit: the adapter disposes of the file
        # only once its events and its journal row are stored, in one transaction.
        self.observations += 1
        envelopes = self.normalizer.feed(observation)
        statement = journal.statement(observation.file, len(envelopes))
        await self.outbox.put_group([outbox_item(e) for e in envelopes], [statement])
        self.events += len(envelopes)
        async with self._changed:
            self._changed.notify_all()

    def _committed(self, outcome: asyncio.Future[int]) -> None:
        if not outcome.cancelled() and outcome.exception() is not None:
            log.error("outbox.refused", machine=self.machine_id, error=str(outcome.exception()))


AdapterFactory = Callable[[str], Adapter]


class Gateway:
    """The service: machines, outbox, sinks, the CFX listener and the recipe service.

    Args:
        outbox: the (not yet opened) outbox.
        machines: the machine runtimes.
        sinks: the sinks; their names must be the outbox's sink names.
        recipes: the recipe service (built over ``machines``).
        listener: an AMQP 1.0 ``CFXListener`` to host the machines' handles, or None.
        heartbeat: Heartbeat interval (1 s to 5 min; reference §2.6), or None for none.
    """

    def __init__(
        self,
        outbox: Outbox,
        machines: Sequence[MachineRuntime],
        sinks: Sequence[Sink],
        recipes: RecipeService,
        *,
        listener: object | None = None,
        heartbeat: timedelta | None = timedelta(minutes=1),
        restart_base: float = 1.0,
        restart_cap: float = 60.0,
    ) -> None:
        if heartbeat is not None and not timedelta(seconds=1) <= heartbeat <= timedelta(minutes=5):
            raise ValueError(
                "heartbeat must be between 1 s and 5 min (CFX requires one at least every 5 min)"
            )
        self.outbox = outbox
        self.machines: Mapping[str, MachineRuntime] = {m.machine_id: m for m in machines}
        self.sinks = list(sinks)
        self.recipes = recipes
        self.listener = listener
        self.heartbeat = heartbeat
        self.restart_base = restart_base
        self.restart_cap = restart_cap
        self.started = asyncio.Event()
        self.crashes: dict[str, int] = {m: 0 for m in self.machines}
        #: The in-process trace service and interlocks, when the line runs them ([trace]).
        self.trace: TraceService | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; then announce shutdown and return."""
        async with asyncio.TaskGroup() as group:
            intake: list[asyncio.Task[None]] = []  # everything that puts events into the outbox
            draining: list[asyncio.Task[None]] = []
            for runtime in self.machines.values():
                for adapter in runtime.adapters:
                    name = f"adapter[{runtime.handle}/{adapter.protocol}].run"
                    intake.append(group.create_task(self._supervise(runtime, adapter), name=name))
                if not runtime.passthrough:
                    await self._presence(runtime, EndpointConnected(cfx_handle=runtime.handle))
            for sink in self.sinks:
                draining.append(group.create_task(drain(self.outbox, sink), name=f"sink[{sink.name}].drain"))
            for runtime in self.machines.values():
                intake.append(
                    group.create_task(self._learn_recipe(runtime), name=f"machine[{runtime.handle}].recipe")
                )
            for runtime in self.machines.values():
                if runtime.link_grace is not None and not runtime.passthrough:
                    watch = presence.watch(runtime, runtime.link_grace)
                    intake.append(group.create_task(watch, name=f"machine[{runtime.handle}].presence"))
            if self.heartbeat is not None:
                intake.append(group.create_task(self._heartbeats(self.heartbeat), name="gateway.heartbeat"))
            self.started.set()
            log.info("gateway.started", machines=sorted(self.machines), sinks=[s.name for s in self.sinks])
            await stop.wait()
            # Stop the intake first and let it finish (an adapter may still report while it
            # closes), so that the flush below covers the last event, not all but the last.
            for task in intake:
                task.cancel()
            if intake:
                await asyncio.wait(intake)
            for runtime in self.machines.values():
                if not runtime.passthrough:
                    await self._presence(runtime, EndpointShuttingDown(cfx_handle=runtime.handle))
            await self._flush(timeout=5.0)
            for task in draining:
                task.cancel()
        log.info("gateway.stopped", backlog=self.outbox.depth())

    async def _presence(
        self, runtime: MachineRuntime, body: EndpointConnected | EndpointShuttingDown
    ) -> None:
        envelope = Envelope.create(body, source=runtime.handle, time_stamp=datetime.now(UTC))
        await self.outbox.put(outbox_item(envelope))

    async def _flush(self, timeout: float) -> None:
        # Give the sinks a moment to deliver the shutdown announcements; what remains stays in
        # the outbox and is delivered on the next start.
        try:
            async with asyncio.timeout(timeout):
                await self.outbox.wait_empty()
        except TimeoutError:
            log.warning("gateway.flush_incomplete", backlog=self.outbox.depth())

    async def _supervise(self, runtime: MachineRuntime, adapter: Adapter) -> None:
        rng = random.Random()
        while True:
            try:
                if runtime.passthrough and adapter is runtime.adapter:
                    await adapter.run(runtime.observe, forward=runtime.forward)  # type: ignore[call-arg]
                else:
                    await adapter.run(runtime.record)
            except Exception as exc:  # a bug in one adapter must not take the line down
                self.crashes[runtime.machine_id] += 1
                n = self.crashes[runtime.machine_id]
                delay = full_jitter(n, self.restart_base, self.restart_cap, rng)
                log.error(
                    "adapter.crashed",
                    machine=runtime.machine_id,
                    protocol=adapter.protocol,
                    error=repr(exc),
                    crashes=n,
                    restart_in=round(delay, 3),
                    exc_info=exc,
                )
                await asyncio.sleep(delay)

    async def _learn_recipe(self, runtime: MachineRuntime) -> None:
        # What the machine runs when we meet it: the view (dashboard, Heartbeat's ActiveRecipes)
        # knows it before any changeover. Nothing is published: no recipe was activated.
        await runtime.adapter.wait_connected()
        if runtime.normalizer.active_recipe is not None:
            return
        try:
            info = await runtime.adapter.active_recipe()
        except LinegateError as exc:
            log.info("recipe.unknown", machine=runtime.machine_id, error=str(exc))
            return
        if info is not None and runtime.normalizer.active_recipe is None:
            runtime.normalizer.active_recipe = RecipeIdentifier(recipe_name=info.name, revision=info.revision)

    async def _heartbeats(self, every: timedelta) -> None:
        while True:
            await asyncio.sleep(every.total_seconds())
            now = datetime.now(UTC)
            for runtime in self.machines.values():
                # A CFX machine sends its own; an unreachable one gets none, so that a consumer
                # watching Heartbeats sees it gone (gateway.presence).
                if not runtime.passthrough and runtime.normalizer.reachable:
                    await self.outbox.put(outbox_item(runtime.normalizer.heartbeat(every, now)))
