"""SMT placement machine simulator that speaks IPC-CFX natively, over AMQP 1.0 (``placement.md``).

Like real CFX equipment (reference/cfx.md §2), the machine is a CFX endpoint of its own:

- it **publishes** its events to one AMQP 1.0 node: a broker address (``/exchange/cfx`` on
  RabbitMQ) or another endpoint's listener, so it runs with no broker at all. Envelopes go
  through an in-memory spool, one at a time, and leave the spool only when the peer has
  accepted them; a lost connection is retried every ``reconnect_interval`` (the SDK's
  ReconnectInterval, 5 s) and the backlog drains in order (§2.3: at-least-once);
- it **hosts a request listener** for its CFX handle (§2.4): ActivateRecipe, GetActiveRecipe,
  GetAvailableRecipes and AreYouThere are answered, anything else gets NotSupportedResponse.
  The advertised request port is a byte relay in front of a :class:`CFXListener`, so that
  fault injection can act on the wire (go silent with the sockets open, drop connections).

The placement model: a recipe is a list of (reference designator, part number); feeders
(SMDTapeFeeder carriers, one reel each) hold part numbers and quantities, and each board takes
its parts from them. A feeder running empty stops the machine with an ``SMTPlacementFault``
(MissingComponent / PartsExhaust) until :meth:`PlacementMachine.refill` loads a new reel.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import protocols.cfx as cfx
from protocols.cfx.transport import AMQP10Publisher, CFXListener
from protocols.errors import LinegateError
from simulators.clock import Clock
from simulators.machine import (
    Board,
    BoardIn,
    BoardOut,
    Fault,
    FaultCleared,
    FaultOccurred,
    FaultSeverity,
    Machine,
    MachineEvent,
    Recipe,
    RecipeActivated,
    RecipeRefused,
    ResourceState,
    StationStateChanged,
    UnitsArrived,
    UnitsDeparted,
    WorkCompleted,
    WorkStarted,
)
from simulators.placement_cfx import (
    available_recipes,
    base_fault,
    cfx_state,
    primary,
    recipe_activated,
    unit_fields,
    with_identity,
)
from simulators.placement_material import (
    LANE,
    MISSING_COMPONENT_CODE,
    RECIPES,
    Feeder,
    Installed,
    default_feeders,
    installed_materials,
    missing_component,
)
from simulators.request_relay import RequestRelay

# reference §2.3: the SDK warns when a publish spool holds more than 90 messages.
SPOOL_WARNING = 90
# Real seconds a stopping machine waits for its spool (EndpointShuttingDown included) to drain.
FLUSH_TIMEOUT = 2.0
# reference §2.6: HeartbeatFrequency must lie between 1 s and 5 min.
HEARTBEAT_RANGE = (1.0, 300.0)
# CFX SDK, ComponentsPlaced: "This sample time window shall not exceed 10 minutes."
MAX_SAMPLE_WINDOW = 600.0

# ActivateRecipeResponse.Result.ResultCode values, as placement.md §4 lists them.
RESULT_REFUSED = 1  # unknown recipe or revision, or the machine refuses (interlock)
RESULT_BUSY = 2  # a changeover is already running
RESULT_SETUP = 3  # the feeder setup lacks a part the recipe needs
RESULT_DOWN = 4  # a stopping fault is active
RESULT_BAD_REQUEST = 5  # no RecipeName, or a Revision that is not a number


class PlacementMachine(Machine):
    """A CFX-native SMT placement machine (see ``placement.md``).

    Use it as ``async with PlacementMachine(...) as machine``; then ``machine.request_uri`` is
    its CFX request URI (``RequestNetworkUri``) and ``machine.handle`` its CFX handle.

    Args:
        machine_id: the machine's name.
        handle: the CFX handle (``Vendor.Model.Instance``; reference §2.5).
        clock: the simulated clock.
        seed: random seed for cycle times.
        board_in: where boards come from.
        board_out: where boards go.
        publish_uri: ``amqp://[user:password@]host:port`` of the broker or listener to publish
            to; None publishes nothing.
        publish_address: the AMQP 1.0 target node (``/exchange/cfx``, a listener address).
        gzip: gzip published bodies (the SDK's default codec, reference §2.2).
        host: address the request listener binds.
        port: request listener port (0 = a free one).
        heartbeat_interval: simulated seconds between heartbeats, 1 to 300.
        reconnect_interval: simulated seconds between publish connection attempts.
        changeover_time: simulated seconds of SETUP after an accepted ActivateRecipe.
        spread: coefficient of variation of cycle times (0 = always nominal).
        placement_report_interval: simulated seconds per ComponentsPlaced sample window, up to 600.
        feeders: the feeder setup; the default setup covers the shipped recipes.

    Raises:
        ValueError: ``heartbeat_interval`` outside 1 - 300 s, or a report interval outside 0 - 600 s.
    """

    def __init__(
        self,
        machine_id: str = "placement",
        *,
        handle: str = "Linegate.PX20.1",
        clock: Clock | None = None,
        seed: int = 0,
        board_in: BoardIn | None = None,
        board_out: BoardOut | None = None,
        publish_uri: str | None = None,
        publish_address: str = "/exchange/cfx",
        gzip: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        heartbeat_interval: float = 60.0,
        reconnect_interval: float = 5.0,
        changeover_time: float = 20.0,
        spread: float = 0.05,
        placement_report_interval: float = 60.0,
        feeders: Iterable[Feeder] | None = None,
    ) -> None:
        if not HEARTBEAT_RANGE[0] <= heartbeat_interval <= HEARTBEAT_RANGE[1]:
            raise ValueError(f"heartbeat_interval must be 1 to 300 s, not {heartbeat_interval!r}")
        if not 0 < placement_report_interval <= MAX_SAMPLE_WINDOW:
            raise ValueError(
                f"placement_report_interval must be in (0, 600] s, not {placement_report_interval!r}"
            )
        super().__init__(
            machine_id,
            clock=clock,
            seed=seed,
            board_in=board_in,
            board_out=board_out,
            conveyor_length_mm=600.0,
            conveyor_speed_mm_s=190.0,
            changeover_time=changeover_time,
            spread=spread,
        )
        self.handle = handle
        self.publish_uri = publish_uri
        self.publish_address = publish_address
        self.gzip = gzip
        self.host, self._port = host, port
        self.heartbeat_interval = heartbeat_interval
        self.reconnect_interval = reconnect_interval
        self.placement_report_interval = placement_report_interval
        self._placed_in_window = 0
        self.feeders: dict[str, Feeder] = {}
        for feeder in feeders if feeders is not None else default_feeders():
            self.feeders[feeder.slot] = feeder
        for name, cycle, components in RECIPES:
            self.recipes.add(name, cycle_time=cycle, components=components)
        self.recipes.active = self.recipes.get(RECIPES[0][0])
        self.request_uri: str | None = None
        self.port: int | None = None
        self.listener: CFXListener | None = None
        self.publish_connected = False
        self.published_count = 0
        self._relay = RequestRelay()
        self._spool: collections.deque[cfx.Envelope] = collections.deque()
        self._spool_changed = asyncio.Event()
        self._drained = asyncio.Event()
        self._drain_task: asyncio.Task[None] | None = None
        self._dropped: list[asyncio.Task[None]] = []
        self._publishing = False
        self._feeders_changed = asyncio.Event()
        self._cfx_faults: dict[str, cfx.AnyFault] = {}  # by machine fault code
        self._fault_causes: dict[str, cfx.FaultCause] = {}
        self._placement_faults: dict[str, cfx.SMTPlacementFault] = {}  # prepared before raising
        self._changeover: asyncio.Task[object] | None = None
        self._transaction: WorkStarted | None = None
        self.subscribe(self._on_machine_event)

    @property
    def spooled(self) -> int:
        """Envelopes waiting in the publish spool (not yet accepted by the peer)."""
        return len(self._spool)

    # -- feeders -----------------------------------------------------------------------------

    def load_feeder(self, feeder: Feeder) -> None:
        """Put ``feeder`` (with its reel) into its slot, replacing what was there.

        Publishes MaterialsLoaded, and clears a missing-component fault on that slot.
        """
        self.feeders[feeder.slot] = feeder
        self._feeder_loaded(feeder)

    def refill(self, slot: str, quantity: int | None = None) -> Feeder:
        """Splice a new reel of the same part into feeder ``slot`` (``reel_size`` parts by default).

        Publishes MaterialsLoaded for the new reel, then FaultCleared for the slot's
        missing-component fault if one is active (same FaultOccurrenceId as its FaultOccurred).

        Raises:
            KeyError: no feeder in ``slot``.
        """
        old = self.feeders[slot]
        reel = old.reel_size if quantity is None else quantity
        # An empty reel_id makes the new reel number itself (Feeder.__post_init__).
        feeder = dataclasses.replace(old, quantity=reel, reel_id="", reels_loaded=old.reels_loaded + 1)
        self.feeders[slot] = feeder
        self._feeder_loaded(feeder)
        return feeder

    def _feeder_loaded(self, feeder: Feeder) -> None:
        # reference §3.5: there is no FeederLoaded; loading is MaterialsLoaded (package in a carrier).
        self._publish(cfx.MaterialsLoaded(materials=[feeder.location()]), self.clock.wall())
        self.clear_fault(f"{MISSING_COMPONENT_CODE}-{feeder.slot}")
        self._feeders_changed.set()

    def _feeder_for(self, part_number: str) -> Feeder | None:
        # Slot order: the first feeder holding the part with parts left (placement.md §6).
        ready = (self.feeders[slot] for slot in sorted(self.feeders))
        return next((f for f in ready if f.part_number == part_number and f.quantity > 0), None)

    def missing_parts(self, recipe: Recipe) -> list[str]:
        """Part numbers ``recipe`` needs that no feeder holds (empty reels count as held)."""
        loaded = {f.part_number for f in self.feeders.values()}
        return sorted({part for _, part in recipe.parameters.get("components", ()) if part not in loaded})

    # -- placing -----------------------------------------------------------------------------

    async def process_board(self, board: Board, cycle_time: float) -> tuple[bool, Mapping[str, Any]]:
        """Place the active recipe's components, part by part, taking them from the feeders.

        A part with no loaded reel left raises the slot's missing-component fault and waits for
        a refill; the board stays in the machine. Publishes MaterialsInstalled for the board
        before the core reports WorkCompleted.
        """
        recipe = self.recipes.active
        components: Sequence[tuple[str, str]] = recipe.parameters.get("components", ()) if recipe else ()
        by_part: dict[str, list[tuple[int, str]]] = {}
        for step, (designator, part) in enumerate(components, start=1):
            by_part.setdefault(part, []).append((step, designator))
        installed: list[Installed] = []
        for part, steps in by_part.items():
            remaining = list(steps)
            while remaining:
                feeder = await self._wait_for_part(part, remaining[0], board)
                take = min(len(remaining), feeder.quantity)
                placing, remaining = remaining[:take], remaining[take:]
                feeder.quantity -= take
                # Placement time is shared out by component count.
                await self.clock.sleep(cycle_time * take / len(components))
                self._placed_in_window += take
                now = self.clock.wall()
                installed.append(
                    Installed(feeder, feeder.reel_id, feeder.quantity, [(d, now) for _, d in placing])
                )
        if not components:
            await self.clock.sleep(cycle_time)
        self._publish_installed(board, installed)
        return True, {"components_placed": len(components), "cycle_time_s": round(cycle_time, 2)}

    async def _wait_for_part(self, part: str, step: tuple[int, str], board: Board) -> Feeder:
        code: str | None = None
        while (feeder := self._feeder_for(part)) is None:
            slot = next((s for s in sorted(self.feeders) if self.feeders[s].part_number == part), "none")
            code = f"{MISSING_COMPONENT_CODE}-{slot}"
            if code not in self.faults:
                transaction = self._transaction.transaction_id if self._transaction else None
                missing = missing_component(self.feeders.get(slot), part, step, primary(board), transaction)
                self._placement_faults[code] = missing
                self.raise_fault(code, f"parts exhausted: {part} in feeder {slot}", FaultSeverity.ERROR)
            self._feeders_changed.clear()
            await self._feeders_changed.wait()
        if code is not None:
            self.clear_fault(code)  # a reel of the part turned up elsewhere than in the empty slot
        return feeder

    def _publish_installed(self, board: Board, installed: list[Installed]) -> None:
        materials = installed_materials(primary(board), installed)
        now = self.clock.wall()
        transaction = self._transaction.transaction_id if self._transaction else cfx.NIL_UUID
        self._publish(cfx.MaterialsInstalled(transaction_id=transaction, installed_materials=materials), now)

    async def _report_placements(self) -> None:
        # CFX ComponentsPlaced: sent periodically, for a sample window of at most 10 minutes; a
        # window in which nothing was placed is not reported.
        window_start = self.clock.wall()
        while True:
            await self.clock.sleep(self.placement_report_interval)
            now, placed = self.clock.wall(), self._placed_in_window
            if placed:
                self._placed_in_window = 0
                self._publish(
                    cfx.ComponentsPlaced(
                        start_time=window_start,
                        end_time=now,
                        total_components_placed=placed,
                        total_components_not_placed=0,
                    ),
                    now,
                )
            window_start = now

    # -- fault injection ---------------------------------------------------------------------

    def raise_fault(
        self,
        code: str,
        text: str,
        severity: FaultSeverity = FaultSeverity.ERROR,
        *,
        cause: cfx.FaultCause = cfx.FaultCause.MECHANICAL_FAILURE,
    ) -> Fault:
        """Raise an alarm; FaultOccurred carries ``cause`` (see :meth:`Machine.raise_fault`)."""
        self._fault_causes.setdefault(code, cause)
        return super().raise_fault(code, text, severity)

    def go_silent(self, silent: bool = True) -> None:
        """Stop answering requests, every socket left open (``False`` resumes; held bytes then flow)."""
        self._relay.hold(silent)

    def drop_connection(self) -> None:
        """Close the publish connection and every request connection at once.

        The machine reconnects after ``reconnect_interval`` and publishes its spool in order;
        an envelope in flight at the drop is sent again (reference §2.3: at-least-once).
        """
        self._relay.drop()
        self.publish_connected = False
        if self._drain_task is not None:
            # The cancelled task closes its publisher on the way out; stop() awaits it.
            self._drain_task.cancel()
            self._dropped.append(self._drain_task)
            self._drain_task = self._start_drain(self.reconnect_interval, after=self._drain_task)

    # -- CFX events --------------------------------------------------------------------------

    def _publish(self, body: cfx.CFXMessage, at: datetime) -> None:
        if not self._publishing:
            return
        self._spool.append(cfx.Envelope.create(body, source=self.handle, time_stamp=at))
        if len(self._spool) == SPOOL_WARNING + 1:
            self.log.warning("spool.large", spooled=len(self._spool), target=self.publish_uri)
        self._spool_changed.set()

    def _on_machine_event(self, event: MachineEvent) -> None:
        if isinstance(event, WorkStarted):
            self._transaction = event
        body = self._translate(event)
        if body is not None:
            self._publish(body, event.at)
        if isinstance(event, WorkCompleted):
            self._transaction = None  # faults from now on belong to no work transaction
        if isinstance(event, FaultCleared):
            self._cfx_faults.pop(event.fault.code, None)
            self._fault_causes.pop(event.fault.code, None)
            # A missing-component fault reset by hand: the waiting board checks its feeders again.
            self._feeders_changed.set()

    def _translate(self, event: MachineEvent) -> cfx.CFXMessage | None:
        # The machine core's events, one CFX message each (reference §3.2, §3.4).
        if isinstance(event, StationStateChanged):
            related = event.related_fault
            return cfx.StationStateChanged(
                old_state=cfx_state(event.old_state),
                old_state_duration=timedelta(seconds=event.old_state_duration),
                new_state=cfx_state(event.new_state),
                related_fault=base_fault(self._cfx_faults[related.code])
                if related and related.code in self._cfx_faults
                else None,
            )
        if isinstance(event, FaultOccurred):
            self._cfx_faults[event.fault.code] = self._cfx_fault(event.fault)
            return cfx.FaultOccurred(fault=self._cfx_faults[event.fault.code])
        if isinstance(event, FaultCleared):
            return cfx.FaultCleared(fault_occurrence_id=event.fault.occurrence_id)
        if isinstance(event, RecipeActivated):
            return recipe_activated(event.recipe)
        if isinstance(event, UnitsArrived):
            return cfx.UnitsArrived(**unit_fields(event.board), lane=LANE)
        if isinstance(event, WorkStarted):
            recipe = event.recipe
            return cfx.WorkStarted(
                **unit_fields(event.board),
                transaction_id=event.transaction_id,
                lane=LANE,
                recipe_name=recipe.name if recipe else None,
                revision=str(recipe.revision) if recipe else None,
                work_order_identifier=(
                    cfx.WorkOrderIdentifier(work_order_id=event.board.work_order_id)
                    if event.board.work_order_id
                    else None
                ),
            )
        if isinstance(event, WorkCompleted):
            return cfx.WorkCompleted(
                transaction_id=event.transaction_id,
                result=cfx.WorkResult.COMPLETED if event.passed else cfx.WorkResult.FAILED,
                primary_identifier=primary(event.board),
                hermes_identifier=event.board.board_id,
            )
        if isinstance(event, UnitsDeparted):
            return cfx.UnitsDeparted(**unit_fields(event.board), lane=LANE)
        return None

    def _cfx_fault(self, fault: Fault) -> cfx.AnyFault:
        severity = cfx.FaultSeverity(fault.severity.value)
        prepared = self._placement_faults.pop(fault.code, None)
        if prepared is not None:
            return with_identity(prepared, fault, severity)
        return cfx.Fault(
            transaction_id=self._transaction.transaction_id if self._transaction else None,
            cause=self._fault_causes.get(fault.code, cfx.FaultCause.MECHANICAL_FAILURE),
            severity=severity,
            fault_code=fault.code,
            fault_occurrence_id=fault.occurrence_id,
            lane=LANE,
            access_type=cfx.AccessType.LOCAL,
            description=fault.text,
            occurred_at=fault.occurred_at,
        )

    def heartbeat(self) -> cfx.Heartbeat:
        """The next CFX.Heartbeat: handle, frequency, and the active faults and recipe [v1.7]."""
        active = self.recipes.active
        identifier = (
            cfx.RecipeIdentifier(recipe_name=active.name, revision=str(active.revision)) if active else None
        )
        recipes = [cfx.ActiveRecipe(lane=LANE, recipe_identifier=identifier)] if identifier else []
        return cfx.Heartbeat(
            cfx_handle=self.handle,
            heartbeat_frequency=timedelta(seconds=self.heartbeat_interval),
            active_faults=[base_fault(f) for f in self._cfx_faults.values()],
            active_recipes=recipes,
        )

    async def _heartbeats(self) -> None:
        # reference §2.6: one at once when the channel is added, then every HeartbeatFrequency.
        while True:
            self._publish(self.heartbeat(), self.clock.wall())
            await self.clock.sleep(self.heartbeat_interval)

    # -- publishing --------------------------------------------------------------------------

    def _start_drain(self, delay: float = 0.0, after: asyncio.Task[None] | None = None) -> asyncio.Task[None]:
        return asyncio.create_task(self._drain(delay, after), name=f"simulator[{self.machine_id}].publish")

    async def _drain(self, delay: float, after: asyncio.Task[None] | None) -> None:
        assert self.publish_uri is not None
        if after is not None:
            # Let the dropped publisher's reactor thread end first: ProtonBridge closes its wake
            # pipe twice (once more after proton did), so a pipe or socket opened meanwhile can
            # lose its file descriptor.
            await asyncio.wait({after})
        if delay > 0:
            await self.clock.sleep(delay)
        while True:
            try:
                async with AMQP10Publisher(
                    self.publish_uri, self.publish_address, handle=self.handle, gzip=self.gzip
                ) as publisher:
                    self.publish_connected = True
                    while True:
                        while not self._spool:
                            self._spool_changed.clear()
                            await self._spool_changed.wait()
                        # reference §2.3: dequeue only once the peer has accepted the transfer.
                        await publisher.publish(self._spool[0])
                        self._spool.popleft()
                        self.published_count += 1
                        if not self._spool:
                            self._drained.set()
            except (LinegateError, OSError, TimeoutError) as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # Being stopped: an error that surfaced instead of the cancellation (a
                    # connect failing in the same pass) must not start another attempt.
                    raise asyncio.CancelledError from exc
                self.log.warning("publish.failed", target=self.publish_uri, error=str(exc))
            finally:
                if asyncio.current_task() is self._drain_task:  # not a dropped predecessor
                    self.publish_connected = False
            await self.clock.sleep(self.reconnect_interval)

    async def _flush(self) -> None:
        # Only a live connection can drain the spool; a publisher waiting to reconnect cannot.
        while self._spool and self.publish_connected:
            self._drained.clear()
            await self._drained.wait()

    # -- requests ----------------------------------------------------------------------------

    async def _answer(self, request: cfx.Envelope) -> cfx.CFXMessage | None:
        # reference §3.6: answer what the machine supports; None → NotSupportedResponse.
        body = request.body
        if isinstance(body, cfx.ActivateRecipeRequest):
            return self._activate(body)
        if isinstance(body, cfx.GetActiveRecipeRequest):
            active = self.recipes.active
            return cfx.GetActiveRecipeResponse(
                result=cfx.RequestResult(),
                active_recipe_name=active.name if active else None,
                active_recipe_revision=str(active.revision) if active else None,
            )
        if isinstance(body, cfx.GetAvailableRecipesRequest):
            return available_recipes(self.recipes, body)
        return None

    def _activate(self, body: cfx.ActivateRecipeRequest) -> cfx.ActivateRecipeResponse:
        def failed(code: int, message: str) -> cfx.ActivateRecipeResponse:
            return cfx.ActivateRecipeResponse(
                result=cfx.RequestResult(result=cfx.StatusResult.FAILED, result_code=code, message=message)
            )

        name = body.recipe_name
        if not name:
            return failed(RESULT_BAD_REQUEST, "RecipeName is required")
        try:
            revision = int(body.revision) if body.revision else None
        except ValueError:
            return failed(RESULT_BAD_REQUEST, f"Revision {body.revision!r} is not a revision number")
        try:
            recipe = self.recipes.check(name, revision)
        except RecipeRefused as exc:
            return failed(RESULT_REFUSED, exc.reason)
        if self._changeover is not None and not self._changeover.done():
            return failed(RESULT_BUSY, "a changeover is already running")
        if self.state == ResourceState.UNSCHEDULED_DOWN:
            return failed(RESULT_DOWN, "a stopping fault is active")
        missing = self.missing_parts(recipe)
        if missing:
            return failed(RESULT_SETUP, f"setup incomplete, no feeder for: {', '.join(missing)}")
        self._changeover = asyncio.create_task(
            self._change_over(recipe), name=f"simulator[{self.machine_id}].changeover"
        )
        return cfx.ActivateRecipeResponse(
            result=cfx.RequestResult(message=f"changing over to {recipe.name} revision {recipe.revision}")
        )

    async def _change_over(self, recipe: Recipe) -> None:
        try:
            await self.activate_recipe(recipe.name, recipe.revision)
        except RecipeRefused as exc:  # refusal injected between the answer and the changeover
            self.log.warning("changeover.refused", recipe=recipe.name, reason=exc.reason)

    def endpoint(self) -> cfx.Endpoint:
        """What GetEndpointInformationRequest returns for this machine."""
        return cfx.Endpoint(
            cfx_handle=self.handle,
            request_network_uri=self.request_uri,
            request_target_address=self.handle,
            unique_identifier=self.machine_id,
            friendly_name="linegate PX-20 placement simulator",
            vendor="Linegate",
            model_number="PX-20",
            serial_number=self.machine_id,
            software_version="1.0",
            number_of_lanes=1,
        )

    # -- lifetime ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the request listener, start publishing (EndpointConnected, Heartbeat), start the machine."""
        relay_port = await self._relay.start(self.host, self._port)
        self.port = relay_port
        self.request_uri = f"amqp://{self.host}:{relay_port}"
        self.listener = CFXListener("127.0.0.1", 0, advertised_uri=self.request_uri)
        self.listener.add_handle(self.handle, self._answer, endpoint=self.endpoint())
        try:
            await self.listener.__aenter__()
        except BaseException:
            await self._relay.close()
            raise
        self._relay.target_port = self.listener.port
        if self.publish_uri is not None:
            self._publishing = True
            self._publish(
                cfx.EndpointConnected(
                    cfx_handle=self.handle,
                    request_network_uri=self.request_uri,
                    request_target_address=self.handle,
                ),
                self.clock.wall(),
            )
            self._drain_task = self._start_drain()
            self.start_task(self._heartbeats(), "heartbeat")
            self.start_task(self._report_placements(), "components-placed")
        await super().start()

    async def stop(self) -> None:
        """Stop the machine, publish EndpointShuttingDown, drain the spool briefly, close everything."""
        try:
            if self._changeover is not None:
                self._changeover.cancel()
                await asyncio.gather(self._changeover, return_exceptions=True)
            await super().stop()
        finally:
            self._publish(cfx.EndpointShuttingDown(cfx_handle=self.handle), self.clock.wall())
            self._publishing = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush(), FLUSH_TIMEOUT)
            drains = [*self._dropped, *([self._drain_task] if self._drain_task else [])]
            for task in drains:
                task.cancel()
            await asyncio.gather(*drains, return_exceptions=True)
            await self._relay.close()
            if self.listener is not None:
                await self.listener.aclose()


__all__ = ["MISSING_COMPONENT_CODE", "Feeder", "PlacementMachine"]
