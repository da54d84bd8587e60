"""Electrical test stations at the end of the line: in-circuit / flying probe and functional test.

Two kinds, one per manual, because the field speaks two ways:

- :class:`InCircuitTester` (line kind ``ict``, ``ict.md``): a bed-of-nails ICT or a flying probe
  (``method = "FPT"``) that writes one CSV log per board into a folder, one row per test step with
  its measured value, limits, unit and pass/fail, as most installed testers do;
- :class:`FunctionalTester` (line kind ``fct``, ``fct.md``): a functional tester that reports each
  board on a serial line (a pseudo-terminal and a raw TCP port) as CR LF terminated lines in the
  ``TAG:KEY=VALUE;...`` syntax of :mod:`protocols.serial.payload`.

Which boards fail is set in the line file (``fail_rate``, ``fail_boards``: the n-th board this
station tests, counted from 1) and by a scenario (``fail_board``). Both only play the station's
role; they import nothing of the gateway.
"""

from __future__ import annotations

import asyncio
import collections
import csv
import io
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from protocols.serial.payload import encode_payload
from simulators.clock import Clock
from simulators.line_link import LineLink, ReportsLines
from simulators.machine import Board, BoardIn, BoardOut, Machine
from simulators.result_files import ResultFolder


@dataclass(frozen=True, slots=True)
class ProgramStep:
    """One step of a test program: what is measured, its nominal value and its limits."""

    name: str
    refdes: str
    nominal: float
    low: float
    high: float
    unit: str


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step as measured on one unit (panel position)."""

    position: int
    step: ProgramStep
    value: float

    @property
    def passed(self) -> bool:
        """Whether the value is within the step's limits."""
        return self.step.low <= self.value <= self.step.high


def _tolerance(name: str, refdes: str, nominal: float, percent: float, unit: str) -> ProgramStep:
    delta = abs(nominal) * percent / 100
    return ProgramStep(name, refdes, nominal, round(nominal - delta, 6), round(nominal + delta, 6), unit)


def _ict_program(resistors: int, capacitors: int, diodes: int) -> tuple[ProgramStep, ...]:
    steps = [ProgramStep("SHORTS", "", 0.0, 0.0, 0.0, "count")]
    steps += [_tolerance(f"R{n}", f"R{n}", 10_000.0, 1.0, "Ohm") for n in range(1, resistors + 1)]
    steps += [_tolerance(f"C{n}", f"C{n}", 100.0, 10.0, "nF") for n in range(1, capacitors + 1)]
    steps += [_tolerance(f"D{n}", f"D{n}", 0.65, 8.0, "V") for n in range(1, diodes + 1)]
    return tuple(steps)


def _fct_program(rails: Mapping[str, float]) -> tuple[ProgramStep, ...]:
    steps = [_tolerance(f"V_{name}", "", volts, 3.0, "V") for name, volts in rails.items()]
    steps.append(ProgramStep("I_IDLE", "", 0.120, 0.080, 0.160, "A"))
    steps.append(ProgramStep("CLK_MHZ", "Y1", 25.0, 24.99, 25.01, "MHz"))
    return tuple(steps)


#: ICT programs (name, cycle time in s, steps), named like the placement programs.
ICT_PROGRAMS: tuple[tuple[str, float, tuple[ProgramStep, ...]], ...] = (
    ("PCB-CTRL-A", 30.0, _ict_program(resistors=10, capacitors=8, diodes=2)),
    ("PCB-PWR-B", 30.0, _ict_program(resistors=6, capacitors=12, diodes=4)),
)
#: FCT programs (name, cycle time in s, steps).
FCT_PROGRAMS: tuple[tuple[str, float, tuple[ProgramStep, ...]], ...] = (
    ("PCB-CTRL-A", 40.0, _fct_program({"3V3": 3.3, "5V0": 5.0, "1V8": 1.8})),
    ("PCB-PWR-B", 40.0, _fct_program({"24V": 24.0, "12V": 12.0, "5V0": 5.0})),
)
METHODS = ("ICT", "FPT")


class _TestStation(Machine):
    """What both testers share: programs as recipes, measuring, and which boards fail."""

    def __init__(
        self,
        machine_id: str,
        *,
        clock: Clock | None,
        seed: int,
        board_in: BoardIn | None,
        board_out: BoardOut | None,
        programs: tuple[tuple[str, float, tuple[ProgramStep, ...]], ...],
        fail_rate: float,
        fail_boards: Iterable[int],
        fail_steps: int,
        positions: int,
    ) -> None:
        fail = tuple(fail_boards)
        if not 0.0 <= fail_rate <= 1.0:
            raise ValueError(f"fail_rate must be between 0 and 1, not {fail_rate!r}")
        if any(not isinstance(n, int) or n < 1 for n in fail):
            raise ValueError(f"fail_boards must list board numbers from 1, not {list(fail)!r}")
        if fail_steps < 1:
            raise ValueError(f"fail_steps must be at least 1, not {fail_steps!r}")
        if positions < 1:
            raise ValueError(f"positions must be at least 1, not {positions!r}")
        super().__init__(
            machine_id,
            clock=clock,
            seed=seed,
            board_in=board_in,
            board_out=board_out,
            conveyor_length_mm=400.0,
            conveyor_speed_mm_s=200.0,
            changeover_time=10.0,
            spread=0.02,
        )
        self.fail_rate = fail_rate
        self.fail_boards = set(fail)
        self.fail_steps = fail_steps
        self.positions = positions
        for name, cycle, steps in programs:
            self.recipes.add(name, cycle_time=cycle, steps=steps)
        self.recipes.active = self.recipes.get(programs[0][0])
        self.tested = 0
        #: Per board tested (the last 1,000): its barcode, and the failing steps as (position, name).
        self.results: collections.deque[tuple[str, list[tuple[int, str]]]] = collections.deque(maxlen=1000)

    def fail_board(self, board: int) -> None:
        """Fault injection: the ``board``-th board this station tests (from 1) fails."""
        if board < 1:
            raise ValueError(f"board numbers count from 1, not {board!r}")
        self.fail_boards.add(board)

    def measure(self, steps: tuple[ProgramStep, ...]) -> list[StepResult]:
        """Measure every step on every position; a failing board gets ``fail_steps`` steps out of
        limits on its first position."""
        self.tested += 1
        # Drawn every time, so that which boards fail does not depend on the options.
        random_fail = self.rng.random() < self.fail_rate
        failing: set[str] = set()
        if steps and (random_fail or self.tested in self.fail_boards):
            failing = {s.name for s in self.rng.sample(list(steps), min(self.fail_steps, len(steps)))}
        results = []
        for position in range(1, self.positions + 1):
            for step in steps:
                span = (step.high - step.low) / 2
                value = step.nominal + self.rng.gauss(0.0, span / 6) if span else step.nominal
                if position == 1 and step.name in failing:
                    value = step.high + max(span, abs(step.nominal) * 0.5, 1.0)
                results.append(StepResult(position, step, float(f"{value:.6g}")))
        return results

    def unit_barcode(self, board: Board, position: int) -> str:
        """A panel position's barcode: the board's, with ``-<position>`` on a multi-up panel."""
        barcode = board.barcode or board.board_id
        return f"{barcode}-{position}" if self.positions > 1 else barcode

    def _steps(self) -> tuple[ProgramStep, ...]:
        recipe = self.recipes.active
        return tuple(recipe.parameters.get("steps", ())) if recipe else ()

    def _record(self, board: Board, results: list[StepResult]) -> bool:
        failed = [(r.position, r.step.name) for r in results if not r.passed]
        self.results.append((board.barcode or board.board_id, failed))
        if failed:
            self.log.info("tester.board_failed", board=board.board_id, barcode=board.barcode, steps=failed)
        return not failed


# --- ICT: a CSV log per board ------------------------------------------------------------------

ICT_COLUMNS = (
    "Barcode",
    "Program",
    "Tester",
    "Start",
    "End",
    "BoardResult",
    "Position",
    "UnitBarcode",
    "UnitResult",
    "Step",
    "RefDes",
    "Value",
    "Unit",
    "Low",
    "High",
    "StepResult",
    "Fault",
)


def _fault(result: StepResult) -> str:
    if result.passed:
        return ""
    if result.step.name == "SHORTS":
        return "SHORT"
    return "OPEN" if result.value > result.step.high * 10 else "OUT_OF_TOLERANCE"


def ict_csv(
    barcode: str,
    results: list[StepResult],
    *,
    program: str,
    tester: str,
    started: datetime,
    ended: datetime,
    unit_barcodes: Mapping[int, str],
) -> Iterator[bytes]:
    """One board's ICT log (the ``ict_csv`` map's layout): one row per step and position."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(ICT_COLUMNS)
    board_result = "PASS" if all(r.passed for r in results) else "FAIL"
    by_position: dict[int, list[StepResult]] = collections.defaultdict(list)
    for result in results:
        by_position[result.position].append(result)
    for position, rows in sorted(by_position.items()):
        unit_result = "PASS" if all(r.passed for r in rows) else "FAIL"
        for r in rows:
            writer.writerow(
                [
                    barcode,
                    program,
                    tester,
                    started.isoformat(timespec="milliseconds"),
                    ended.isoformat(timespec="milliseconds"),
                    board_result,
                    position,
                    unit_barcodes.get(position, barcode),
                    unit_result,
                    r.step.name,
                    r.step.refdes,
                    f"{r.value:.9g}",
                    r.step.unit,
                    f"{r.step.low:.9g}",
                    f"{r.step.high:.9g}",
                    "PASS" if r.passed else "FAIL",
                    _fault(r),
                ]
            )
    yield buffer.getvalue().encode("utf-8")


class InCircuitTester(_TestStation):
    """An in-circuit tester or flying probe that writes one CSV log per board (see ``ict.md``).

    Args:
        machine_id: the tester's name.
        clock: the simulated clock.
        seed: random seed for cycle times, measurements and which boards fail.
        board_in: where boards come from.
        board_out: where boards go.
        folder: where the logs go (None: a temporary folder made at start, removed at stop).
        convention: how a log is marked complete: ``rename`` (``X.tmp`` renamed to ``X``),
            ``companion`` (``<stem>.done`` beside it) or ``plain``.
        method: ``ICT`` (bed of nails) or ``FPT`` (flying probe, three times the cycle time).
        station: the tester's name written into each log.
        fail_rate: probability (0 to 1) that a board fails.
        fail_boards: boards that fail for certain: the n-th board tested, counted from 1.
        fail_steps: how many steps a failing board has out of limits.
        positions: units on each panel (each tested, and reported, on its own).

    Raises:
        ValueError: an unknown method or convention, a rate outside 0 - 1, a board number
            below 1, ``fail_steps`` or ``positions`` below 1.
    """

    def __init__(
        self,
        machine_id: str = "ict",
        *,
        clock: Clock | None = None,
        seed: int = 0,
        board_in: BoardIn | None = None,
        board_out: BoardOut | None = None,
        folder: str | None = None,
        convention: str = "rename",
        method: str = "ICT",
        station: str = "ICT-1",
        fail_rate: float = 0.0,
        fail_boards: Iterable[int] = (),
        fail_steps: int = 1,
        positions: int = 1,
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
        if convention not in ("rename", "companion", "plain"):
            raise ValueError(f"convention must be rename, companion or plain, not {convention!r}")
        slower = 3.0 if method == "FPT" else 1.0
        programs = tuple((name, cycle * slower, steps) for name, cycle, steps in ICT_PROGRAMS)
        super().__init__(
            machine_id,
            clock=clock,
            seed=seed,
            board_in=board_in,
            board_out=board_out,
            programs=programs,
            fail_rate=fail_rate,
            fail_boards=fail_boards,
            fail_steps=fail_steps,
            positions=positions,
        )
        self.method = method
        self.station = station
        self.convention = convention
        self.folder: str | None = folder
        self._own_folder: tempfile.TemporaryDirectory[str] | None = None
        #: The logs written, in order (the last 1,000).
        self.written: collections.deque[Path] = collections.deque(maxlen=1000)

    async def process_board(self, board: Board, cycle_time: float) -> tuple[bool, Mapping[str, Any]]:
        """Test every step on every position; write the board's log before it leaves."""
        started = self.clock.wall()
        results = self.measure(self._steps())
        await self.clock.sleep(cycle_time)
        recipe = self.recipes.active
        barcode = board.barcode or board.board_id
        chunks = ict_csv(
            barcode,
            results,
            program=recipe.name if recipe else "",
            tester=self.station,
            started=started,
            ended=self.clock.wall(),
            unit_barcodes={p: self.unit_barcode(board, p) for p in range(1, self.positions + 1)},
        )
        assert self.folder is not None
        name = f"{barcode}_{self.tested:06d}.csv"
        drop = ResultFolder(Path(self.folder), self.convention)
        # A log is a few KB: written in the loop, so that on a stepped clock the file is there
        # before simulated time moves on (a thread hop would let it run ahead).
        self.written.append(drop.drop(name, chunks))
        passed = self._record(board, results)
        return passed, {"steps": len(results), "passed": passed}

    async def start(self) -> None:
        """Make the output folder when none was given, then start testing boards."""
        if self.folder is None:
            self._own_folder = tempfile.TemporaryDirectory(prefix=f"linegate-{self.machine_id}-")
            self.folder = self._own_folder.name
        await asyncio.to_thread(Path(self.folder).mkdir, parents=True, exist_ok=True)
        await super().start()

    async def stop(self) -> None:
        """Stop testing; remove the folder this tester made itself."""
        try:
            await super().stop()
        finally:
            if self._own_folder is not None:
                self._own_folder.cleanup()
                self._own_folder = None


# --- FCT: a serial text protocol ---------------------------------------------------------------


class FunctionalTester(ReportsLines, _TestStation):
    """A functional tester that reports each board on a serial line (see ``fct.md``).

    Args:
        machine_id: the tester's name.
        clock: the simulated clock.
        seed: random seed for cycle times, measurements and which boards fail.
        board_in: where boards come from.
        board_out: where boards go.
        host: the address of the raw TCP port (None: no TCP port).
        port: the TCP port (0 = a free one).
        pty: whether to open a pseudo-terminal.
        fail_rate: probability (0 to 1) that a board fails.
        fail_boards: boards that fail for certain: the n-th board tested, counted from 1.
        fail_steps: how many steps a failing board has out of limits.
        positions: units on each panel.

    Raises:
        ValueError: a rate outside 0 - 1, a board number below 1, ``fail_steps`` or
            ``positions`` below 1.
    """

    def __init__(
        self,
        machine_id: str = "fct",
        *,
        clock: Clock | None = None,
        seed: int = 0,
        board_in: BoardIn | None = None,
        board_out: BoardOut | None = None,
        host: str | None = "127.0.0.1",
        port: int = 0,
        pty: bool = True,
        fail_rate: float = 0.0,
        fail_boards: Iterable[int] = (),
        fail_steps: int = 1,
        positions: int = 1,
    ) -> None:
        super().__init__(
            machine_id,
            clock=clock,
            seed=seed,
            board_in=board_in,
            board_out=board_out,
            programs=FCT_PROGRAMS,
            fail_rate=fail_rate,
            fail_boards=fail_boards,
            fail_steps=fail_steps,
            positions=positions,
        )
        self.link = LineLink(host=host, port=port, pty=pty)

    def report_lines(self, board: Board, program: str, results: list[StepResult]) -> list[str]:
        """The lines one board's test sends: per position ``TS``, a ``TR`` per step, ``TE``."""
        lines = []
        for position in range(1, self.positions + 1):
            rows = [r for r in results if r.position == position]
            unit = self.unit_barcode(board, position)
            start = {"SN": unit, "PANEL": board.barcode or board.board_id, "POS": position, "PROG": program}
            lines.append(encode_payload("TS", start).decode("ascii"))
            for number, r in enumerate(rows, start=1):
                fields = {
                    "SN": unit,
                    "STEP": number,
                    "NAME": r.step.name,
                    "VAL": f"{r.value:.9g}",
                    "UNIT": r.step.unit,
                    "LO": f"{r.step.low:.9g}",
                    "HI": f"{r.step.high:.9g}",
                    "RES": "PASS" if r.passed else "FAIL",
                }
                lines.append(encode_payload("TR", fields).decode("ascii"))
            failed = sum(1 for r in rows if not r.passed)
            end = {"SN": unit, "RES": "FAIL" if failed else "PASS", "STEPS": len(rows), "FAILED": failed}
            lines.append(encode_payload("TE", end).decode("ascii"))
        return lines

    async def process_board(self, board: Board, cycle_time: float) -> tuple[bool, Mapping[str, Any]]:
        """Run the program on every position; send the report as the test ends."""
        results = self.measure(self._steps())
        await self.clock.sleep(cycle_time)
        recipe = self.recipes.active
        for line in self.report_lines(board, recipe.name if recipe else "", results):
            self.send(line)
        passed = self._record(board, results)
        return passed, {"steps": len(results), "passed": passed}

    def send_garbage(self, data: bytes = b"\x00\xffTR:?\r\n") -> None:
        """Fault injection: send bytes that are no report line (line noise)."""
        self.send_bytes(data)

    async def start(self) -> None:
        """Open the pty and the TCP port, then start testing boards."""
        await self.link.open()
        await super().start()

    async def stop(self) -> None:
        """Stop testing boards; close every link."""
        try:
            await super().stop()
        finally:
            await self.link.close()


__all__ = [
    "FCT_PROGRAMS",
    "ICT_COLUMNS",
    "ICT_PROGRAMS",
    "FunctionalTester",
    "InCircuitTester",
    "ProgramStep",
    "StepResult",
    "ict_csv",
]
