"""The ends of a simulated line: the board source before the first machine, the sink after the last.

:class:`BoardSource` is a Hermes sender that makes boards (BoardIds, barcodes, product types,
work orders); :class:`BoardSink` a Hermes receiver that accounts for every board.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator

from protocols.hermes.messages import BoardAvailable
from simulators.clock import Clock
from simulators.hermes_link import HermesUpstream
from simulators.line_spec import SourceSpec
from simulators.machine import Board, BoardOut


class BoardSource:
    """The line's board loader: makes boards and hands them to the first machine over Hermes.

    BoardIds are GUIDs drawn from the seeded generator, so a run is reproducible; barcodes are
    ``<prefix><serial>``; product type and work order follow the work orders in turn.

    Args:
        spec: what boards to make.
        clock: the line's clock.
        out: where boards go (the source's Hermes Downstream server).
        count: how many boards (None: no limit).
        seed: seeds the BoardIds.
    """

    def __init__(
        self, spec: SourceSpec, clock: Clock, out: BoardOut, *, count: int | None, seed: int = 0
    ) -> None:
        self.spec = spec
        self.clock = clock
        self.out = out
        self.count = count
        self.rng = random.Random(seed)
        #: BoardIds in the order they left the source.
        self.sent: list[str] = []

    def boards(self) -> Iterator[Board]:
        """The boards the source makes, in order."""
        serial = 0
        while True:
            for order in self.spec.work_orders:
                for _ in range(order.quantity):
                    if self.count is not None and serial >= self.count:
                        return
                    serial += 1
                    yield Board(
                        board_id=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                        barcode=f"{self.spec.barcode_prefix}{serial:06d}",
                        product_type_id=order.product_type_id,
                        work_order_id=order.work_order_id,
                        length_mm=self.spec.length_mm,
                        width_mm=self.spec.width_mm,
                        thickness_mm=self.spec.thickness_mm,
                    )

    async def run(self) -> None:
        """Hand every board to the first machine, ``interval`` simulated seconds apart at least."""
        for board in self.boards():
            await self.out.give_board(board)
            self.sent.append(board.board_id)
            await self.clock.sleep(self.spec.interval)


class BoardSink:
    """The line's unloader: takes every board from the last machine over Hermes and keeps account.

    Args:
        upstream: the sink's Hermes Upstream client, connected to the last machine.
    """

    def __init__(self, upstream: HermesUpstream) -> None:
        self.upstream = upstream
        #: The boards received, in order, as the last machine described them.
        self.received: list[BoardAvailable] = []
        self._changed = asyncio.Condition()

    @property
    def board_ids(self) -> list[str]:
        """The BoardIds received, in order."""
        return [board.board_id for board in self.received]

    @property
    def repeats(self) -> int:
        """Boards offered again after they had been taken (never counted twice)."""
        return self.upstream.repeats

    async def run(self) -> None:
        """Take boards until cancelled."""
        while True:
            board = await self.upstream.take_board()
            self.received.append(self.upstream.book.describe(board))
            async with self._changed:
                self._changed.notify_all()

    async def wait_for(self, count: int) -> None:
        """Wait until at least ``count`` boards arrived."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.received) >= count)


__all__ = ["BoardSink", "BoardSource"]
