"""The serial adapter: a framed ASCII command protocol on a tty or ``socket://host:port``.

The link is opened with pyserial-asyncio-fast, which takes any pyserial URL: a device path (a real
RS-232 port, or a pty in tests) or ``socket://host:port`` for a serial server. Frames come from
the sans-IO framers in ``protocols.serial``; the payload syntax is ``TAG`` or
``TAG:KEY=VALUE;KEY=VALUE`` (``protocols.serial.payload``), and the map
(:class:`adapters.maps.SerialMap`) says which tag and field means what.

Commands are request/response, one at a time, each with a timeout and retries; the pending
command is kept in a table (``protocols.serial.Correlator``) that is cleaned up in ``finally``
whatever happens (aiomqtt's ``_pending_call``). A response is correlated by its tag (``ST``
answers ``ST``; the error tag answers anything), so a late answer to a command that already
timed out is dropped instead of being taken for the next one. Unsolicited frames (the map's
event tag) are turned into observations in wire order, inside ``data_received``, so that a
status answer and the events around it are never reordered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import urlsplit

import serial
import serial_asyncio_fast

from adapters.base import Adapter, CommandError, Emit, PointValue, RecipeInfo, ReconnectPolicy
from adapters.observations import (
    CoatingProcessData,
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
from adapters.serial_map import SerialMap
from protocols.errors import RemoteProtocolError, RequestTimeout, TransportError
from protocols.serial import (
    Checksum,
    Correlator,
    FramingError,
    LineFramer,
    StxEtxFramer,
    decode_payload,
    encode_payload,
)

# A command's answer: its tag (the command's own or the error tag) and its fields.
_Answer = asyncio.Future[tuple[str, dict[str, str]]]


class MachineError(RemoteProtocolError):
    """The machine answered a command with its error frame.

    Args:
        code: the machine's error code.
        text: its error text.
    """

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"error {code}: {text}")
        self.code = code
        self.text = text


class _Link(asyncio.Protocol):
    """The byte stream of one session: frames in, observations and answers out."""

    def __init__(self, adapter: SerialAdapter) -> None:
        self.adapter = adapter
        device_map = adapter.map
        self.framer: StxEtxFramer | LineFramer = (
            StxEtxFramer(Checksum(device_map.checksum)) if device_map.framing == "stx_etx" else LineFramer()
        )
        self.transport: asyncio.WriteTransport | None = None
        self.pending: Correlator[asyncio.Future[tuple[str, dict[str, str]]]] = Correlator(
            device_map.error_tag
        )
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport: uvloop's are not registered as asyncio.WriteTransport subclasses,
        # so no isinstance check can say so.
        self.transport = cast(asyncio.WriteTransport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        for entry in self.pending:
            if not entry.token.done():
                entry.token.set_exception(TransportError(f"link closed: {exc or 'end of stream'}"))

    def data_received(self, data: bytes) -> None:
        while True:
            try:
                frames = self.framer.feed(data)
            except FramingError as exc:
                # The framer dropped the bad bytes and keeps sync; frames before it still count.
                for payload in exc.frames:
                    self.frame(payload)
                self.adapter.log.warning("frame.dropped", error=str(exc))
                data = b""
                continue
            for payload in frames:
                self.frame(payload)
            return

    def frame(self, payload: bytes) -> None:
        self.adapter.alive()
        try:
            tag, fields = decode_payload(payload)
        except RemoteProtocolError as exc:
            self.adapter.log.warning("frame.unreadable", error=str(exc))
            return
        device_map = self.adapter.map
        if tag == device_map.event_tag:
            self.adapter.on_event(fields)
            return
        if tag == device_map.status_command:
            self.adapter.on_status(fields)  # in wire order, before any event that follows it
        # Correlate by tag: commands ahead of the answered one lost their answer, and are failed.
        answered, skipped = self.pending.answer(tag)
        for entry in skipped:
            if not entry.token.done():
                entry.token.set_exception(RequestTimeout(f"{entry.tag}: answered by {tag}"))
        if answered is None:
            self.adapter.log.info("frame.unexpected", tag=tag)  # e.g. a late answer after a timeout
        elif not answered.token.done():
            answered.token.set_result((tag, fields))

    def write(self, payload: bytes) -> None:
        assert self.transport is not None
        self.transport.write(self.framer.encode(payload))


async def open_serial_link(
    url: str, factory: Callable[[], asyncio.Protocol], *, baudrate: int
) -> tuple[asyncio.BaseTransport, asyncio.Protocol]:
    """Open a pyserial URL as an asyncio transport on the running loop.

    ``socket://host:port`` is a plain TCP connection made by the loop itself: the serial
    library's own path for it sets attributes on the loop's transport, which uvloop's
    transports do not allow, and a serial server needs nothing of pyserial anyway.
    """
    loop = asyncio.get_running_loop()
    parts = urlsplit(url)
    if parts.scheme == "socket":
        if not parts.hostname or parts.port is None:
            raise ValueError(f"{url}: a serial server URL is socket://host:port")
        return await loop.create_connection(factory, parts.hostname, parts.port)
    return await serial_asyncio_fast.create_serial_connection(loop, factory, url, baudrate=baudrate)


class SerialAdapter(Adapter):
    """A machine on a serial line (or ``socket://``), described by a SerialMap.

    Args:
        machine_id: the machine id.
        device_map: what the frames mean (``adapters.maps.builtin_map("coater")``).
        url: a pyserial URL: ``/dev/ttyUSB0``, a pty path, or ``socket://host:port``. It may be
            changed between sessions (a USB adapter that re-enumerates under a new name).
        policy: reconnect and liveness settings.
    """

    protocol = "serial"
    reports_work = True  # the machine says when work on a board starts and ends

    def __init__(
        self, machine_id: str, device_map: SerialMap, *, url: str, policy: ReconnectPolicy | None = None
    ) -> None:
        super().__init__(machine_id, policy=policy)
        self.map = device_map
        self.url = url
        self._link: _Link | None = None
        self._status: dict[str, str] = {}  # the last status answer's fields (the point browser)
        self._lock = asyncio.Lock()
        self._queue: asyncio.Queue[Observation] = asyncio.Queue()
        self._state: int | None = None
        self._faults: set[str] = set()  # kept across sessions: the status poll reconciles them
        self._recipe: tuple[str, str | None] | None = None
        self._activations: list[tuple[str, asyncio.Future[str | None]]] = []

    # --- session ----------------------------------------------------------------------------

    async def _session(self, emit: Emit) -> None:
        try:
            transport, link = await open_serial_link(
                self.url, lambda: _Link(self), baudrate=self.map.baudrate
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise TransportError(f"cannot open {self.url}: {exc}") from exc
        assert isinstance(link, _Link)
        self._link = link
        poller = asyncio.create_task(self._poll(link), name=f"adapter[{self.machine_id}].poll")
        emitter = asyncio.create_task(self._emit(emit), name=f"adapter[{self.machine_id}].emit")
        try:
            # Connected at the first frame from the machine (alive()), not when the port opens:
            # a pty or serial server opens with nothing answering behind it.
            self.opened()
            done, _ = await asyncio.wait({poller, emitter, link.lost}, return_when=asyncio.FIRST_COMPLETED)
            if link.lost in done:
                raise TransportError(f"{self.url}: link closed")
            for task in done:
                task.result()
        finally:
            self._link = None
            for task in (poller, emitter):
                task.cancel()
            await asyncio.gather(poller, emitter, return_exceptions=True)
            transport.close()
            await self._drain(emit)

    @property
    def answer_interval(self) -> float:
        """The status poll's interval plus one command's timeouts."""
        return self.map.poll_interval + self.map.timeout * (1 + self.map.retries)

    async def _poll(self, link: _Link) -> None:
        # The status poll is the heartbeat, and reconciles state and alarms missed while away.
        while True:
            try:
                await self._command(link, self.map.status_command)
            except MachineError as exc:
                # The status command is always valid, so an error answer (a frame error that
                # outlasted the retries) means the line itself is bad: reopen it.
                raise TransportError(f"status poll: {exc}") from exc
            await asyncio.sleep(self.map.poll_interval)

    async def _emit(self, emit: Emit) -> None:
        while True:
            await emit(await self._queue.get())

    async def _drain(self, emit: Emit) -> None:
        with contextlib.suppress(asyncio.QueueEmpty):
            while True:
                await emit(self._queue.get_nowait())

    # --- commands on the wire ---------------------------------------------------------------

    async def _command(
        self, link: _Link, tag: str, fields: Mapping[str, object] | None = None, *, retries: int | None = None
    ) -> dict[str, str]:
        """Send one command and return its answer's fields.

        Raises:
            MachineError: the machine answered with its error frame.
            RequestTimeout: no answer after the retries.
            TransportError: the link closed.
        """
        device_map = self.map
        attempts = 1 + (device_map.retries if retries is None else retries)
        loop = asyncio.get_running_loop()
        async with self._lock:  # the protocol allows one outstanding command per link
            for attempt in range(1, attempts + 1):
                future: _Answer = loop.create_future()
                entry = link.pending.expect(tag, future)
                started = loop.time()
                try:
                    link.write(encode_payload(tag, fields))
                    async with asyncio.timeout(device_map.timeout):
                        answered, answer = await future
                except TimeoutError:
                    self.log.warning("command.timeout", command=tag, attempt=attempt)
                    continue
                except RequestTimeout:
                    continue
                finally:
                    link.pending.forget(entry)
                self.health.last_rtt = loop.time() - started
                if answered != device_map.error_tag:
                    return answer
                code = _int(answer.get(device_map.error_code))
                error = MachineError(code, answer.get(device_map.error_text, ""))
                if code in device_map.resend_codes and attempt < attempts:
                    continue  # the machine saw a damaged frame: send it again
                raise error
        raise RequestTimeout(f"{tag}: no answer after {attempts} attempts")

    def _require_link(self) -> _Link:
        if self._link is None:
            raise CommandError("not connected to the machine")
        return self._link

    async def _ask(self, tag: str, fields: Mapping[str, object] | None = None, **kw: Any) -> dict[str, str]:
        link = self._require_link()
        try:
            return await self._command(link, tag, fields, **kw)
        except MachineError as exc:
            refused = exc.code in self.map.refused_codes or exc.code not in self.map.resend_codes
            raise CommandError(f"{tag} refused: {exc.text or exc}", refused=refused) from exc
        except TransportError as exc:
            raise CommandError(f"{tag}: {exc}") from exc

    # --- frames → observations (called from data_received, in wire order) -----------------

    def points(self) -> list[PointValue]:
        """The status answer's fields the map reads (state, recipe, revision, alarms): where they
        are (``ST STATE``), and the text last answered (serial fields are text: raw = value)."""
        command = self.map.status_command
        return [
            PointValue(name, f"{command} {field}", self._status.get(field), self._status.get(field))
            for name, field in self.map.status_fields.items()
        ]

    def on_status(self, fields: Mapping[str, str]) -> None:
        """Interpret a status answer: the state, the active recipe and the active alarms."""
        self._status = dict(fields)  # for the point browser
        names = self.map.status_fields
        at = datetime.now(UTC)
        if "state" in names and names["state"] in fields:
            value = fields[names["state"]]
            state = self.map.state.translate(value)
            if state is not None and state != self._state:
                self._state = state
                self._put(
                    StateChanged(
                        machine_id=self.machine_id, at=at, state=state, reason=self.map.state.names.get(value)
                    )
                )
        if "recipe" in names and names["recipe"] in fields:
            revision = fields.get(names.get("revision", ""))
            shown = (fields[names["recipe"]], revision)
            before, self._recipe = self._recipe, shown
            # A change no RA event told us of (it came while the link was down or silent) is
            # reported from the status; not while our own activation waits for its RA.
            if before is not None and before != shown and shown[0] and not self._activations:
                self.log.info("recipe.changed_at_machine", recipe=shown[0], revision=revision)
                self._put(
                    RecipeActivated(machine_id=self.machine_id, at=at, recipe=shown[0], revision=revision)
                )
        if "alarms" in names and names["alarms"] in fields:
            listed = fields[names["alarms"]]
            active = (
                set() if listed in ("", self.map.none_value) else set(listed.split(self.map.list_separator))
            )
            for code in sorted(active - self._faults):
                self._fault_raised(code, None, None, at)
            for code in sorted(self._faults - active):
                self._faults.discard(code)
                self._put(FaultCleared(machine_id=self.machine_id, at=at, code=code))

    def on_event(self, fields: Mapping[str, str]) -> None:
        """Interpret an unsolicited frame by its type field."""
        event = self.map.events.get(fields.get(self.map.event_type, ""))
        if event is None:
            self.log.info("event.unmapped", fields=dict(fields))
            return
        at = datetime.now(UTC)
        names = event.fields

        def get(name: str) -> str | None:
            return fields.get(names[name]) or None if name in names else None

        if event.kind == "work_started":
            recipe, revision = self._recipe or (None, None)
            self._put(
                WorkStarted(
                    machine_id=self.machine_id,
                    at=at,
                    board_id=get("board_id"),
                    barcode=get("barcode"),
                    recipe=recipe,
                    revision=revision,
                )
            )
        elif event.kind == "work_finished":
            board_id = get("board_id")
            passed = get("result") == event.passed
            result = WorkResult.COMPLETED if passed else WorkResult.FAILED
            measurements = {k: _number(fields.get(f)) for k, f in event.measurements.items()}
            measurements = {k: v for k, v in measurements.items() if v == v}  # NaN: absent or not a number
            self._put(
                CoatingProcessData(
                    machine_id=self.machine_id, at=at, board_id=board_id, measurements=measurements
                )
            )
            self._put(WorkFinished(machine_id=self.machine_id, at=at, board_id=board_id, result=result))
        elif event.kind == "fault_raised":
            code = get("code")
            if code is not None and code not in self._faults:
                self._fault_raised(code, get("description"), get("severity"), at)
        elif event.kind == "fault_cleared":
            code = get("code")
            if code is not None and code in self._faults:
                self._faults.discard(code)
                self._put(FaultCleared(machine_id=self.machine_id, at=at, code=code))
        elif event.kind == "recipe_activated":
            name, revision = get("name") or "", get("revision")
            self._recipe = (name, revision)
            ours = False
            for wanted, future in self._activations:
                if wanted == name and not future.done():
                    future.set_result(revision)
                    ours = True
            if not ours:  # our own activation is reported once, by the command's result
                self._put(RecipeActivated(machine_id=self.machine_id, at=at, recipe=name, revision=revision))

    def _fault_raised(self, code: str, text: str | None, level: str | None, at: datetime) -> None:
        self._faults.add(code)
        entry = self.map.fault_codes.get(code)
        severity = self.map.severities.get(level or "") or (entry.severity if entry else Severity.ERROR)
        self._put(
            FaultRaised(
                machine_id=self.machine_id,
                at=at,
                code=code,
                description=text or (entry.description if entry else ""),
                severity=severity,
                cause=entry.cause if entry else None,
            )
        )

    def _put(self, observation: Observation) -> None:
        self._queue.put_nowait(observation)

    # --- recipes ----------------------------------------------------------------------------

    async def activate_recipe(self, name: str, revision: str | None = None) -> RecipeActivated:
        """Select a recipe and return once the machine announces it active (its RA event).

        The select command is not retried: sending it twice could start two changeovers.

        Raises:
            CommandError: refused by the machine (with its text), not connected, no answer, or
                the changeover did not end within the map's recipe timeout.
        """
        device_map = self.map
        fields: dict[str, object] = {device_map.recipe_name: name}
        if revision is not None:
            fields[device_map.recipe_revision] = revision
        waiter: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        entry = (name, waiter)
        self._activations.append(entry)  # before the command: RA may follow its answer at once
        try:
            await self._ask(device_map.recipe_select, fields, retries=0)
            try:
                async with asyncio.timeout(device_map.recipe_timeout):
                    activated = await waiter
            except TimeoutError:
                raise CommandError(
                    f"timed out after {device_map.recipe_timeout:g} s waiting for {name} to become active"
                ) from None
        finally:
            self._activations.remove(entry)
        if revision is not None and activated != revision:
            raise CommandError(f"the machine activated {name} revision {activated}, not {revision}")
        self.log.info("recipe.activated", recipe=name, revision=activated)
        return RecipeActivated(
            machine_id=self.machine_id, at=datetime.now(UTC), recipe=name, revision=activated
        )

    async def active_recipe(self) -> RecipeInfo | None:
        """The recipe the status answer names.

        Raises:
            CommandError: not connected, or no answer.
        """
        await self._ask(self.map.status_command)  # on_status records the recipe
        if self._recipe is None or not self._recipe[0]:
            return None
        return RecipeInfo(*self._recipe)

    async def available_recipes(self) -> list[RecipeInfo]:
        """The recipes the machine lists.

        Raises:
            CommandError: not connected, or no answer.
        """
        answer = await self._ask(self.map.recipe_list)
        names = answer.get(self.map.recipe_names, "")
        return [RecipeInfo(n) for n in names.split(self.map.list_separator) if n]


def _int(text: str | None) -> int:
    try:
        return int(text or "")
    except ValueError:
        return -1


def _number(text: str | None) -> float:
    try:
        return float(text or "nan")
    except ValueError:
        return float("nan")


__all__ = ["MachineError", "SerialAdapter", "decode_payload", "encode_payload"]
