"""Barcode scanner at line entry: reads each board's code and sends it on serial (``scanner.md``).

A fixed-mount scanner over the conveyor, as lines have before the printer: each board that
passes is read once, and the read goes out as one line of text, ``<AIM identifier><data>CR LF``
(``]C1PCB000001``), on a pseudo-terminal (``tty_path``, what a host opens as its serial port)
and to every TCP client (``tcp_port``, a serial device server's raw socket). Like real
scanners it sometimes reads a label twice and sometimes not at all (``NOREAD``); both are set in
the line file, at random rates or for given boards. Boards pass the scanner on Hermes either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from simulators.clock import Clock
from simulators.line_link import LineLink, ReportsLines
from simulators.machine import Board, BoardIn, BoardOut, Machine

#: AIM symbology identifiers (ISO/IEC 15424) by the names a line file uses.
SYMBOLOGIES = {
    "code128": "]C0",
    "gs1-128": "]C1",
    "datamatrix": "]d1",
    "gs1-datamatrix": "]d2",
    "qr": "]Q1",
}


class BarcodeScanner(ReportsLines, Machine):
    """A fixed-mount barcode scanner with a serial output (see ``scanner.md``).

    Use it as ``async with BarcodeScanner(...) as scanner``; ``scanner.tty_path`` is the pty a
    host opens, ``scanner.tcp_port`` the raw TCP port (None with ``host=None``).

    Args:
        machine_id: the scanner's name.
        clock: the simulated clock.
        seed: random seed for double reads and no-reads.
        board_in: where boards come from.
        board_out: where boards go.
        host: the address of the raw TCP port (None: no TCP port).
        port: the TCP port (0 = a free one).
        pty: whether to open a pseudo-terminal.
        symbology: the labels' symbology (:data:`SYMBOLOGIES`), which sets the AIM identifier.
        aim_prefix: send the AIM identifier before the data (the scanners' usual setting).
        read_time: simulated seconds a read takes while the board passes.
        double_read_rate: probability (0 to 1) that a label is sent twice.
        no_read_rate: probability (0 to 1) that a label is not read.
        double_read_boards: boards read twice for certain (the n-th board, counted from 1).
        no_read_boards: boards not read for certain.
        no_read_text: what a no-read sends.

    Raises:
        ValueError: an unknown symbology, a rate outside 0 - 1, a board number below 1.
    """

    def __init__(
        self,
        machine_id: str = "scanner",
        *,
        clock: Clock | None = None,
        seed: int = 0,
        board_in: BoardIn | None = None,
        board_out: BoardOut | None = None,
        host: str | None = "127.0.0.1",
        port: int = 0,
        pty: bool = True,
        symbology: str = "gs1-128",
        aim_prefix: bool = True,
        read_time: float = 0.5,
        double_read_rate: float = 0.0,
        no_read_rate: float = 0.0,
        double_read_boards: Iterable[int] = (),
        no_read_boards: Iterable[int] = (),
        no_read_text: str = "NOREAD",
    ) -> None:
        if symbology not in SYMBOLOGIES:
            raise ValueError(f"symbology must be one of {', '.join(SYMBOLOGIES)}, not {symbology!r}")
        for name, rate in (("double_read_rate", double_read_rate), ("no_read_rate", no_read_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {rate!r}")
        doubles, misses = tuple(double_read_boards), tuple(no_read_boards)
        if any(not isinstance(n, int) or n < 1 for n in (*doubles, *misses)):
            raise ValueError("double_read_boards and no_read_boards list board numbers from 1")
        super().__init__(
            machine_id,
            clock=clock,
            seed=seed,
            board_in=board_in,
            board_out=board_out,
            conveyor_length_mm=200.0,
            conveyor_speed_mm_s=300.0,
            changeover_time=0.0,
            spread=0.0,
        )
        self.symbology = symbology
        self.prefix = SYMBOLOGIES[symbology] if aim_prefix else ""
        self.double_read_rate = double_read_rate
        self.no_read_rate = no_read_rate
        self.double_read_boards = frozenset(doubles)
        self.no_read_boards = frozenset(misses)
        self.no_read_text = no_read_text
        self.recipes.add("SCAN", cycle_time=read_time)
        self.recipes.active = self.recipes.get("SCAN")
        self.scanned = 0
        self.link = LineLink(host=host, port=port, pty=pty)

    # -- reading -----------------------------------------------------------------------------

    def read_lines(self, board: Board) -> list[str]:
        """What one pass of ``board`` sends (and counts the board): its read, twice, or a no-read."""
        self.scanned += 1
        # Draw both every time, so that which boards misbehave does not depend on the options.
        miss = self.rng.random() < self.no_read_rate or self.scanned in self.no_read_boards
        double = self.rng.random() < self.double_read_rate or self.scanned in self.double_read_boards
        if miss or not board.barcode:
            return [self.no_read_text]
        read = f"{self.prefix}{board.barcode}"
        return [read, read] if double else [read]

    async def process_board(self, board: Board, cycle_time: float) -> tuple[bool, Mapping[str, Any]]:
        """Read the board's label while it passes; send the result on every link."""
        await self.clock.sleep(cycle_time)
        lines = self.read_lines(board)
        for line in lines:
            self.send(line)
        if lines == [self.no_read_text]:
            self.log.info("scanner.no_read", board=board.board_id, barcode=board.barcode)
        return lines != [self.no_read_text], {"reads": len(lines)}

    def send_garbage(self, data: bytes = b"\x00\xff]?~\r\n") -> None:
        """Fault injection: send bytes that are no read (a damaged label, line noise)."""
        self.send_bytes(data)

    async def start(self) -> None:
        """Open the pty and the TCP port, then start passing boards."""
        await self.link.open()
        await super().start()

    async def stop(self) -> None:
        """Stop passing boards; close every link."""
        try:
            await super().stop()
        finally:
            await self.link.close()


__all__ = ["SYMBOLOGIES", "BarcodeScanner"]
