"""The in-memory links around a reflow oven in legacy mode (no Hermes), for :class:`simulators.line.Line`.

- :class:`LegacyEntry`: the machine before a legacy oven puts boards on the oven's entry sensor;
- :class:`BridgedEntry`: with a Hermes bridge standing in for the oven, a board lands on the
  entry sensor once the previous machine's Hermes transfer to the bridge has run;
- :class:`BridgedExit`: the machine after a bridged oven takes the board the bridge handed over
  over Hermes, once it physically left the oven.
"""

from __future__ import annotations

import asyncio

from simulators.clock import Clock
from simulators.hermes_link import HermesUpstream
from simulators.machine import Board, Handoff, MachineEvent, UnitsArrived
from simulators.reflow_oven import ReflowOven


class LegacyEntry:
    """The machine before a legacy oven: puts boards on the oven's entry sensor (a BoardOut).

    With ``drive`` (the line plays the PLC) it waits for the oven's ready flag first, as a
    line controller would; without, whoever drives the coils decides when boards enter.
    """

    def __init__(self, clock: Clock, drive: bool) -> None:
        self.clock = clock
        self.drive = drive
        self.oven: ReflowOven | None = None  # set once it is built
        self._entered: dict[str, asyncio.Future[None]] = {}

    def attach(self, oven: ReflowOven) -> None:
        """Link to the oven once it is built, and watch its arrivals."""
        self.oven = oven
        oven.subscribe(self._on_event)

    def _on_event(self, event: MachineEvent) -> None:
        if isinstance(event, UnitsArrived):
            waiting = self._entered.pop(event.board.board_id, None)
            if waiting is not None and not waiting.done():
                waiting.set_result(None)

    async def give_board(self, board: Board) -> None:
        """Put ``board`` on the oven's entry sensor; return once the oven took it in."""
        assert self.oven is not None, "attach() the oven first"
        while self.drive and not self.oven.is_ready():
            await self.clock.sleep(1.0)  # the PLC's scan of the ready flag
        entered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._entered[board.board_id] = entered
        try:
            self.oven.place_board_at_entry(board)
            await entered
        finally:
            self._entered.pop(board.board_id, None)


class BridgedEntry:
    """The physical link into a bridged legacy oven: a board lands on its entry sensor when the
    previous machine's Hermes transfer to the bridge has run (``HermesDownstream.on_transferred``)."""

    def __init__(self) -> None:
        self.oven: ReflowOven | None = None  # set once it is built

    def attach(self, oven: ReflowOven) -> None:
        """Link to the oven once it is built."""
        self.oven = oven

    async def place(self, board: Board) -> None:
        """Land ``board`` on the oven's entry sensor (waits while a board still sits there)."""
        assert self.oven is not None and self.oven.entrance is not None, "attach() a legacy oven first"
        # Waits (never raises) if a board still sits on the sensor: the conveyor stops behind it.
        await self.oven.entrance.waiting.put(board)
        self.oven.entrance.changed.set()


class BridgedExit:
    """The BoardIn of the machine after a bridged legacy oven.

    Hermes (its Upstream client, connected to the bridge) says which board arrives and how it is
    described; the board itself comes off the oven's exit through ``physical`` once released.

    Raises:
        RuntimeError: from ``take_board``, when the board that physically arrives is not the one
            the bridge handed over (the bridge mixed up its boards).
    """

    def __init__(self, hermes: HermesUpstream, physical: Handoff) -> None:
        self.hermes = hermes
        self.physical = physical

    async def take_board(self) -> Board:
        """The next board: handed over by the bridge over Hermes, and physically off the oven."""
        board = await self.hermes.take_board()
        moved = await self.physical.take_board()
        if moved.board_id != board.board_id:
            raise RuntimeError(
                f"the bridge handed over board {board.board_id} but board {moved.board_id} left the oven"
            )
        return board


__all__ = ["BridgedEntry", "BridgedExit", "LegacyEntry"]
