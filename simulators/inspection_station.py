"""AOI and X-ray stations that drop one result file per board into a folder (line kinds ``aoi``
and ``xray``).

The machine around :mod:`simulators.result_files`: it takes boards on Hermes like any other
machine, inspects each (finding defects at ``defect_rate``, a share of them false calls already
cleared at the repair station, and for certain on the boards in ``fail_boards``), and writes the
board's result in the layout of the built-in map ``aoi_xml`` (AOI) or ``xray_csv`` (X-ray) before
the board leaves. Plays the station's role only; it imports nothing of the gateway.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from simulators.clock import Clock
from simulators.machine import Board, BoardIn, BoardOut, Machine
from simulators.result_files import BoardResult, ResultFolder, aoi_xml, random_board, xray_csv


class ResultFileStation(Machine):
    """An inspection station writing result files (see the module docstring); ``FORMAT`` is
    ``xml`` (the ``aoi_xml`` layout) or ``csv`` (``xray_csv``).

    Args:
        machine_id: the station's name.
        clock: the simulated clock.
        seed: random seed for cycle times, findings and false calls.
        board_in: where boards come from.
        board_out: where boards go.
        folder: where results go (None: a temporary folder made at start, removed at stop).
        convention: ``rename``, ``companion`` or ``plain`` (see ``ResultFolder``).
        cycle_time: simulated seconds per board.
        positions: units per panel.
        defect_rate: probability (0 to 1) that a board has findings.
        false_call_rate: share (0 to 1) of findings the repair station cleared as false calls.
        fail_boards: boards with a real defect for certain (the n-th board inspected, from 1).
        review_delay: 0: results carry the repair station's verdicts at once. Above 0: a board
            with findings is written first unreviewed, and again ``review_delay`` simulated
            seconds later with the verdicts (real defect or false call), as a repair station
            that re-exports the reviewed result does.

    Raises:
        ValueError: an unknown convention, a rate outside 0 - 1, a board number
            below 1, ``positions`` below 1.
    """

    FORMAT = "xml"

    def __init__(
        self,
        machine_id: str = "aoi",
        *,
        clock: Clock | None = None,
        seed: int = 0,
        board_in: BoardIn | None = None,
        board_out: BoardOut | None = None,
        folder: str | None = None,
        convention: str = "rename",
        cycle_time: float = 20.0,
        positions: int = 1,
        defect_rate: float = 0.0,
        false_call_rate: float = 0.5,
        fail_boards: Iterable[int] = (),
        review_delay: float = 0.0,
    ) -> None:
        fail = tuple(fail_boards)
        if review_delay < 0:
            raise ValueError(f"review_delay must not be negative, not {review_delay!r}")
        if convention not in ("rename", "companion", "plain"):
            raise ValueError(f"convention must be rename, companion or plain, not {convention!r}")
        for name, rate in (("defect_rate", defect_rate), ("false_call_rate", false_call_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {rate!r}")
        if any(not isinstance(n, int) or n < 1 for n in fail):
            raise ValueError(f"fail_boards must list board numbers from 1, not {list(fail)!r}")
        if positions < 1:
            raise ValueError(f"positions must be at least 1, not {positions!r}")
        super().__init__(
            machine_id,
            clock=clock,
            seed=seed,
            board_in=board_in,
            board_out=board_out,
            conveyor_length_mm=500.0,
            conveyor_speed_mm_s=250.0,
            changeover_time=5.0,
            spread=0.03,
        )
        self.convention = convention
        self.positions = positions
        self.defect_rate = defect_rate
        self.false_call_rate = false_call_rate
        self.fail_boards = set(fail)
        self.review_delay = review_delay
        #: Results written again with the repair station's verdicts, in order (the last 1,000).
        self.reviewed: collections.deque[BoardResult] = collections.deque(maxlen=1000)
        self.recipes.add("PCB-CTRL-A", cycle_time=cycle_time)
        self.recipes.add("PCB-PWR-B", cycle_time=cycle_time)
        self.recipes.active = self.recipes.get("PCB-CTRL-A")
        self.folder: str | None = folder
        self._own_folder: tempfile.TemporaryDirectory[str] | None = None
        self.inspected = 0
        #: Per board inspected (the last 1,000): what the station found.
        self.results: collections.deque[BoardResult] = collections.deque(maxlen=1000)

    def fail_board(self, board: int) -> None:
        """Fault injection: the ``board``-th board this station inspects (from 1) has a real defect."""
        if board < 1:
            raise ValueError(f"board numbers count from 1, not {board!r}")
        self.fail_boards.add(board)

    async def process_board(self, board: Board, cycle_time: float) -> tuple[bool, Mapping[str, Any]]:
        """Inspect the board; write its result file before it leaves."""
        self.inspected += 1
        barcode = board.barcode or board.board_id
        defects = 1 + self.rng.randrange(3) if self.rng.random() < self.defect_rate else 0
        result = random_board(
            self.rng, barcode, positions=self.positions, defects=defects, false_call_rate=self.false_call_rate
        )
        if self.inspected in self.fail_boards:
            result = random_board(self.rng, barcode, positions=self.positions, defects=1, false_call_rate=0.0)
        result = dataclasses.replace(result, started=self.clock.wall())
        await self.clock.sleep(cycle_time)
        name = f"{barcode}_{self.inspected:06d}.{self.FORMAT}"
        if self.review_delay > 0 and result.findings:
            unreviewed = tuple(dataclasses.replace(f, review="") for f in result.findings)
            self._write(name, dataclasses.replace(result, findings=unreviewed))
            self.start_task(self._review_later(name, result), f"review[{barcode}]")
        else:
            self._write(name, result)
        self.results.append(result)
        return True, {"findings": len(result.findings), "failed": result.failed()}

    async def _review_later(self, name: str, result: BoardResult) -> None:
        await self.clock.sleep(self.review_delay)
        reviewed = dataclasses.replace(result, started=self.clock.wall())
        self._write(name.replace(f".{self.FORMAT}", f"_review.{self.FORMAT}"), reviewed)
        self.reviewed.append(reviewed)

    def _write(self, name: str, result: BoardResult) -> None:
        recipe = self.recipes.active
        program = recipe.name if recipe else "PROD"
        xml = self.FORMAT == "xml"
        chunks = aoi_xml([result], program=program) if xml else xray_csv([result], program=program)
        assert self.folder is not None
        # Written in the loop, as the ICT does (simulators/test_station.py): a stepped clock
        # must not move on while the file is being written.
        ResultFolder(Path(self.folder), self.convention).drop(name, chunks)

    async def start(self) -> None:
        """Make the output folder when none was given, then start inspecting boards."""
        if self.folder is None:
            self._own_folder = tempfile.TemporaryDirectory(prefix=f"linegate-{self.machine_id}-")
            self.folder = self._own_folder.name
        await asyncio.to_thread(Path(self.folder).mkdir, parents=True, exist_ok=True)
        await super().start()

    async def stop(self) -> None:
        """Stop inspecting; remove the folder this station made itself."""
        try:
            await super().stop()
        finally:
            if self._own_folder is not None:
                self._own_folder.cleanup()
                self._own_folder = None


class AOIStation(ResultFileStation):
    """An AOI writing one XML result per board (line kind ``aoi``, built-in map ``aoi_xml``)."""

    FORMAT = "xml"


class XRayStation(ResultFileStation):
    """An X-ray (AXI) writing one CSV result per board (line kind ``xray``, map ``xray_csv``)."""

    FORMAT = "csv"


__all__ = ["AOIStation", "ResultFileStation", "XRayStation"]
