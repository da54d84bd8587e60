"""The Hermes bridge carries boards through a legacy reflow oven between two Hermes machines.

A simulated line coater → reflow oven (legacy, ``legacy_neighbours = "hermes"``) → coater, on a
fast clock; the bridge drives the oven's coils through a real ModbusAdapter and speaks Hermes to
both coaters over loopback. TCP relays that the test can cut stand between the bridge and its
neighbours to drop Hermes sessions at the awkward moments; another test restarts the bridge
mid-run, handing the stopped bridge's state to the next.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import pytest

from adapters.base import ReconnectPolicy
from adapters.hermes_bridge import HermesBridge, ModbusConveyor, with_points
from adapters.maps import ModbusMap, builtin_map
from adapters.modbus import ModbusAdapter
from adapters.observations import BoardArrived, BoardDeparted, Observation
from protocols.errors import ConfigError
from simulators.clock import ScaledClock
from simulators.line import SOURCE_ID, BoardSource, Line, LineSpec, parse_line
from simulators.machine import Board, Handoff
from simulators.reflow_oven import ReflowOven

#: Simulated seconds per real second: a board crosses the oven in about 30 ms.
TIME_SCALE = 800.0
#: Real seconds the whole run may take.
DEADLINE = 30.0


def line_spec(boards: int, **oven: Any) -> LineSpec:
    return parse_line(
        {
            "seed": 7,
            "boards": boards,
            "machines": [
                {"kind": "coater", "id": "c1"},
                {
                    "kind": "reflow_oven",
                    "id": "oven",
                    "options": {"legacy": True, "tau": 10.0, "tunnel_mm": 300.0},
                    "legacy_neighbours": "hermes",
                    **oven,
                },
                {"kind": "coater", "id": "c2"},
            ],
        }
    )


class Recorder:
    """The bridge's observations, in order."""

    def __init__(self) -> None:
        self.seen: list[Observation] = []
        self._changed = asyncio.Condition()

    async def __call__(self, observation: Observation) -> None:
        self.seen.append(observation)
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, kind: type[Observation], count: int) -> None:
        """Wait until ``count`` observations of ``kind`` were seen."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.ids(kind)) >= count)

    def ids(self, kind: type[Observation]) -> list[str | None]:
        return [getattr(o, "board_id", None) for o in self.seen if isinstance(o, kind)]


class Relay:
    """A TCP relay from ``listen_port`` (0: a free one) to ``target_port``; :meth:`cut` aborts
    every relayed connection (a dropped session). Connections are refused while the target is."""

    def __init__(self, target_port: int = 0, listen_port: int = 0) -> None:
        self.target_port = target_port
        self.port = listen_port
        self.cuts = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Relay:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._relay(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            try:
                far_reader, far_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            except OSError:
                return
            self._writers.add(far_writer)
            try:
                await asyncio.gather(self._pump(reader, far_writer), self._pump(far_reader, writer))
            finally:
                self._writers.discard(far_writer)
                far_writer.transport.abort()
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()  # one side gone: drop the other as a broken link would

    def cut(self) -> None:
        """Abort every relayed connection at once."""
        if self._writers:
            self.cuts += 1
        for writer in list(self._writers):
            writer.transport.abort()


def oven_map() -> ModbusMap:
    device_map = builtin_map("reflow_oven")
    assert isinstance(device_map, ModbusMap)
    return with_points(device_map)


@contextlib.asynccontextmanager
async def running(task_coro: Awaitable[None]) -> AsyncIterator[asyncio.Task[None]]:
    task: asyncio.Task[None] = asyncio.ensure_future(task_coro)
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def wait_for_sink(line: Line, count: int, bridge_task: asyncio.Task[None]) -> None:
    assert line.sink is not None
    sink = asyncio.ensure_future(line.sink.wait_for(count))
    try:
        done, _ = await asyncio.wait(
            {sink, bridge_task}, timeout=DEADLINE, return_when=asyncio.FIRST_COMPLETED
        )
        if bridge_task in done:
            bridge_task.result()  # raises what the bridge died of
            pytest.fail("the bridge stopped")
        assert sink in done, f"only {len(line.sink.received)} of {count} boards arrived in {DEADLINE} s"
    finally:
        sink.cancel()


def assert_carried(line: Line, seen: Recorder, count: int) -> None:
    """Every board reached the sink exactly once, in order, with the source's description."""
    assert line.sink is not None and line.source is not None
    sent = line.source.sent
    assert len(sent) == count
    assert line.sink.board_ids == sent
    # The same seed makes the same boards again.
    again = BoardSource(line.spec.source, line.clock, Handoff(), count=count, seed=line.spec.seed)
    boards = list(again.boards())
    for board, got in zip(boards, line.sink.received, strict=True):
        # BoardIdCreatedBy comes from the source: the bridge passed on what it was told.
        assert (got.board_id, got.board_id_created_by) == (board.board_id, SOURCE_ID)
        assert (got.top_barcode, got.product_type_id, got.work_order_id) == (
            board.barcode,
            board.product_type_id,
            board.work_order_id,
        )
    assert seen.ids(BoardArrived) == sent
    assert seen.ids(BoardDeparted) == sent
    assert all(o.machine_id == "oven" for o in seen.seen)


async def test_bridge_carries_100_boards_through_the_legacy_oven() -> None:
    """100 boards through the oven: the bridge connects and listens where the oven's endpoint says,
    every BoardId arrives downstream once, in order, with its data; coils are left cleared."""
    clock = ScaledClock(TIME_SCALE)
    seen = Recorder()
    async with Line(line_spec(100), clock=clock) as line:
        endpoint = line.endpoints()[1]
        hermes = endpoint.hermes
        assert hermes.upstream_host is not None and hermes.upstream_port is not None
        assert hermes.upstream_port == line.endpoints()[0].hermes.downstream_port
        assert hermes.downstream_port == line.endpoints()[2].hermes.upstream_port
        assert endpoint.port is not None
        modbus = ModbusAdapter("oven", oven_map(), host=endpoint.host, port=endpoint.port)
        conveyor = ModbusConveyor(modbus)
        async with (
            running(modbus.run(seen)),
            HermesBridge(
                "oven",
                conveyor,
                upstream_host=hermes.upstream_host,
                upstream_port=hermes.upstream_port,
                listen_host="127.0.0.1",
                listen_port=hermes.downstream_port,
                fast_retry=0.01,
                slow_retry=0.1,
            ) as bridge,
            running(bridge.run(seen)) as bridge_task,
        ):
            await wait_for_sink(line, 100, bridge_task)
            oven = line.machine("oven")
            assert isinstance(oven, ReflowOven)
            assert oven.coils[:2] == [False, False]  # the bridge left no output set
            assert "OV-ENTRY-OUT-OF-TOL" not in oven.faults
        seen.seen = [o for o in seen.seen if isinstance(o, BoardArrived | BoardDeparted)]
        assert_carried(line, seen, 100)
        assert bridge.repeats == 0 and not bridge.inside


class CuttingConveyor(ModbusConveyor):
    """Cuts the downstream relay right after some releases: the board has moved, the handoff not
    finished (TransportFinished not yet sent)."""

    def __init__(self, adapter: ModbusAdapter, relay: Relay, every: int) -> None:
        super().__init__(adapter)
        self.relay = relay
        self.every = every
        self.released = 0

    async def release(self) -> None:
        await super().release()
        self.released += 1
        if self.released % self.every == 0:
            self.relay.cut()


async def test_dropped_sessions_on_both_sides_lose_and_duplicate_nothing() -> None:
    """Hermes sessions dropped on both sides at the awkward moments (the board placed on the entry
    before TransportFinished, right after a board arrived, right after a release): every board
    still arrives downstream exactly once, in order, with its data."""
    boards = 40
    clock = ScaledClock(TIME_SCALE)
    seen = Recorder()
    async with Line(line_spec(boards), clock=clock) as line:
        endpoint = line.endpoints()[1]
        assert endpoint.port is not None and endpoint.hermes.upstream_port is not None
        downstream_port = endpoint.hermes.downstream_port
        assert downstream_port is not None
        # The coater after the oven expects the bridge on downstream_port: the relay sits there
        # and forwards to wherever the bridge listens.
        async with Relay(endpoint.hermes.upstream_port) as up, Relay(listen_port=downstream_port) as down:
            modbus = ModbusAdapter(
                "oven", oven_map(), host="127.0.0.1", port=endpoint.port, policy=ReconnectPolicy(base=0.05)
            )
            feeder = line.downstreams["c1"]
            place = feeder.on_transferred
            assert place is not None
            placed = 0

            async def place_then_cut(board: Board) -> None:
                # The board lands on the oven's entry, then the session drops before the
                # bridge hears TransportFinished: the bridge must adopt it from its sensor.
                nonlocal placed
                await place(board)
                placed += 1
                if placed % 7 == 3:
                    up.cut()

            feeder.on_transferred = place_then_cut

            async def emit(observation: Observation) -> None:
                await seen(observation)
                if isinstance(observation, BoardArrived) and len(seen.ids(BoardArrived)) % 9 == 5:
                    up.cut()  # the StopTransport may be lost: the board is offered again

            async with (
                running(modbus.run(seen)),
                HermesBridge(
                    "oven",
                    CuttingConveyor(modbus, down, every=6),
                    upstream_host="127.0.0.1",
                    upstream_port=up.port,
                    listen_host="127.0.0.1",
                    listen_port=0,
                    fast_retry=0.01,
                    slow_retry=0.1,
                ) as bridge,
                running(bridge.run(emit)) as bridge_task,
            ):
                down.target_port = bridge.port
                await wait_for_sink(line, boards, bridge_task)
            assert up.cuts >= 5 and down.cuts >= 5
        seen.seen = [o for o in seen.seen if isinstance(o, BoardArrived | BoardDeparted)]
        assert_carried(line, seen, boards)
        assert not bridge.inside
        # The awkward paths were taken: boards adopted from the entry sensor, offers repeated.
        assert bridge.adopted >= 1 and bridge.repeats >= 1


class Moments:
    """Counts of the moments a restart may be aimed at; a hook can hold on at one of them until
    the bridge has been restarted (so that the restart lands exactly there)."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self.hold: dict[tuple[str, int], asyncio.Event] = {}
        self._changed = asyncio.Condition()

    async def reached(self, name: str) -> None:
        self.counts[name] += 1
        async with self._changed:
            self._changed.notify_all()
        held = self.hold.get((name, self.counts[name]))
        if held is not None:
            await held.wait()

    async def wait_for(self, name: str, count: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.counts[name] >= count)


class ReportingConveyor(ModbusConveyor):
    """Reports each release (the board has left the exit) to ``moments``."""

    def __init__(self, adapter: ModbusAdapter, moments: Moments) -> None:
        super().__init__(adapter)
        self.moments = moments

    async def release(self) -> None:
        await super().release()
        await self.moments.reached("released")


async def test_restarted_bridge_given_the_old_state_loses_and_duplicates_nothing() -> None:
    """The bridge is stopped and started again four times mid-run, each new one on the same ports
    and with the old one's state, at the awkward moments: a board just arrived (not yet drawn
    in), a board released but its handoff unfinished, a board on the entry sensor before the
    bridge heard TransportFinished, a board just departed. Every board still arrives once, in
    order, with its data, and each BoardArrived/BoardDeparted is reported once."""
    boards = 30
    clock = ScaledClock(TIME_SCALE)
    seen = Recorder()
    moments = Moments()
    restarts = [("arrived", 5), ("released", 9), ("placed", 15), ("departed", 21), None]
    async with Line(line_spec(boards), clock=clock) as line:
        endpoint = line.endpoints()[1]
        hermes = endpoint.hermes
        assert endpoint.port is not None and hermes.upstream_host is not None
        modbus = ModbusAdapter("oven", oven_map(), host="127.0.0.1", port=endpoint.port)
        feeder = line.downstreams["c1"]
        place = feeder.on_transferred
        assert place is not None

        async def place_and_report(board: Board) -> None:
            await place(board)
            await moments.reached("placed")  # held there: TransportFinished waits for the restart

        feeder.on_transferred = place_and_report

        async def emit(observation: Observation) -> None:
            await seen(observation)
            if isinstance(observation, BoardArrived | BoardDeparted):
                await moments.reached("arrived" if isinstance(observation, BoardArrived) else "departed")

        state = None
        adopted = 0
        async with running(modbus.run(seen)):
            for restart in restarts:
                done = asyncio.Event()
                if restart is not None:
                    moments.hold[restart] = done
                async with (
                    HermesBridge(
                        "oven",
                        ReportingConveyor(modbus, moments),
                        upstream_host=hermes.upstream_host,
                        upstream_port=hermes.upstream_port,
                        listen_host="127.0.0.1",
                        listen_port=hermes.downstream_port,
                        fast_retry=0.01,
                        slow_retry=0.1,
                        state=state,
                    ) as bridge,
                    running(bridge.run(emit)) as bridge_task,
                ):
                    if restart is None:
                        await wait_for_sink(line, boards, bridge_task)
                    else:
                        await asyncio.wait_for(moments.wait_for(*restart), DEADLINE)
                state = bridge.state
                adopted += bridge.adopted
                done.set()
                # Each restart landed where it was aimed.
                if restart == ("arrived", 5):
                    assert state.entering  # recorded, not yet drawn in
                elif restart == ("released", 9):
                    assert state.releasing  # the board left, its handoff was cut short
                elif restart == ("placed", 15):
                    assert state.started is not None  # on the entry sensor, no TransportFinished
        seen.seen = [o for o in seen.seen if isinstance(o, BoardArrived | BoardDeparted)]
        assert_carried(line, seen, boards)
        assert not bridge.inside
        assert adopted >= 1  # the board placed before TransportFinished was taken from the sensor


def test_conveyor_needs_its_points_in_the_map() -> None:
    """A map without the legacy conveyor points is refused up front, naming the point."""
    device_map = builtin_map("reflow_oven")
    assert isinstance(device_map, ModbusMap)
    without = dataclasses.replace(
        device_map, points=tuple(p for p in device_map.points if p.name != "board_at_entry")
    )
    modbus = ModbusAdapter("oven", without, host="127.0.0.1", port=1)
    with pytest.raises(ConfigError, match="board_at_entry"):
        ModbusConveyor(modbus)


def test_legacy_neighbours_needs_a_legacy_machine() -> None:
    """``legacy_neighbours = "hermes"`` only makes sense for a machine without Hermes."""
    with pytest.raises(ConfigError, match=r"machines\[1\]\.legacy_neighbours"):
        parse_line(
            {
                "machines": [
                    {"kind": "coater", "id": "a"},
                    {"kind": "reflow_oven", "id": "o", "legacy_neighbours": "hermes"},
                    {"kind": "coater", "id": "b"},
                ]
            }
        )


async def test_a_refused_board_is_not_offered_downstream_until_admitted() -> None:
    """With an interlock check, a refused board's BoardAvailable never reaches the next machine;
    the bridge asks again, and once the board is admitted the line goes on in order."""
    clock = ScaledClock(TIME_SCALE)
    seen = Recorder()
    asked: collections.Counter[str | None] = collections.Counter()
    checked = asyncio.Condition()
    released = False
    async with Line(line_spec(3), clock=clock) as line:
        assert line.source is not None
        endpoint = line.endpoints()[1]
        hermes = endpoint.hermes
        assert hermes.upstream_host is not None and endpoint.port is not None
        modbus = ModbusAdapter("oven", oven_map(), host=endpoint.host, port=endpoint.port)
        bridge = HermesBridge(
            "oven",
            ModbusConveyor(modbus),
            upstream_host=hermes.upstream_host,
            upstream_port=hermes.upstream_port,
            listen_host="127.0.0.1",
            listen_port=hermes.downstream_port,
            fast_retry=0.01,
            slow_retry=0.1,
            retry_delay=0.02,
        )
        second: list[str] = []

        async def admit(board: Any) -> str | None:
            if not second and len(asked) == 1 and board.board_id not in asked:
                second.append(board.board_id)
            asked[board.board_id] += 1
            async with checked:
                checked.notify_all()
            if second and board.board_id == second[0] and not released:
                return "interlock hold: board on hold"
            return None

        bridge.admit = admit
        async with running(modbus.run(seen)), bridge, running(bridge.run(seen)) as bridge_task:
            async with asyncio.timeout(DEADLINE), checked:
                await checked.wait_for(lambda: bool(second) and asked[second[0]] >= 3)
            assert line.sink is not None
            assert second[0] not in line.sink.board_ids and bridge.refused == 1
            assert bridge.inside[0].board_id == second[0]  # still in the oven, at its exit
            released = True
            await wait_for_sink(line, 3, bridge_task)
        assert line.sink.board_ids == line.source.sent
