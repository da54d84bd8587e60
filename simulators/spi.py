"""Solder paste inspection (SPI) simulator that speaks IPC-CFX natively, over AMQP 1.0 (``spi.md``).

The SPI is a CFX endpoint of its own (:class:`~simulators.cfx_endpoint.CFXEndpointMachine`).
Its inspection programs are its recipes. Per board it measures the paste deposit on every pad
of the active program and publishes ``CFX.Production.TestAndInspection.UnitsInspected``: one
``Inspection`` per pad with its ``SolderPasteMeasurement`` and its judged quantities (volume,
area, height, X/Y offset), each with limits, a pass/fail per pad and per unit, and a ``Defect``
naming each failing pad's component. Which boards fail is set in the line file: a random
``defect_rate``, and ``fail_boards`` (the n-th board this SPI inspects, counted from 1).
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Mapping
from typing import Any

import protocols.cfx as cfx
from simulators.cfx_endpoint import CFXEndpointMachine
from simulators.clock import Clock
from simulators.machine import Board, BoardIn, BoardOut
from simulators.placement_cfx import primary
from simulators.spi_pads import INSPECTION_PROGRAMS, Deposit, Limits, Pad, inspection, measure

DEFECT_KINDS = ("insufficient", "excess", "offset")


class SolderPasteInspection(CFXEndpointMachine):
    """A CFX-native 3D solder paste inspection machine (see ``spi.md``).

    Args:
        machine_id: the machine's name.
        handle: the CFX handle.
        clock: the simulated clock.
        seed: random seed for cycle times, measurements and which boards fail.
        board_in: where boards come from.
        board_out: where boards go.
        publish_uri: broker or listener to publish to; None publishes nothing.
        publish_address: the AMQP 1.0 target node.
        gzip: gzip published bodies.
        host: address the request listener binds.
        port: request listener port (0 = a free one).
        heartbeat_interval: simulated seconds between heartbeats, 1 to 300.
        reconnect_interval: simulated seconds between publish connection attempts.
        changeover_time: simulated seconds of SETUP after an accepted ActivateRecipe.
        spread: coefficient of variation of cycle times.
        defect_rate: probability (0 to 1) that a board has a paste defect.
        fail_boards: boards that fail for certain: the n-th board inspected, counted from 1.
        defect_pads: how many pads a failing board has out of limits.
        defect_kind: ``insufficient``, ``excess`` or ``offset`` paste on a failing pad.

    Raises:
        ValueError: ``defect_rate`` outside 0 - 1, a board number below 1, ``defect_pads`` below
            1, or an unknown ``defect_kind``.
    """

    MODEL = "SPI-3D"
    FRIENDLY_NAME = "linegate SPI-3D solder paste inspection simulator"

    def __init__(
        self,
        machine_id: str = "spi",
        *,
        handle: str = "Linegate.SPI3D.1",
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
        changeover_time: float = 10.0,
        spread: float = 0.03,
        defect_rate: float = 0.0,
        fail_boards: Iterable[int] = (),
        defect_pads: int = 2,
        defect_kind: str = "insufficient",
    ) -> None:
        fail = tuple(fail_boards)
        if not 0.0 <= defect_rate <= 1.0:
            raise ValueError(f"defect_rate must be between 0 and 1, not {defect_rate!r}")
        if any(not isinstance(n, int) or n < 1 for n in fail):
            raise ValueError(f"fail_boards must list board numbers from 1, not {list(fail)!r}")
        if defect_pads < 1:
            raise ValueError(f"defect_pads must be at least 1, not {defect_pads!r}")
        if defect_kind not in DEFECT_KINDS:
            raise ValueError(f"defect_kind must be one of {', '.join(DEFECT_KINDS)}, not {defect_kind!r}")
        super().__init__(
            machine_id,
            handle=handle,
            clock=clock,
            seed=seed,
            board_in=board_in,
            board_out=board_out,
            publish_uri=publish_uri,
            publish_address=publish_address,
            gzip=gzip,
            host=host,
            port=port,
            heartbeat_interval=heartbeat_interval,
            reconnect_interval=reconnect_interval,
            changeover_time=changeover_time,
            spread=spread,
            conveyor_length_mm=500.0,
            conveyor_speed_mm_s=250.0,
        )
        self.defect_rate = defect_rate
        self.fail_boards = frozenset(fail)
        self.defect_pads = defect_pads
        self.defect_kind = defect_kind
        self.limits = Limits()
        for name, cycle, pads in INSPECTION_PROGRAMS:
            self.recipes.add(name, cycle_time=cycle, pads=pads)
        self.recipes.active = self.recipes.get(INSPECTION_PROGRAMS[0][0])
        self.inspected = 0
        #: Per board inspected (in order, the last 1,000): its unit identifier and its failing pads.
        self.results: collections.deque[tuple[str, list[str]]] = collections.deque(maxlen=1000)

    def _defective_pads(self, pads: tuple[Pad, ...]) -> set[str]:
        # Draw from the machine's generator every time, so a run replays the same either way.
        random_fail = self.rng.random() < self.defect_rate
        if not pads or not (random_fail or self.inspected in self.fail_boards):
            return set()
        count = min(self.defect_pads, len(pads))
        return {pad.name for pad in self.rng.sample(list(pads), count)}

    async def process_board(self, board: Board, cycle_time: float) -> tuple[bool, Mapping[str, Any]]:
        """Inspect every pad; publish UnitsInspected before WorkCompleted."""
        recipe = self.recipes.active
        pads: tuple[Pad, ...] = tuple(recipe.parameters.get("pads", ())) if recipe else ()
        self.inspected += 1
        defective = self._defective_pads(pads)
        await self.clock.sleep(cycle_time)
        now = self.clock.wall()
        deposits: list[Deposit] = [
            measure(self.rng, pad, defect=self.defect_kind if pad.name in defective else None) for pad in pads
        ]
        inspections = [inspection(d, self.limits, n, now) for n, d in enumerate(deposits, start=1)]
        failed = [i.inspection_name or "" for i in inspections if i.result == cfx.TestResult.FAILED]
        result = cfx.TestResult.FAILED if failed else cfx.TestResult.PASSED
        unit = primary(board)
        self.results.append((unit, failed))
        if failed:
            self.log.info("spi.unit_failed", unit=unit, pads=failed)
        self.publish(
            cfx.UnitsInspected(
                transaction_id=self.transaction.transaction_id if self.transaction else cfx.NIL_UUID,
                inspection_method=cfx.InspectionMethod.SPI,
                sampling_information=None,
                inspector=None,
                recipe_name=recipe.name if recipe else None,
                recipe_revision=str(recipe.revision) if recipe else None,
                inspected_units=[
                    cfx.InspectedUnit(
                        unit_identifier=unit,
                        unit_position_number=1,
                        overall_result=result,
                        inspections=inspections,
                        total_inspection_count=len(inspections),
                    )
                ],
            ),
            now,
        )
        return True, {"pads": len(pads), "failed_pads": failed}


__all__ = ["DEFECT_KINDS", "SolderPasteInspection"]
