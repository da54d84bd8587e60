"""The Hermes bridge: Hermes handoffs on both sides of a machine that has no Hermes.

A machine without a Hermes interface (the reflow oven's legacy mode, ``simulators/reflow_oven.md``
§"Legacy mode") has a conveyor that a host drives through I/O: an entry sensor, a run output that
draws a waiting board in, an exit sensor and a release output. :class:`HermesBridge` stands in
for the machine's missing Hermes interfaces (reference §0 for the names):

- its **Upstream interface** is a :class:`~protocols.hermes.transport.ReceiverLane`, a TCP client
  of the previous machine's Downstream server;
- its **Downstream interface** is a :class:`~protocols.hermes.transport.SenderLane`, a TCP server
  the next machine's Upstream client connects to;
- in between it drives the conveyor through a :class:`LegacyConveyor`; :class:`ModbusConveyor`
  implements it over :meth:`adapters.modbus.ModbusAdapter.read_point` / ``write_point`` and the
  map's point names, so the bridge itself never speaks Modbus.

The bridge is a long-running component, not an :class:`~adapters.base.Adapter`: it owns two
Hermes lanes but not the machine connection (the Modbus adapter the gateway already runs for the
machine does, with its own supervision). Use it as ``async with HermesBridge(...) as bridge:``
(both lanes open, :attr:`HermesBridge.port` listening), then ``await bridge.run(emit)`` until
cancelled.

Board flow, one board at a time per side (reference §3, the normal cycle):

1. Entry: when the entry sensor is clear and the machine says it is ready, MachineReady goes
   upstream. The BoardAvailable offered is taken over (StartTransport, TransportFinished,
   StopTransport); its description joins a FIFO of boards inside the machine and a BoardArrived
   observation is emitted. The run output is then set until the entry sensor clears (after
   TransportFinished the board is on the entry, reference §3: the transport is finished).
2. Exit: when the exit sensor shows a board, the FIFO's head is offered downstream with the very
   BoardAvailable the upstream neighbour sent (BoardId, BoardIdCreatedBy, barcodes, product,
   work order, dimensions). The release output is set only once StartTransport arrived; when
   the exit sensor clears, TransportFinished goes out, the StopTransport is awaited, and a
   BoardDeparted observation is emitted.

A Hermes session that drops on either side is survived without losing or duplicating a board:

- upstream, a BoardId already taken is taken again on the wire and discarded (the sender offers
  it again after a drop); a board whose transport was started when the session dropped is
  adopted if it shows up on the entry sensor;
- downstream, a board is offered again on the next session until its handoff completes, but
  released (moved) only once.

A restarted bridge loses nothing either when it is given the stopped one's :class:`BridgeState`
(``HermesBridge(..., state=old.state)``): the boards inside the machine keep their
descriptions, a draw-in or a release that was cut short is finished, and a handoff that was
under way is offered again. Without it, boards already inside leave with BoardIds of the
bridge's own making (they are unknown to it).

**Interlocks.** With :attr:`HermesBridge.admit` set, each board at the exit is checked before
its BoardAvailable goes downstream: a refused board is not offered (the next machine never
learns of it) and stays at the exit, and the check is repeated every ``retry_delay`` (an
operator may release a hold), logged once per board as ``bridge.board_refused``.

Conveyor failures (the machine connection is down) raise :class:`ConveyorError`, a
:class:`~protocols.errors.TransportError`; the bridge retries the step after ``retry_delay``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Protocol, Self, TypeVar

import structlog

from adapters.base import Adapter, CommandError, Emit, RecipeInfo, ReconnectPolicy
from adapters.modbus import ModbusAdapter
from adapters.modbus_map import ModbusMap
from adapters.observations import BoardArrived, BoardDeparted, RecipeActivated
from protocols.errors import ConfigError, TransportError
from protocols.hermes.messages import (
    BoardAvailable,
    BoardQuality,
    FlippedBoard,
    MachineReady,
    TransferState,
)
from protocols.hermes.transport import LaneDisconnected, ReceiverLane, SenderLane, lane_port
from protocols.hermes.transport.lane import LANE_LIMITS
from protocols.modbus.registermap import DataType, Point, Table
from protocols.transport.guard import PeerLimits

log = structlog.get_logger("linegate.bridge")

#: An interlock check of a board leaving the bridge: None to pass it on, else why it is refused.
BoardCheck = Callable[[BoardAvailable], Awaitable[str | None]]

_T = TypeVar("_T")

#: How many recently taken BoardIds the upstream side remembers to recognise a repeated offer.
RECENT_BOARDS = 64


class ConveyorError(TransportError):
    """The legacy machine's conveyor could not be read or driven (its connection is down)."""


class LegacyConveyor(Protocol):
    """A machine's conveyor as a host drives it without Hermes (entry and exit, sensor and output)."""

    async def can_take(self) -> bool:
        """Whether a board may be brought onto the entry now (entry clear, machine ready)."""
        ...

    async def board_at_entry(self) -> bool:
        """Whether a board waits on the entry sensor."""
        ...

    async def draw_in(self) -> None:
        """Draw the board waiting at the entry into the machine; return once the entry is clear."""
        ...

    async def board_at_exit(self) -> bool:
        """Whether a board waits on the exit sensor."""
        ...

    async def release(self) -> None:
        """Let the board at the exit go to the next machine; return once the exit is clear."""
        ...


@dataclass(frozen=True, slots=True)
class LegacyPoints:
    """The map point names a :class:`ModbusConveyor` uses.

    ``ready`` may be None when the machine has no ready flag (entry then only needs a clear
    sensor). The defaults are the names :data:`REFLOW_OVEN_LEGACY_POINTS` adds to a map.
    """

    board_at_entry: str = "board_at_entry"
    board_at_exit: str = "board_at_exit"
    conveyor_run: str = "conveyor_run"
    exit_release: str = "exit_release"
    ready: str | None = "recipe_ready"


#: The reflow oven's legacy conveyor I/O (``simulators/reflow_oven.md`` §coils and discrete
#: inputs): coil 0 CONVEYOR_RUN, coil 1 EXIT_RELEASE, input 0 BOARD_AT_ENTRY, input 1 BOARD_AT_EXIT.
REFLOW_OVEN_LEGACY_POINTS: tuple[Point, ...] = (
    Point("conveyor_run", Table.COILS, 0, DataType.BOOL),
    Point("exit_release", Table.COILS, 1, DataType.BOOL),
    Point("board_at_entry", Table.DISCRETE_INPUTS, 0, DataType.BOOL),
    Point("board_at_exit", Table.DISCRETE_INPUTS, 1, DataType.BOOL),
)


def with_points(device_map: ModbusMap, extra: tuple[Point, ...] = REFLOW_OVEN_LEGACY_POINTS) -> ModbusMap:
    """``device_map`` with the points of ``extra`` it lacks, by name.

    The shipped ``reflow_oven`` map describes the oven's Hermes-mode registers only; the bridge
    adds the legacy conveyor I/O with this.
    """
    known = {point.name for point in device_map.points}
    added = tuple(point for point in extra if point.name not in known)
    return dataclasses.replace(device_map, points=device_map.points + added)


class ModbusConveyor:
    """A :class:`LegacyConveyor` over a running :class:`~adapters.modbus.ModbusAdapter`.

    Each step polls the sensors every ``poll_interval`` seconds and clears the output it set
    before it returns (a run output left set would draw in every later board at once, manual
    §"Legacy mode" step 2).

    Args:
        adapter: the machine's Modbus adapter (run by its owner; steps fail while it is down).
        points: the map point names of the I/O.
        poll_interval: seconds between two sensor reads while waiting for a board to move.

    Raises:
        ConfigError: the adapter's map lacks one of the points.
    """

    def __init__(
        self, adapter: ModbusAdapter, points: LegacyPoints | None = None, *, poll_interval: float = 0.02
    ) -> None:
        self.adapter = adapter
        self.points = points or LegacyPoints()
        self.poll_interval = poll_interval
        for name in dataclasses.astuple(self.points):
            if name is None:
                continue
            try:
                adapter.map.point(name)
            except KeyError:
                raise ConfigError(
                    f"the Modbus map has no point {name!r} for the legacy conveyor", path=adapter.map.source
                ) from None

    async def _read(self, name: str) -> bool:
        try:
            return bool(await self.adapter.read_point(name))
        except CommandError as exc:
            raise ConveyorError(exc.reason) from exc

    async def _write(self, name: str, value: bool) -> None:
        try:
            await self.adapter.write_point(name, value)
        except CommandError as exc:
            raise ConveyorError(exc.reason) from exc

    async def can_take(self) -> bool:
        """Entry sensor clear and, if the map names one, the ready flag set (manual step 1)."""
        if await self._read(self.points.board_at_entry):
            return False
        return self.points.ready is None or await self._read(self.points.ready)

    async def board_at_entry(self) -> bool:
        """The entry sensor."""
        return await self._read(self.points.board_at_entry)

    async def board_at_exit(self) -> bool:
        """The exit sensor."""
        return await self._read(self.points.board_at_exit)

    async def _pulse_until_clear(self, output: str, sensor: str) -> None:
        await self._write(output, True)
        try:
            # A sensor is polled (Modbus has no change notification): one read per scan.
            while True:
                if not await self._read(sensor):
                    break
                await asyncio.sleep(self.poll_interval)
        except BaseException:
            # Failed or cancelled: still try to clear the output (shielded, so a cancellation
            # does not cut the write short); what interrupted us propagates.
            with contextlib.suppress(ConveyorError):
                await asyncio.shield(self._write(output, False))
            raise
        await self._write(output, False)

    async def draw_in(self) -> None:
        """Set the run coil until the entry sensor clears, then clear it (manual step 2)."""
        await self._pulse_until_clear(self.points.conveyor_run, self.points.board_at_entry)

    async def release(self) -> None:
        """Set the release coil until the exit sensor clears, then clear it (manual step 3)."""
        await self._pulse_until_clear(self.points.exit_release, self.points.board_at_exit)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class BridgeState:
    """What a bridge knows about the boards in the machine: hand it to a restarted bridge.

    Every field is updated before the step it describes, so the state read after the bridge
    stopped (even cancelled mid-step) lets the next bridge finish that step: a board drawn in
    twice is harmless (the run output only toggles on a clear sensor), a board released twice
    is impossible (the exit is released only while its sensor shows the board).
    """

    #: The boards inside the machine (taken over, not yet handed on), oldest first.
    inside: collections.deque[BoardAvailable] = field(default_factory=collections.deque)
    #: BoardIds recently taken over upstream (a repeated offer of one is discarded).
    recent: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=RECENT_BOARDS))
    #: The board whose upstream transport was started and not yet confirmed.
    started: BoardAvailable | None = None
    #: The newest board arrived but may not be drawn in yet.
    entering: bool = False
    #: The release of the oldest board has begun; its downstream handoff is not finished.
    releasing: bool = False


class HermesBridge:
    """Hermes on both sides of a machine without Hermes (see the module docstring).

    Args:
        machine_id: the legacy machine's id; it is the MachineId on both lanes and the observations'
            machine.
        conveyor: the machine's conveyor (a :class:`ModbusConveyor` for the reflow oven).
        upstream_host: the previous machine's address.
        upstream_port: the previous machine's Downstream (sender) port; default 50100 + lane_id.
        listen_host: where our Downstream server listens for the next machine.
        listen_port: its port; default 50100 + lane_id (reference §1), 0 picks a free one
            (:attr:`port` then says which).
        lane_id: the lane on both sides.
        poll_interval: seconds between two sensor reads while waiting for a board.
        retry_delay: seconds before a conveyor step that failed is tried again.
        fast_retry: the upstream client's reconnect delay after a working session dropped.
        slow_retry: its longest reconnect delay otherwise.
        state: the state of a bridge that stopped, to go on where it left off (a new one if
            omitted); see :attr:`state`.
        limits: what the Downstream server tolerates from peers (connection cap, handshake
            deadline, write buffer), as :class:`~protocols.hermes.transport.SenderLane` takes it.
    """

    def __init__(
        self,
        machine_id: str,
        conveyor: LegacyConveyor,
        *,
        upstream_host: str,
        upstream_port: int | None = None,
        listen_host: str = "0.0.0.0",
        listen_port: int | None = None,
        lane_id: int = 1,
        poll_interval: float = 0.02,
        retry_delay: float = 0.5,
        fast_retry: float = 1.0,
        slow_retry: float = 10.0,
        state: BridgeState | None = None,
        limits: PeerLimits = LANE_LIMITS,
    ) -> None:
        self.machine_id = machine_id
        #: The boards in the machine; pass it to the next bridge after a restart.
        self.state = state if state is not None else BridgeState()
        self.conveyor = conveyor
        self.lane_id = lane_id
        self.poll_interval = poll_interval
        self.retry_delay = retry_delay
        self.upstream = ReceiverLane(
            upstream_host,
            lane_port(lane_id) if upstream_port is None else upstream_port,
            machine_id=machine_id,
            lane_id=lane_id,
            fast_retry=fast_retry,
            slow_retry=slow_retry,
        )
        self.downstream = SenderLane(
            machine_id=machine_id,
            lane_id=lane_id,
            host=listen_host,
            port=lane_port(lane_id) if listen_port is None else listen_port,
            limits=limits,
        )
        self.arrived = 0
        self.departed = 0
        #: Offers of a board already taken (after a dropped session), taken again and discarded.
        self.repeats = 0
        #: Boards taken from the entry sensor after the session dropped during their transport.
        self.adopted = 0
        self._closing = False
        self._stack = contextlib.AsyncExitStack()
        self.log = log.bind(machine=machine_id, lane=lane_id)
        #: The interlock asked before a board is offered downstream (None: every board goes).
        self.admit: BoardCheck | None = None
        #: Boards the interlock refused (counted once per board).
        self.refused = 0

    @property
    def inside(self) -> collections.deque[BoardAvailable]:
        """The boards inside the machine, oldest first."""
        return self.state.inside

    @property
    def port(self) -> int:
        """The port our Downstream server listens on (the real one once entered)."""
        return self.downstream.port

    async def __aenter__(self) -> Self:
        self._closing = False
        try:
            await self._stack.enter_async_context(self.downstream)
            await self._stack.enter_async_context(self.upstream)
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closing = True
        await self._stack.aclose()

    async def run(self, emit: Emit) -> None:
        """Carry boards through the machine until cancelled, emitting BoardArrived/BoardDeparted.

        Cancel it before leaving the ``async with``. A MachineReady once sent is not revoked if
        the machine stops being ready before the board comes (the board then waits on the
        entry until it is).

        Raises:
            LaneDisconnected: the bridge is closing (leave the ``async with``).
        """
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._entry(emit), name=f"bridge[{self.machine_id}].entry")
                tg.create_task(self._exit(emit), name=f"bridge[{self.machine_id}].exit")
        except BaseExceptionGroup as group:
            # One side failing stops the other; callers get the first failure, not a group.
            raise group.exceptions[0] from group

    # -- conveyor steps, retried while the machine connection is down ---------------------------

    async def _step(self, step: Callable[[], Awaitable[_T]]) -> _T:
        while True:
            try:
                return await step()
            except ConveyorError as exc:
                self.log.warning("bridge.conveyor_failed", error=str(exc), retry_in=self.retry_delay)
                await asyncio.sleep(self.retry_delay)  # the adapter reconnects meanwhile

    async def _until(self, check: Callable[[], Awaitable[bool]]) -> None:
        while True:
            if await self._step(check):
                return
            await asyncio.sleep(self.poll_interval)  # the sensor scan

    # -- the entry side (our Upstream interface) ------------------------------------------------

    async def _entry(self, emit: Emit) -> None:
        state = self.state
        while True:
            if state.entering:
                # Idempotent: with the entry already clear the run output only toggles.
                await self._step(self.conveyor.draw_in)
                state.entering = False
                continue
            started = state.started
            if started is not None and await self._step(self.conveyor.board_at_entry):
                # The session dropped after StartTransport, yet the board came onto the entry
                # sensor: it is here (the sender will offer it again; that offer is discarded).
                self._record(started)
                self.adopted += 1
                self.log.info("bridge.adopted", board_id=started.board_id)
                await self._arrived(started, emit)
                continue
            if not await self._step(self.conveyor.can_take):
                await asyncio.sleep(self.poll_interval)
                continue
            try:
                await self._take_over(emit)
            except LaneDisconnected as exc:
                if self._closing:
                    raise
                self.log.info("bridge.upstream_dropped", error=str(exc))
                continue

    async def _take_over(self, emit: Emit) -> None:
        """One upstream handoff; a new board is recorded and reported."""
        lane = self.upstream
        # MachineReady only now: the entry is clear and the machine ready (reference §3 step 1).
        await lane.announce_ready(MachineReady(failed_board=BoardQuality.ANY))
        available = await lane.wait_for_board()
        repeated = available.board_id in self.state.recent
        if not repeated:
            self.state.started = available  # before the StartTransport can reach the sender
        await lane.start_transport(available.board_id)
        finished = await lane.wait_for_finished()
        if finished.transfer_state in (TransferState.NOT_STARTED, TransferState.INCOMPLETE):
            # The sender did not complete the transfer (reference §2.4 TransferState): the board
            # is not here; end the cycle with the same state and wait for the next offer.
            await lane.stop_transport(finished.transfer_state)
            self.state.started = None
            return
        # After TransportFinished the board is here (recorded at once, before anything can
        # interrupt); a drop now only loses the StopTransport.
        if repeated:
            self.repeats += 1
            self.log.warning("bridge.repeated", board_id=available.board_id)
        else:
            self._record(available)
            await self._arrived(available, emit)
        with contextlib.suppress(LaneDisconnected):
            await lane.stop_transport(TransferState.COMPLETE)

    def _record(self, available: BoardAvailable) -> None:
        state = self.state
        state.started = None
        state.recent.append(available.board_id)
        state.inside.append(available)
        state.entering = True
        self.arrived += 1

    async def _arrived(self, available: BoardAvailable, emit: Emit) -> None:
        await emit(
            BoardArrived(
                machine_id=self.machine_id,
                at=_now(),
                board_id=available.board_id,
                barcode=available.top_barcode or available.bottom_barcode,
                lane=self.lane_id,
                product=available.product_type_id,
            )
        )

    # -- the exit side (our Downstream interface) -----------------------------------------------

    def _unknown(self) -> BoardAvailable:
        # A board nobody announced (put in by hand, or in the machine before the bridge started):
        # it gets a BoardId of ours (reference §2.1 BoardIdCreatedBy).
        board_id = str(uuid.uuid4())
        self.log.warning("bridge.unknown_board", board_id=board_id)
        return BoardAvailable(
            board_id=board_id,
            board_id_created_by=self.machine_id,
            failed_board=BoardQuality.GOOD,
            flipped_board=FlippedBoard.TOP_SIDE_IS_UP,
        )

    async def _admitted(self, board: BoardAvailable) -> None:
        """Return once the interlock lets ``board`` go downstream (at once without one)."""
        reported = False
        while self.admit is not None and not self.state.releasing:
            reason = await self.admit(board)
            if reason is None:
                if reported:
                    self.log.info("bridge.board_admitted", board_id=board.board_id)
                return
            if not reported:
                reported = True
                self.refused += 1
                self.log.warning("bridge.board_refused", board_id=board.board_id, reason=reason)
            await asyncio.sleep(self.retry_delay)

    async def _exit(self, emit: Emit) -> None:
        lane = self.downstream
        state = self.state
        while True:
            if not state.releasing:
                await self._until(self.conveyor.board_at_exit)
            if not state.inside:
                state.inside.append(self._unknown())
            board = state.inside[0]
            await self._admitted(board)
            while True:
                try:
                    await lane.offer_board(board)
                    await lane.wait_for_start()
                    # Released only now that the next machine takes it (reference §3 step 4),
                    # and only while the exit sensor still shows it: after a dropped session
                    # (or a restart) the board that already left is offered, never moved, again.
                    # One board at a time leaves, so a board at the exit is this one.
                    state.releasing = True
                    if await self._step(self.conveyor.board_at_exit):
                        await self._step(self.conveyor.release)
                    stop = await lane.finish_transport(board.board_id)
                except LaneDisconnected as exc:
                    if self._closing:
                        raise
                    self.log.info(
                        "bridge.downstream_dropped",
                        board_id=board.board_id,
                        releasing=state.releasing,
                        error=str(exc),
                    )
                    continue
                break
            if stop.transfer_state != TransferState.COMPLETE:
                self.log.warning(
                    "bridge.stopped_after_release", board_id=board.board_id, state=stop.transfer_state.name
                )
            state.inside.popleft()
            state.releasing = False
            self.departed += 1
            await emit(
                BoardDeparted(
                    machine_id=self.machine_id,
                    at=_now(),
                    board_id=board.board_id,
                    barcode=board.top_barcode or board.bottom_barcode,
                    lane=self.lane_id,
                )
            )


__all__ = [
    "REFLOW_OVEN_LEGACY_POINTS",
    "BoardCheck",
    "BridgeState",
    "ConveyorError",
    "HermesBridge",
    "LegacyConveyor",
    "LegacyPoints",
    "ModbusConveyor",
    "with_points",
]


class BridgeAdapter(Adapter):
    """A Hermes bridge run as one of its machine's trackers, so the gateway supervises it.

    Each session opens a new bridge with the state of the last one (``BridgeState``), so a
    restart finishes a draw-in or release that was cut short and loses no board. The bridge
    performs no recipe commands: those go to the machine's own adapter.

    Args:
        machine_id: the legacy machine's id (its BoardArrived/BoardDeparted are reported for it).
        make_bridge: builds a bridge for one session from the state to carry over.
    """

    protocol = "hermes-bridge"

    def __init__(self, machine_id: str, make_bridge: Callable[[BridgeState], HermesBridge]) -> None:
        # The bridge proves itself by moving boards, not by answering polls: no liveness timeout.
        super().__init__(
            machine_id, policy=ReconnectPolicy(base=0.5, cap=10.0, liveness_timeout=float("inf"))
        )
        self.make_bridge = make_bridge
        self.state = BridgeState()
        #: Handed to each session's bridge (:attr:`HermesBridge.admit`).
        self.admit: BoardCheck | None = None

    async def _session(self, emit: Emit) -> None:
        bridge = self.make_bridge(self.state)
        bridge.admit = self.admit
        async with bridge:
            self.connected()
            await bridge.run(emit)
        raise TransportError("the Hermes bridge stopped")

    async def activate_recipe(self, name: str, revision: str | None = None) -> RecipeActivated:
        raise CommandError("a Hermes bridge has no recipes; its machine's adapter has", refused=True)

    async def active_recipe(self) -> RecipeInfo | None:
        return None

    async def available_recipes(self) -> list[RecipeInfo]:
        return []
