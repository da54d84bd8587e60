"""The Modbus adapter: a polled machine (TCP, or RTU on a serial port) described by a ModbusMap.

The map's points are compiled once per adapter into read plans (one per poll group), so the poll
loop only issues blocks and compares words. One deadline scheduler per connection decides which
group is due next: a heap of deadlines and one timer, never a timer per tag. A block whose words
did not change since the last poll is not decoded at all; a changed block is decoded and only
the points whose values changed become observations (state, faults, process data, readings).

pymodbus is imported here and nowhere else. It reports failure two ways, a raised
``ModbusException`` and a response whose ``isError()`` is true; :class:`_Link` maps both at the
edge (as httpx's ``map_httpcore_exceptions`` does) onto linegate's tree: TransportError and
RequestTimeout for the link, :class:`ModbusExceptionResponse` for an exception the device sent.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.framer import FramerType

from adapters.base import Adapter, CommandError, Emit, PointValue, RecipeInfo, ReconnectPolicy
from adapters.modbus_map import NUMBER, ModbusMap, ModbusStep
from adapters.modbus_words import (
    GroupWords,
    block_cover,
    changed_points,
    describe_point,
    describe_step,
    same_value,
    write_runs,
)
from adapters.observations import (
    FaultCleared,
    FaultRaised,
    Observation,
    Reading,
    RecipeActivated,
    ReflowProcessData,
    StateChanged,
    ZoneReading,
)
from protocols.errors import RemoteProtocolError, RequestTimeout, TransportError
from protocols.modbus import Point, ReadPlan, Table, decode_point, encode_point
from protocols.modbus.registermap import Value

# Modbus Application Protocol v1.1b3 §7: the exception codes a server may answer with.
EXCEPTION_NAMES = {
    1: "ILLEGAL FUNCTION",
    2: "ILLEGAL DATA ADDRESS",
    3: "ILLEGAL DATA VALUE",
    4: "SERVER DEVICE FAILURE",
    5: "ACKNOWLEDGE",
    6: "SERVER DEVICE BUSY",
    8: "MEMORY PARITY ERROR",
    10: "GATEWAY PATH UNAVAILABLE",
    11: "GATEWAY TARGET DEVICE FAILED TO RESPOND",
}
# Consecutive unanswered requests before the link counts as dead and is reopened. One lost
# answer (line noise, a garbled frame) is survivable: pymodbus matches transaction ids, so a
# late answer cannot be taken for the next request's.
MAX_CONSECUTIVE_TIMEOUTS = 3
# MBAP spec §6.1-6.4: the read function code of each table.
READ_FUNCTIONS = {
    Table.COILS: 1,
    Table.DISCRETE_INPUTS: 2,
    Table.HOLDING_REGISTERS: 3,
    Table.INPUT_REGISTERS: 4,
}
# MBAP spec §7: the exception a device answers for a request that touches an address it lacks.
ILLEGAL_DATA_ADDRESS = 2


class ModbusExceptionResponse(RemoteProtocolError):
    """The device answered a request with a Modbus exception.

    Args:
        code: the exception code (2 = illegal data address, 3 = illegal data value, 6 = busy...).
        request: what was asked, for the message.
    """

    def __init__(self, code: int, request: str) -> None:
        self.code = code
        self.name = EXCEPTION_NAMES.get(code, "UNKNOWN")
        super().__init__(f"{request}: exception {code:02d} {self.name}")


@dataclass(frozen=True, slots=True)
class SerialLine:
    """RTU over a serial port instead of TCP (pyserial URL: a device path or ``socket://``)."""

    port: str
    baudrate: int = 19200
    bytesize: int = 8
    parity: str = "E"  # Modbus over serial line v1.02 §2.5.1: even parity is the default
    stopbits: int = 1


class _Link:
    """One pymodbus client, with every failure mapped onto linegate's errors."""

    def __init__(self, client: Any, unit: int) -> None:
        self.client = client
        self.unit = unit
        self.timeouts = 0
        self._readers = {
            Table.COILS: client.read_coils,
            Table.DISCRETE_INPUTS: client.read_discrete_inputs,
            Table.HOLDING_REGISTERS: client.read_holding_registers,
            Table.INPUT_REGISTERS: client.read_input_registers,
        }

    async def _call(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self.client.connected:
            raise TransportError(f"{what}: connection closed")
        try:
            # Called inside the try: pymodbus raises ConnectionException from the call itself
            # (before any await) when the transport is already gone.
            response = await method(*args, device_id=self.unit, **kwargs)
        except ModbusIOException as exc:
            # pymodbus raises this when no (parsable) answer came within its timeout.
            if not self.client.connected:
                raise TransportError(f"{what}: connection closed") from exc
            self.timeouts += 1
            if self.timeouts >= MAX_CONSECUTIVE_TIMEOUTS:
                raise TransportError(f"{what}: {self.timeouts} requests unanswered") from exc
            raise RequestTimeout(f"{what}: no answer") from exc
        except ConnectionException as exc:
            raise TransportError(f"{what}: {exc}") from exc
        except ModbusException as exc:
            raise RemoteProtocolError(f"{what}: {exc}") from exc
        except (TimeoutError, OSError) as exc:
            raise TransportError(f"{what}: {exc or type(exc).__name__}") from exc
        finally:
            _keep_cancellation()
        self.timeouts = 0
        if response.isError():
            raise ModbusExceptionResponse(int(getattr(response, "exception_code", 0)), what)
        return response

    async def read(self, table: Table, start: int, count: int) -> list[int]:
        """The words (or bits as 0/1) of one block.

        Raises:
            RemoteProtocolError: the answer is for another function code, or too short.
        """
        what = f"read {table.value}@{start}+{count}"
        response = await self._call(what, self._readers[table], start, count=count)
        # pymodbus pairs an answer with its request by transaction id alone and hands back
        # whatever function the answer carries: an FC 04 answer to an FC 03 request would be
        # taken for holding registers (MBAP spec §4.1: a normal response echoes the request's code).
        function = int(getattr(response, "function_code", 0))
        if function != READ_FUNCTIONS[table]:
            raise RemoteProtocolError(f"{what}: answer has function code {function:02d}")
        if table.is_bits:
            return [int(bit) for bit in response.bits[:count]]
        words: list[int] = response.registers
        if len(words) < count:
            raise RemoteProtocolError(f"{what}: answer has only {len(words)} registers")
        return words

    async def write(self, table: Table, start: int, values: Sequence[int]) -> None:
        """Write registers (FC 16) or coils (FC 15, FC 05 for one)."""
        what = f"write {table.value}@{start}+{len(values)}"
        if table is Table.HOLDING_REGISTERS:
            await self._call(what, self.client.write_registers, start, list(values))
        elif len(values) == 1:
            await self._call(what, self.client.write_coil, start, bool(values[0]))
        else:
            await self._call(what, self.client.write_coils, start, [bool(v) for v in values])

    async def read_point(self, point: Point) -> Value:
        """One point's value, read on its own."""
        return decode_point(point, await self.read(point.table, point.address, point.count))

    def close(self) -> None:
        self.client.close()


class ModbusAdapter(Adapter):
    """A Modbus machine, polled according to its map.

    Args:
        machine_id: the machine id.
        device_map: what the registers mean (``adapters.maps.builtin_map("reflow_oven")``).
        host, port: the Modbus TCP server.
        serial: RTU over a serial line instead of TCP.
        policy: reconnect and liveness settings.
    """

    protocol = "modbus"

    def __init__(
        self,
        machine_id: str,
        device_map: ModbusMap,
        *,
        host: str | None = None,
        port: int = 502,
        serial: SerialLine | None = None,
        policy: ReconnectPolicy | None = None,
    ) -> None:
        if (host is None) == (serial is None):
            raise ValueError("give either host (Modbus TCP) or serial (Modbus RTU)")
        super().__init__(machine_id, policy=policy)
        self.map = device_map
        self.host, self.port, self.serial = host, port, serial
        self._link: _Link | None = None
        self._command_lock = asyncio.Lock()
        grouped = {name for group in device_map.groups for name in group.points}
        plans = [(g.interval, [device_map.point(n) for n in g.points]) for g in device_map.groups]
        rest = [p for p in device_map.points if p.name not in grouped]
        if rest:
            plans.append((device_map.poll_interval, rest))
        # Compiled once: the poll loop only walks these blocks.
        self._groups = [
            GroupWords(interval, plan, [None] * len(plan.blocks), [block_cover(b) for b in plan.blocks])
            for interval, points in plans
            for plan in [ReadPlan(points, max_gap=device_map.max_gap)]
        ]
        self._values: dict[str, Value] = {}
        self._state: int | None = None  # kept across sessions: only changes are reported
        self._faults: int | None = None  # the fault bit word last reported, across sessions
        self._counter: int | None = None  # the process trigger's last value, per session
        # The active recipe number last seen, across sessions: a change that is not ours (made
        # at the machine, or while the link was down) is reported as RecipeActivated.
        self._recipe: int | None = None
        self._wake: asyncio.Future[None] | None = None

    # --- connection -------------------------------------------------------------------------

    def _client(self) -> Any:
        common: dict[str, Any] = dict(
            timeout=self.map.timeout, retries=0, reconnect_delay=0, trace_connect=self._on_connect
        )
        if self.serial is not None:
            line = self.serial
            return AsyncModbusSerialClient(
                line.port,
                framer=FramerType.RTU,
                baudrate=line.baudrate,
                bytesize=line.bytesize,
                parity=line.parity,
                stopbits=line.stopbits,
                **common,
            )
        assert self.host is not None
        return AsyncModbusTcpClient(self.host, port=self.port, **common)

    @property
    def answer_interval(self) -> float:
        """The slowest poll group's interval (plus one request timeout)."""
        return max(group.interval for group in self._groups) + self.map.timeout if self._groups else 0.0

    def _on_connect(self, connected: bool) -> None:
        # pymodbus calls this from its protocol callbacks; wake the scheduler so a drop is seen
        # at once rather than at the next request.
        if not connected and self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def _session(self, emit: Emit) -> None:
        client = self._client()
        try:
            if not await client.connect():
                where = self.serial.port if self.serial else f"{self.host}:{self.port}"
                raise TransportError(f"cannot connect to {where}")
            self._link = _Link(client, self.map.unit)
            self._counter = None
            self._values.clear()
            for group in self._groups:
                group.last = [None] * len(group.plan.blocks)
            # Connected only once the device answers (the first read's alive()): a hung device's
            # TCP stack still accepts connections.
            self.opened()
            await self._poll(self._link, emit)
        except RemoteProtocolError as exc:
            # A device that answers nonsense is treated like a broken link: reconnect.
            raise TransportError(str(exc)) from exc
        finally:
            self._link = None
            client.close()

    # --- the deadline scheduler -------------------------------------------------------------

    async def _poll(self, link: _Link, emit: Emit) -> None:
        loop = asyncio.get_running_loop()
        order = itertools.count()
        now = loop.time()
        due = [(now, next(order), group) for group in self._groups]
        heapq.heapify(due)
        while True:
            deadline, _, group = due[0]
            if deadline > loop.time():
                await self._sleep_until(loop, deadline)
                if not link.client.connected:
                    raise TransportError("connection closed")
                continue
            await self._poll_group(link, group, emit)
            # Keep the cadence; after a stall skip missed ticks instead of bursting to catch up.
            after = loop.time()
            nxt = deadline + group.interval
            if nxt <= after:
                nxt = after + group.interval
            heapq.heapreplace(due, (nxt, next(order), group))

    async def _sleep_until(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        wake: asyncio.Future[None] = loop.create_future()
        self._wake = wake
        timer = loop.call_at(deadline, _resolve, wake)
        try:
            await wake
        finally:
            timer.cancel()
            self._wake = None

    async def _poll_group(self, link: _Link, group: GroupWords, emit: Emit) -> None:
        changed: dict[str, Value] = {}
        await self._read_group(link, group, changed)
        process = self.map.process
        if process is not None and process.trigger in changed and self._counter is not None:
            # A board left: the record must hold the values at exit, not those of the last slow
            # poll, so read every other group now.
            for other in self._groups:
                if other is not group:
                    await self._read_group(link, other, changed)
        if changed:
            await self._observe(changed, emit)

    async def _read_group(self, link: _Link, group: GroupWords, changed: dict[str, Value]) -> None:
        loop = asyncio.get_running_loop()
        index = 0
        while index < len(group.plan.blocks):
            block = group.plan.blocks[index]
            started = loop.time()
            try:
                words = await link.read(block.table, block.start, block.count)
            except ModbusExceptionResponse as exc:
                self.alive()  # it answered; the next poll tries again (busy, device failure)
                if exc.code == ILLEGAL_DATA_ADDRESS and self._split(group, index):
                    continue  # read the two halves now
                self._note_error(str(exc))
                index += 1
                continue
            except RequestTimeout as exc:
                self._note_error(str(exc))
                index += 1
                continue
            current, index = index, index + 1
            self.alive()
            self.health.last_rtt = loop.time() - started
            last = group.last[current]
            if words == last:
                continue  # nothing changed: no decoding, no comparing per point
            group.last[current] = words
            try:
                if last is None:
                    self._changes(block.decode(words).items(), changed)
                else:
                    self._changes(changed_points(group.cover[current], words, last), changed)
            except ValueError as exc:
                raise RemoteProtocolError(str(exc)) from exc

    def _split(self, group: GroupWords, index: int) -> bool:
        # A block that spans a hole in the device's map (the gap the planner read through) is
        # refused as a whole with exception 02, which would hide every point in it for good.
        # Cut it where it reads unused registers and keep the cut for every later poll and
        # session; a block of one point that is still refused is the map's error, reported.
        plan = group.plan.split(index)
        if plan is None:
            return False
        block = group.plan.blocks[index]
        self.log.info(
            "plan.split",
            block=f"{block.table.value}@{block.start}+{block.count}",
            into=[f"{b.start}+{b.count}" for b in plan.blocks[index : index + 2]],
        )
        group.plan = plan
        group.last[index : index + 1] = [None, None]
        group.cover[index : index + 1] = [block_cover(b) for b in plan.blocks[index : index + 2]]
        return True

    def points(self) -> list[PointValue]:
        """Each point of the map: table and address, the registers last read, the scaled value."""
        raw: dict[str, list[int]] = {}
        for group in self._groups:
            for block, words in zip(group.plan.blocks, group.last, strict=True):
                if words is not None:
                    for point, offset in block.slices:
                        raw[point.name] = list(words[offset : offset + point.count])
        return [
            PointValue(
                point.name,
                describe_point(point),
                raw.get(point.name),
                self._values.get(point.name),
                self.map.readings.get(point.name),
            )
            for point in self.map.points
        ]

    def _note_error(self, error: str) -> None:
        if self.health.last_error != error:
            self.log.warning("poll.failed", error=error)
        self.health.last_error = error

    def _changes(self, values: Iterable[tuple[str, Value]], changed: dict[str, Value]) -> None:
        for name, value in values:
            if not same_value(self._values.get(name, _UNSET), value):
                self._values[name] = value
                changed[name] = value

    # --- observations -----------------------------------------------------------------------

    async def _observe(self, changed: dict[str, Value], emit: Emit) -> None:
        at = datetime.now(UTC)
        for observation in self._interpret(changed, at):
            await emit(observation)

    def _interpret(self, changed: dict[str, Value], at: datetime) -> Iterable[Observation]:
        device_map = self.map
        # Faults before the state they cause: CFX links StationStateChanged to the fault.
        if device_map.faults is not None and device_map.faults.point in changed:
            yield from self._fault_changes(int(changed[device_map.faults.point]), at)
        if device_map.state_point in changed:
            value = changed[device_map.state_point]
            state = device_map.state.translate(value)
            if state is not None and state != self._state:
                self._state = state
                reason = device_map.state.names.get(str(value))
                yield StateChanged(machine_id=self.machine_id, at=at, state=state, reason=reason)
        process = device_map.process
        if process is not None and process.trigger in changed:
            count = int(changed[process.trigger])
            boards = 0 if self._counter is None else max(0, count - self._counter)
            self._counter = count
            for _ in range(min(boards, 16)):  # a burst after a stall: bounded
                yield self._reflow_record(at)
        recipes = device_map.recipes
        if recipes is not None and recipes.active in changed:
            yield from self._recipe_change(int(changed[recipes.active]), at)
        readings = device_map.readings
        for name, value in changed.items():
            if name in readings:
                yield Reading(machine_id=self.machine_id, at=at, name=name, value=value, unit=readings[name])

    def _recipe_change(self, number: int, at: datetime) -> Iterable[Observation]:
        before, self._recipe = self._recipe, number
        # First sight is what the machine runs when we meet it; during our own activation the
        # command reports the result itself; 0 means no recipe.
        if before is None or before == number or not number or self._command_lock.locked():
            return
        assert self.map.recipes is not None
        names = {v: k for k, v in self.map.recipes.numbers.items()}
        name = names.get(number, f"#{number}")
        self.log.info("recipe.changed_at_machine", recipe=name, number=number)
        yield RecipeActivated(machine_id=self.machine_id, at=at, recipe=name)

    def _fault_changes(self, word: int, at: datetime) -> Iterable[Observation]:
        assert self.map.faults is not None
        before = self._faults or 0
        self._faults = word
        for bit in range(64):
            mask = 1 << bit
            if (word ^ before) & mask == 0:
                continue
            entry = self.map.faults.bits.get(bit)
            code = entry.code if entry else f"{self.map.faults.point}.bit{bit}"
            if not word & mask:
                yield FaultCleared(machine_id=self.machine_id, at=at, code=code)
            elif entry is None:
                yield FaultRaised(machine_id=self.machine_id, at=at, code=code)
            else:
                yield FaultRaised(
                    machine_id=self.machine_id,
                    at=at,
                    code=code,
                    description=entry.description,
                    severity=entry.severity,
                    cause=entry.cause,
                )

    def _reflow_record(self, at: datetime) -> ReflowProcessData:
        process = self.map.process
        assert process is not None
        values = self._values

        def number(name: str | None) -> float | None:
            value = values.get(name) if name else None
            return float(value) if isinstance(value, int | float) else None

        zones = tuple(
            ZoneReading(
                z.zone,
                number(z.setpoint_top),
                number(z.setpoint_bottom),
                number(z.actual_top),
                number(z.actual_bottom),
            )
            for z in process.zones
        )
        return ReflowProcessData(
            machine_id=self.machine_id,
            at=at,
            zones=zones,
            conveyor_speed=number(process.conveyor_speed),
            o2_ppm=number(process.o2_ppm),
        )

    # --- commands ---------------------------------------------------------------------------

    async def activate_recipe(self, name: str, revision: str | None = None) -> RecipeActivated:
        """Run the map's activation sequence (write the number, command the load, wait, read back).

        The machine stores recipes by number only; ``revision`` cannot be checked and is ignored.

        Raises:
            CommandError: unknown recipe, refused by the machine (a refusal value, or exception
                03 to the write), not connected, or the sequence did not finish within the
                map's timeout; ``reason`` says which.
        """
        recipes = self.map.recipes
        if recipes is None:
            raise CommandError("the machine map defines no recipes", refused=True)
        number = recipes.numbers.get(name)
        if number is None:
            raise CommandError(f"unknown recipe {name!r}; known: {', '.join(recipes.numbers)}", refused=True)
        link = self._require_link()
        doing = "starting"
        async with self._command_lock:
            try:
                async with asyncio.timeout(recipes.timeout):
                    for step in recipes.steps:
                        doing = describe_step(step, number)
                        await self._step(link, step, number, recipes.poll)
            except TimeoutError:
                raise CommandError(f"timed out after {recipes.timeout:g} s {doing}") from None
            except ModbusExceptionResponse as exc:
                # Exception 03 to a write is the machine refusing the value (manual §9).
                raise CommandError(f"{doing}: {exc}", refused=exc.code == 3) from exc
            except (TransportError, RemoteProtocolError) as exc:
                raise CommandError(f"{doing}: {exc}") from exc
            self._recipe = number  # our own switch: the poll must not report it again
        self.log.info("recipe.activated", recipe=name, number=number)
        return RecipeActivated(machine_id=self.machine_id, at=datetime.now(UTC), recipe=name)

    async def _step(self, link: _Link, step: ModbusStep, number: int, poll: float) -> None:
        if step.kind == "write":
            points = [(self.map.point(n), number if v == NUMBER else v) for n, v in step.values.items()]
            for table, start, words in write_runs(points):
                await link.write(table, start, words)
        elif step.kind == "pulse":
            assert step.point is not None
            point = self.map.point(step.point)
            await link.write(point.table, point.address, encode_point(point, 1))
            await link.write(point.table, point.address, encode_point(point, 0))
        else:
            assert step.point is not None
            await self._wait(link, step, number, poll)

    async def _wait(self, link: _Link, step: ModbusStep, number: int, poll: float) -> None:
        assert step.point is not None
        point = self.map.point(step.point)
        until = {number if v == NUMBER else v for v in step.until}
        async with asyncio.timeout(step.timeout):
            while True:
                try:
                    value = await link.read_point(point)
                except RequestTimeout:
                    continue
                self.alive()
                if value in until:
                    return
                reason = step.refused.get(str(value))
                if reason is not None:
                    raise CommandError(f"refused: {reason} ({point.name} = {value})", refused=True)
                await asyncio.sleep(poll)

    async def active_recipe(self) -> RecipeInfo | None:
        """The recipe whose number the machine shows as active (None for 0 = none).

        Raises:
            CommandError: not connected, no recipes in the map, or the read failed.
        """
        recipes = self.map.recipes
        if recipes is None:
            raise CommandError("the machine map defines no recipes", refused=True)
        link = self._require_link()
        try:
            number = await link.read_point(self.map.point(recipes.active))
        except (TransportError, RemoteProtocolError) as exc:
            raise CommandError(f"reading the active recipe: {exc}") from exc
        if not number:
            return None
        names = {v: k for k, v in recipes.numbers.items()}
        return RecipeInfo(names.get(int(number), f"#{number}"))

    async def available_recipes(self) -> list[RecipeInfo]:
        """The recipes the map names (a Modbus machine cannot list its recipes)."""
        recipes = self.map.recipes
        return [RecipeInfo(name) for name in recipes.numbers] if recipes else []

    # --- single points, for drivers built on this adapter (the Hermes bridge's conveyor) -------

    async def read_point(self, name: str) -> Value:
        """Read one map point now, bypassing the poll cadence.

        Raises:
            CommandError: unknown point, not connected, or the read failed.
        """
        point = self._point(name)
        try:
            return await self._require_link().read_point(point)
        except (TransportError, RemoteProtocolError) as exc:
            raise CommandError(
                f"reading {name}: {exc}", refused=isinstance(exc, ModbusExceptionResponse)
            ) from exc

    async def write_point(self, name: str, value: Value) -> None:
        """Write one map point (a coil, or holding registers) and return when the device confirms.

        Raises:
            CommandError: unknown or read-only point, a value that does not fit, not connected,
                or the device refused (``refused`` is set for an exception response).
        """
        point = self._point(name)
        try:
            words = encode_point(point, value)
        except ValueError as exc:
            raise CommandError(str(exc), refused=True) from exc
        try:
            await self._require_link().write(point.table, point.address, words)
        except (TransportError, RemoteProtocolError) as exc:
            raise CommandError(
                f"writing {name}: {exc}", refused=isinstance(exc, ModbusExceptionResponse)
            ) from exc

    def _point(self, name: str) -> Point:
        try:
            return self.map.point(name)
        except KeyError:
            raise CommandError(f"the map has no point {name!r}", refused=True) from None

    def _require_link(self) -> _Link:
        if self._link is None:
            raise CommandError("not connected to the machine")
        return self._link


_UNSET = object()


def _keep_cancellation() -> None:
    # pymodbus waits for answers with asyncio.wait_for, which on Python 3.11 loses a
    # cancellation that arrives in the same loop pass as the answer (CPython gh-86296). The task
    # still counts the request, so honour it here, or a cancelled poll loop runs on.
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


__all__ = ["EXCEPTION_NAMES", "ModbusAdapter", "ModbusExceptionResponse", "SerialLine"]
