"""Serial devices that only report: a barcode scanner, a functional tester's result lines.

Both send CR LF terminated lines on a tty or ``socket://host:port`` and take no commands, so
there is nothing to poll: the link is up while the port is open (a scanner is silent between
boards), and a closed link ends the session.

- :class:`ScannerAdapter`: each line is one read, ``<AIM identifier><data>`` (ISO/IEC 15424:
  ``]`` and two characters) or the data alone. A read becomes an
  :class:`~adapters.observations.IdentifierRead`; the no-read text (``NOREAD``) an
  :class:`~adapters.observations.IdentifierNotRead`; the same code again within
  ``double_read_window`` seconds is a double read and dropped (logged ``scanner.double_read``,
  counted); a line with bytes no label carries (control characters, non-ASCII) is garbage,
  logged ``scanner.garbage`` and counted, and the link stays up.
- :class:`TestReportAdapter`: a tester's report lines, read as its tester map says
  (:mod:`adapters.tester_map`; ``builtin:fct_lines`` is the ``TS``/``TR``/``TE`` lines of
  ``simulators/fct.md``, in the ``TAG:KEY=VALUE`` syntax of :mod:`protocols.serial.payload`): each
  unit's steps, from its start line to its end line, become one
  :class:`~adapters.observations.InspectionResult` with the map's TestMethod (published as
  ``UnitsTested``). A malformed line, a step or end line for a unit whose start was not seen, or a
  start line that cuts another unit short are logged and counted; the cut unit is still reported
  (as an error), so nothing is lost silently.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import serial

from adapters import observations as obs
from adapters.base import Adapter, CommandError, Emit, RecipeInfo, ReconnectPolicy
from adapters.serial import open_serial_link
from adapters.tester_map import TesterMap
from protocols.errors import RemoteProtocolError, TransportError
from protocols.serial import FramingError, LineFramer, decode_payload

#: AIM symbology identifiers (ISO/IEC 15424) by their code letter, for the logs and the metrics.
SYMBOLOGY_NAMES = {"A": "code39", "C": "code128", "E": "ean-upc", "d": "datamatrix", "Q": "qr", "I": "itf"}
# Seconds a silent report-only device may stay silent: it speaks only when a board passes.
_SILENCE = 365 * 24 * 3600.0


def _now() -> datetime:
    return datetime.now(UTC)


def _builtin_fct() -> TesterMap:
    from adapters.maps import builtin_map  # adapters.maps reads every protocol's maps

    found = builtin_map("fct_lines")
    assert isinstance(found, TesterMap)
    return found


class _Lines(asyncio.Protocol):
    """Bytes in, lines out to the adapter, in wire order."""

    def __init__(self, adapter: _ReportAdapter) -> None:
        self.adapter = adapter
        self.framer = LineFramer()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.adapter.alive()
        try:
            lines = self.framer.feed(data)
        except FramingError as exc:
            # An overlong line: dropped; the lines around it still count.
            self.adapter.garbage(repr(data[:80]), str(exc))
            lines = [*exc.frames, *self.framer.feed(b"")]
        for line in lines:
            self.adapter.line(line)


class _ReportAdapter(Adapter):
    """A serial device that only sends lines: no recipes, no polling."""

    protocol = "serial"
    reports_state = False  # reads and results only

    def __init__(self, machine_id: str, *, url: str, policy: ReconnectPolicy | None = None) -> None:
        super().__init__(machine_id, policy=policy)
        self.url = url
        self._queue: asyncio.Queue[obs.Observation] = asyncio.Queue()
        #: lines that were not what the device sends (garbage, malformed), for /metrics
        self.garbage_lines = 0

    @property
    def liveness_timeout(self) -> float:
        return _SILENCE

    async def _session(self, emit: Emit) -> None:
        try:
            transport, link = await open_serial_link(self.url, lambda: _Lines(self), baudrate=9600)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise TransportError(f"cannot open {self.url}: {exc}") from exc
        assert isinstance(link, _Lines)
        self.connected()  # nothing to ask: the device speaks when a board passes
        try:
            while True:
                getter: asyncio.Future[obs.Observation] = asyncio.ensure_future(self._queue.get())
                waiting: set[asyncio.Future[Any]] = {getter, link.lost}
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    await emit(getter.result())
                    continue
                getter.cancel()
                raise TransportError(f"{self.url}: link closed")
        finally:
            transport.close()
            with contextlib.suppress(asyncio.QueueEmpty):
                while True:
                    await emit(self._queue.get_nowait())

    def put(self, observation: obs.Observation) -> None:
        self._queue.put_nowait(observation)

    def garbage(self, line: str, reason: str) -> None:
        self.garbage_lines += 1
        self.log.warning("serial.garbage", line=line, reason=reason)

    def line(self, payload: bytes) -> None:
        raise NotImplementedError

    async def activate_recipe(self, name: str, revision: str | None = None) -> obs.RecipeActivated:
        raise CommandError(
            f"{self.machine_id} only reports; it takes no recipe from the gateway", refused=True
        )

    async def active_recipe(self) -> RecipeInfo | None:
        return None

    async def available_recipes(self) -> list[RecipeInfo]:
        return []


class ScannerAdapter(_ReportAdapter):
    """A barcode scanner or laser marker's verification reader on serial (see the module docstring).

    Args:
        machine_id: the machine id.
        url: a pyserial URL (a tty, or ``socket://host:port``).
        no_read: what the scanner sends when it cannot read a label.
        double_read_window: seconds within which the same code again is a double read.
        policy: reconnect settings.
    """

    def __init__(
        self,
        machine_id: str,
        *,
        url: str,
        no_read: str = "NOREAD",
        double_read_window: float = 2.0,
        policy: ReconnectPolicy | None = None,
    ) -> None:
        super().__init__(machine_id, url=url, policy=policy)
        self.no_read = no_read
        self.double_read_window = double_read_window
        self.double_reads = 0
        self.no_reads = 0
        self._last: tuple[str, float] | None = None

    def line(self, payload: bytes) -> None:
        text = payload.decode("ascii", errors="replace").strip()
        if not text or not text.isprintable() or not text.isascii():
            self.garbage(repr(payload[:80]), "not a label read")
            return
        if text == self.no_read:
            self.no_reads += 1
            self.log.info("scanner.no_read")
            self.put(obs.IdentifierNotRead(machine_id=self.machine_id, at=_now()))
            return
        symbology = None
        if text.startswith("]") and len(text) > 3:
            symbology = SYMBOLOGY_NAMES.get(text[1], text[1:3])
            text = text[3:]
        now = asyncio.get_running_loop().time()
        if self._last is not None and self._last[0] == text and now - self._last[1] < self.double_read_window:
            self.double_reads += 1
            self.log.info("scanner.double_read", barcode=text)
            return
        self._last = (text, now)
        self.put(obs.IdentifierRead(machine_id=self.machine_id, at=_now(), barcode=text, symbology=symbology))


@dataclass(slots=True)
class _Unit:
    serial_number: str
    panel: str | None
    position: int
    program: str | None
    started: datetime
    steps: list[obs.Measured] = field(default_factory=list)


class TestReportAdapter(_ReportAdapter):
    """A tester's result lines on serial, read as its tester map says (see the module docstring).

    Args:
        machine_id: the machine id.
        url: a pyserial URL (a tty, or ``socket://host:port``).
        tester_map: how its lines read (default: ``builtin:fct_lines``, ``simulators/fct.md``).
        method: the CFX TestMethod of its results, instead of the map's (``FCT``, ``ICT``, ...).
        policy: reconnect settings.
    """

    __test__ = False  # not a pytest class, whatever its name

    def __init__(
        self,
        machine_id: str,
        *,
        url: str,
        tester_map: TesterMap | None = None,
        method: str | None = None,
        policy: ReconnectPolicy | None = None,
    ) -> None:
        super().__init__(machine_id, url=url, policy=policy)
        self.map = tester_map if tester_map is not None else _builtin_fct()
        self.method = method or self.map.method
        self._units: collections.OrderedDict[str, _Unit] = collections.OrderedDict()

    def line(self, payload: bytes) -> None:
        spec = self.map
        try:
            tag, fields = decode_payload(payload)
            if tag == spec.start:
                self._start(fields)
            elif tag == spec.step:
                self._step(fields)
            elif tag == spec.end:
                self._end(fields)
            else:
                raise RemoteProtocolError(f"unknown line tag {tag!r}")
        except (RemoteProtocolError, KeyError, ValueError) as exc:
            self.garbage(repr(payload[:120]), f"{type(exc).__name__}: {exc}")

    def _key(self, fields: dict[str, str]) -> str:
        try:
            return fields[self.map.unit]
        except KeyError:
            raise KeyError(f"no {self.map.unit} field naming the unit") from None

    def _start(self, fields: dict[str, str]) -> None:
        serial_number = self._key(fields)
        cut = self._units.pop(serial_number, None)
        if cut is not None:
            self.garbage(serial_number, "a new start line before the end line of the same unit")
            self._report(cut, obs.Outcome.ERROR)
        source = self.map.start_fields
        position = fields.get(source["position"], "") if "position" in source else ""
        self._units[serial_number] = _Unit(
            serial_number,
            fields.get(source["panel"]) if "panel" in source else None,
            int(position) if position else 1,
            fields.get(source["recipe"]) if "recipe" in source else None,
            _now(),
        )
        while len(self._units) > self.map.max_open:  # units whose end never came: report, do not grow
            _, stale = self._units.popitem(last=False)
            self._report(stale, obs.Outcome.ERROR)

    def _step(self, fields: dict[str, str]) -> None:
        unit = self._units[self._key(fields)]
        source = self.map.step_fields

        def text(name: str) -> str | None:
            return (fields.get(source[name]) or None) if name in source else None

        low, high = text("low"), text("high")
        unit.steps.append(
            obs.Measured(
                name=fields[source["name"]],
                value=float(fields[source["value"]]),
                unit=text("unit"),
                low=float(low) if low else None,
                high=float(high) if high else None,
                outcome=self.map.outcome(text("result")),
            )
        )

    def _end(self, fields: dict[str, str]) -> None:
        unit = self._units.pop(self._key(fields))
        source = self.map.end_fields
        word = fields.get(source["result"]) if "result" in source else None
        self._report(unit, self.map.outcome(word) or obs.Outcome.ERROR)

    def _report(self, unit: _Unit, outcome: obs.Outcome) -> None:
        position = obs.InspectedPosition(
            position=unit.position,
            barcode=unit.serial_number,
            outcome=outcome,
            measurements=tuple(unit.steps),
        )
        self.put(
            obs.InspectionResult(
                machine_id=self.machine_id,
                at=_now(),
                barcode=unit.panel or unit.serial_number,
                outcome=outcome,
                method=self.method,
                recipe=unit.program,
                started=unit.started,
                ended=_now(),
                positions=(position,),
            )
        )


__all__ = ["SYMBOLOGY_NAMES", "ScannerAdapter", "TestReportAdapter"]
