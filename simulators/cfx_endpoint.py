"""A simulated machine that is a CFX endpoint of its own, over AMQP 1.0 (printer, SPI).

:class:`CFXEndpointMachine` is what the placement machine, the solder paste printer and the SPI
share: it **publishes** its events to one AMQP 1.0 node
through an in-memory spool (an envelope leaves the spool only once the peer accepted it; a lost
connection is retried every ``reconnect_interval``), and **hosts a request listener** for its
CFX handle behind a byte relay (so that fault injection acts on the wire). Recipe requests
(ActivateRecipe, GetActiveRecipe, GetAvailableRecipes) are answered here; a subclass answers
more through :meth:`CFXEndpointMachine.answer` and adds its process messages by publishing
from :meth:`~simulators.machine.Machine.process_board` (``self.transaction`` is the open work
transaction).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from datetime import datetime, timedelta

import protocols.cfx as cfx
from protocols.cfx.transport import AMQP10Publisher, CFXListener
from protocols.errors import LinegateError
from simulators.clock import Clock
from simulators.machine import (
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
from simulators.placement_cfx import available_recipes, base_fault, cfx_state, primary, unit_fields
from simulators.request_relay import RequestRelay

LANE = 1
# reference §2.3: the SDK warns when a publish spool holds more than 90 messages.
SPOOL_WARNING = 90
# Real seconds a stopping machine waits for its spool (EndpointShuttingDown included) to drain.
FLUSH_TIMEOUT = 2.0
# reference §2.6: HeartbeatFrequency must lie between 1 s and 5 min.
HEARTBEAT_RANGE = (1.0, 300.0)

# ActivateRecipeResponse.Result.ResultCode values, as the manuals list them.
RESULT_REFUSED = 1  # unknown recipe or revision, or the machine refuses (interlock)
RESULT_BUSY = 2  # a changeover is already running
RESULT_DOWN = 4  # a stopping fault is active
RESULT_BAD_REQUEST = 5  # no RecipeName, or a Revision that is not a number


def failed_result(code: int, message: str) -> cfx.RequestResult:
    """A Failed RequestResult with ``code`` and ``message``."""
    return cfx.RequestResult(result=cfx.StatusResult.FAILED, result_code=code, message=message)


class CFXEndpointMachine(Machine):
    """A machine core with a CFX endpoint in front: publisher, request listener, heartbeats.

    Use it as ``async with Subclass(...) as machine``; then ``machine.request_uri`` is its CFX
    request URI and ``machine.handle`` its CFX handle. Subclasses set :attr:`MODEL` and
    :attr:`FRIENDLY_NAME`, store their recipes, and override the ``cfx_*`` hooks.

    Args:
        machine_id: the machine's name.
        handle: the CFX handle (``Vendor.Model.Instance``).
        clock: the simulated clock.
        seed: random seed.
        board_in: where boards come from.
        board_out: where boards go.
        publish_uri: ``amqp://[user:password@]host:port`` to publish to; None publishes nothing.
        publish_address: the AMQP 1.0 target node (``/exchange/cfx``, a listener address).
        gzip: gzip published bodies (the SDK's default codec).
        host: address the request listener binds.
        port: request listener port (0 = a free one).
        heartbeat_interval: simulated seconds between heartbeats, 1 to 300.
        reconnect_interval: simulated seconds between publish connection attempts.
        changeover_time: simulated seconds of SETUP after an accepted ActivateRecipe.
        spread: coefficient of variation of cycle times.
        conveyor_length_mm: conveyor length.
        conveyor_speed_mm_s: conveyor speed.

    Raises:
        ValueError: ``heartbeat_interval`` outside 1 - 300 s.
    """

    MODEL = "CFX"
    FRIENDLY_NAME = "linegate CFX machine simulator"

    def __init__(
        self,
        machine_id: str,
        *,
        handle: str,
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
        conveyor_length_mm: float = 500.0,
        conveyor_speed_mm_s: float = 200.0,
    ) -> None:
        if not HEARTBEAT_RANGE[0] <= heartbeat_interval <= HEARTBEAT_RANGE[1]:
            raise ValueError(f"heartbeat_interval must be 1 to 300 s, not {heartbeat_interval!r}")
        super().__init__(
            machine_id,
            clock=clock,
            seed=seed,
            board_in=board_in,
            board_out=board_out,
            conveyor_length_mm=conveyor_length_mm,
            conveyor_speed_mm_s=conveyor_speed_mm_s,
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
        self.request_uri: str | None = None
        self.port: int | None = None
        self.listener: CFXListener | None = None
        self.publish_connected = False
        self.published_count = 0
        self._publish_attempts = 0  # failed publish connections, for the log level
        #: The open work transaction (between WorkStarted and WorkCompleted), else None.
        self.transaction: WorkStarted | None = None
        self._relay = RequestRelay()
        self._spool: collections.deque[cfx.Envelope] = collections.deque()
        self._spool_changed = asyncio.Event()
        self._drained = asyncio.Event()
        self._drain_task: asyncio.Task[None] | None = None
        self._dropped: list[asyncio.Task[None]] = []
        self._publishing = False
        self._cfx_faults: dict[str, cfx.AnyFault] = {}  # by machine fault code
        self._fault_causes: dict[str, cfx.FaultCause] = {}
        self._changeover: asyncio.Task[object] | None = None
        self.subscribe(self._on_machine_event)

    @property
    def spooled(self) -> int:
        """Envelopes waiting in the publish spool (not yet accepted by the peer)."""
        return len(self._spool)

    # -- hooks for subclasses ----------------------------------------------------------------

    def cfx_fault(self, fault: Fault, severity: cfx.FaultSeverity) -> cfx.AnyFault:
        """The CFX fault FaultOccurred carries for ``fault``; the base gives a plain ``Fault``."""
        return cfx.Fault(
            transaction_id=self.transaction.transaction_id if self.transaction else None,
            cause=self._fault_causes.get(fault.code, cfx.FaultCause.MECHANICAL_FAILURE),
            severity=severity,
            fault_code=fault.code,
            fault_occurrence_id=fault.occurrence_id,
            lane=LANE,
            access_type=cfx.AccessType.LOCAL,
            description=fault.text,
            occurred_at=fault.occurred_at,
        )

    def cfx_recipe_activated(self, recipe: Recipe) -> cfx.RecipeActivated:
        """CFX RecipeActivated for ``recipe`` (its cycle time in milliseconds)."""
        return cfx.RecipeActivated(
            recipe_name=recipe.name,
            revision=str(recipe.revision),
            lane=LANE,
            expected_cycle_time=recipe.cycle_time * 1000.0,  # reference §3.2: milliseconds
            expected_units_per_work_transaction=1.0,
        )

    def check_activation(self, recipe: Recipe) -> cfx.RequestResult | None:
        """Hook: a Failed result if the machine cannot change over to ``recipe`` now, else None."""
        return None

    async def answer(self, request: cfx.Envelope) -> cfx.CFXMessage | None:
        """Hook: answer a request the base does not (None → NotSupportedResponse)."""
        return None

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
        """Close the publish connection and every request connection at once (it reconnects)."""
        self._relay.drop()
        self.publish_connected = False
        if self._drain_task is not None:
            self._drain_task.cancel()
            self._dropped.append(self._drain_task)
            self._drain_task = self._start_drain(self.reconnect_interval, after=self._drain_task)

    # -- CFX events --------------------------------------------------------------------------

    def publish(self, body: cfx.CFXMessage, at: datetime | None = None) -> None:
        """Queue ``body`` for publishing, stamped ``at`` (default: now on the machine's clock)."""
        if not self._publishing:
            return
        stamp = at if at is not None else self.clock.wall()
        self._spool.append(cfx.Envelope.create(body, source=self.handle, time_stamp=stamp))
        if len(self._spool) == SPOOL_WARNING + 1:
            self.log.warning("spool.large", spooled=len(self._spool), target=self.publish_uri)
        self._spool_changed.set()

    def _on_machine_event(self, event: MachineEvent) -> None:
        if isinstance(event, WorkStarted):
            self.transaction = event
        body = self._translate(event)
        if body is not None:
            self.publish(body, event.at)
        if isinstance(event, WorkCompleted):
            self.transaction = None  # faults from now on belong to no work transaction
        if isinstance(event, FaultCleared):
            self._cfx_faults.pop(event.fault.code, None)
            self._fault_causes.pop(event.fault.code, None)

    def _translate(self, event: MachineEvent) -> cfx.CFXMessage | None:
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
            severity = cfx.FaultSeverity(event.fault.severity.value)
            self._cfx_faults[event.fault.code] = self.cfx_fault(event.fault, severity)
            return cfx.FaultOccurred(fault=self._cfx_faults[event.fault.code])
        if isinstance(event, FaultCleared):
            return cfx.FaultCleared(fault_occurrence_id=event.fault.occurrence_id)
        if isinstance(event, RecipeActivated):
            return self.cfx_recipe_activated(event.recipe)
        if isinstance(event, UnitsArrived):
            return cfx.UnitsArrived(**unit_fields(event.board), lane=LANE)
        if isinstance(event, WorkStarted):
            return self._work_started(event)
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

    @staticmethod
    def _work_started(event: WorkStarted) -> cfx.WorkStarted:
        recipe = event.recipe
        order = event.board.work_order_id
        return cfx.WorkStarted(
            **unit_fields(event.board),
            transaction_id=event.transaction_id,
            lane=LANE,
            recipe_name=recipe.name if recipe else None,
            revision=str(recipe.revision) if recipe else None,
            work_order_identifier=cfx.WorkOrderIdentifier(work_order_id=order) if order else None,
        )

    def heartbeat(self) -> cfx.Heartbeat:
        """The next CFX.Heartbeat: handle, frequency, and the active faults and recipe."""
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
            self.publish(self.heartbeat())
            await self.clock.sleep(self.heartbeat_interval)

    # -- publishing --------------------------------------------------------------------------

    def _start_drain(self, delay: float = 0.0, after: asyncio.Task[None] | None = None) -> asyncio.Task[None]:
        return asyncio.create_task(self._drain(delay, after), name=f"simulator[{self.machine_id}].publish")

    async def _drain(self, delay: float, after: asyncio.Task[None] | None) -> None:
        assert self.publish_uri is not None
        if after is not None:
            # Let the dropped publisher close first: one publisher at a time per machine.
            await asyncio.wait({after})
        if delay > 0:
            await self.clock.sleep(delay)
        failed_in_row = 0
        while True:
            try:
                async with AMQP10Publisher(
                    self.publish_uri, self.publish_address, handle=self.handle, gzip=self.gzip
                ) as publisher:
                    self.publish_connected = True
                    failed_in_row = 0
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
                # Until the peer first accepted a connection, a refusal is the peer not listening
                # yet (a gateway starting beside the line): not worth a warning at every start.
                level = (
                    self.log.warning if self.published_count or self._publish_attempts >= 3 else self.log.info
                )
                self._publish_attempts += 1
                failed_in_row += 1
                # On a fast simulated clock a retry comes every few milliseconds: log the 1st,
                # 2nd, 4th, 8th... failure of an outage, not each one.
                if failed_in_row & (failed_in_row - 1) == 0:
                    level("publish.failed", target=self.publish_uri, error=str(exc), attempts=failed_in_row)
            finally:
                if asyncio.current_task() is self._drain_task:
                    self.publish_connected = False
            await self.clock.sleep(self.reconnect_interval)

    async def wait_published(self) -> None:
        """Return once every CFX event queued so far was accepted by the peer (the spool is empty);
        at once when the machine publishes nowhere. Its events trail the boards it moves (one
        transfer in flight), so a run that stops when the last board left waits on this first."""
        while self._spool and self._publishing and self.publish_uri is not None:
            self._drained.clear()
            await self._drained.wait()

    async def _flush(self) -> None:
        while self._spool and self.publish_connected:
            self._drained.clear()
            await self._drained.wait()

    # -- requests ----------------------------------------------------------------------------

    async def _answer(self, request: cfx.Envelope) -> cfx.CFXMessage | None:
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
        return await self.answer(request)

    def _activate(self, body: cfx.ActivateRecipeRequest) -> cfx.ActivateRecipeResponse:
        def failed(code: int, message: str) -> cfx.ActivateRecipeResponse:
            self.log.warning("recipe.request_refused", recipe=body.recipe_name, code=code, reason=message)
            return cfx.ActivateRecipeResponse(result=failed_result(code, message))

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
        if self.state == ResourceState.USD:
            return failed(RESULT_DOWN, "a stopping fault is active")
        refusal = self.check_activation(recipe)
        if refusal is not None:
            self.log.warning("recipe.request_refused", recipe=name, reason=refusal.message)
            return cfx.ActivateRecipeResponse(result=refusal)
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
            friendly_name=self.FRIENDLY_NAME,
            vendor="Linegate",
            model_number=self.MODEL,
            serial_number=self.machine_id,
            software_version="1.0",
            number_of_lanes=1,
        )

    # -- lifetime ----------------------------------------------------------------------------

    def start_cfx_tasks(self) -> None:
        """Hook: start the subclass's periodic publishing tasks (called only when publishing)."""

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
            self.publish(
                cfx.EndpointConnected(
                    cfx_handle=self.handle,
                    request_network_uri=self.request_uri,
                    request_target_address=self.handle,
                )
            )
            self._drain_task = self._start_drain()
            self.start_task(self._heartbeats(), "heartbeat")
            self.start_cfx_tasks()
        await super().start()

    async def stop(self) -> None:
        """Stop the machine, publish EndpointShuttingDown, drain the spool briefly, close everything."""
        try:
            if self._changeover is not None:
                self._changeover.cancel()
                await asyncio.gather(self._changeover, return_exceptions=True)
            await super().stop()
        finally:
            self.publish(cfx.EndpointShuttingDown(cfx_handle=self.handle))
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


__all__ = ["LANE", "CFXEndpointMachine", "failed_result"]
