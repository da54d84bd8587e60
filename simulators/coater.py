"""Conformal coater simulator: an ASCII command protocol in STX/ETX frames, on a pty and on TCP.

The wire protocol is documented in ``simulators/coater.md`` (the vendor manual); framing comes
from ``protocols.serial`` (XOR-8 checksum as two hex digits). Every frame carries
``TAG[:KEY=VALUE;KEY=VALUE...]``, read and written by ``protocols.serial.payload`` (as the
serial adapter does). The host sends commands and gets exactly one response frame for each, in
order; the coater also sends unsolicited ``EV`` frames (board start/done, alarms, recipe
activated) to every connected link.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import Callable, Mapping
from typing import Any

from protocols.errors import RemoteProtocolError
from protocols.serial import Checksum, FramingError, StxEtxFramer, clean_text, decode_payload, encode_payload
from simulators.clock import Clock
from simulators.machine import (
    Board,
    BoardIn,
    BoardOut,
    FaultCleared,
    FaultOccurred,
    Machine,
    MachineEvent,
    RecipeActivated,
    RecipeRefused,
    WorkCompleted,
    WorkStarted,
)

# Error codes of ``ER`` responses (coater.md "Error responses").
ERR_UNKNOWN_COMMAND = 1
ERR_FRAME = 2
ERR_BAD_ARGUMENT = 3
ERR_RECIPE_REFUSED = 4
ERR_BUSY = 5

# The programs a new coater ships with: name, cycle s, film thickness µm, tolerance µm, valve kPa.
_RECIPES = [("ACRYLIC-50", 45.0, 50.0, 10.0, 180), ("SILICONE-75", 60.0, 75.0, 12.0, 220)]


def encode_fields(tag: str, fields: Mapping[str, object] | None = None) -> bytes:
    """Build a payload ``TAG:K=V;K=V`` (ASCII) from ``fields``, in their order.

    The coater cleans what it sends (coater.md §3): separators in values are replaced
    (``protocols.serial.clean_text``), so this never refuses a value.
    """
    return encode_payload(tag, {key: clean_text(value) for key, value in (fields or {}).items()})


def decode_fields(payload: bytes) -> tuple[str, dict[str, str]]:
    """Split a payload into its tag and fields (``protocols.serial.decode_payload``).

    Raises:
        ValueError: not ASCII, or a field without ``=``.
    """
    try:
        return decode_payload(payload)
    except RemoteProtocolError as exc:
        raise ValueError(str(exc)) from exc


class _Link:
    """One connected host (the pty, or one TCP connection) with its own framer."""

    def __init__(self, write: Callable[[bytes], None], close: Callable[[], None]) -> None:
        self.framer = StxEtxFramer(Checksum.XOR8)
        self.write = write
        self.close = close


class Coater(Machine):
    """A conformal coater that speaks the serial protocol of ``coater.md``.

    Use it as ``async with Coater(...) as coater``; then ``coater.tty_path`` is the pty a
    client opens with pyserial, and ``coater.tcp_port`` the TCP port
    (``socket://127.0.0.1:<port>``).

    Args:
        machine_id: the machine's name.
        clock: the simulated clock.
        seed: random seed for cycle times and measurements.
        board_in: where boards come from (a Handoff, a Hermes lane later).
        board_out: where boards go.
        host: TCP address to listen on; ``None`` disables TCP.
        port: TCP port (0 = a free one).
        pty: whether to open a pseudo-terminal.
    """

    def __init__(
        self,
        machine_id: str = "coater",
        *,
        clock: Clock | None = None,
        seed: int = 0,
        board_in: BoardIn | None = None,
        board_out: BoardOut | None = None,
        host: str | None = "127.0.0.1",
        port: int = 0,
        pty: bool = True,
        changeover_time: float = 20.0,
    ) -> None:
        super().__init__(
            machine_id,
            clock=clock,
            seed=seed,
            board_in=board_in,
            board_out=board_out,
            changeover_time=changeover_time,
        )
        self._host = host
        self._port = port
        self._want_pty = pty
        self.tty_path: str | None = None
        self.tcp_port: int | None = None
        self._server: asyncio.Server | None = None
        self._links: list[_Link] = []
        self._pty_fds: tuple[int, int] | None = None
        self._pty_link: _Link | None = None
        self._silent = False
        self._response_delay = 0.0
        self._split: tuple[int, float] | None = None
        self._corrupt_next = 0
        self._out_lock = asyncio.Lock()
        for name, cycle, thickness, tolerance, pressure in _RECIPES:
            self.recipes.add(
                name,
                cycle_time=cycle,
                thickness_um=thickness,
                tolerance_um=tolerance,
                valve_pressure_kpa=pressure,
            )
        self.recipes.active = self.recipes.get("ACRYLIC-50")
        self.subscribe(self._publish)

    # -- fault injection ---------------------------------------------------------------------

    def go_silent(self, silent: bool = True) -> None:
        """Answer nothing and send no events, but keep every link open (``False`` undoes it)."""
        self._silent = silent

    def delay_responses(self, seconds: float) -> None:
        """Send every frame ``seconds`` of simulated time late (0 undoes it)."""
        self._response_delay = seconds

    def split_frames(self, parts: int = 2, gap: float = 0.1) -> None:
        """Write each frame in ``parts`` pieces, ``gap`` simulated seconds apart (parts=1 undoes it)."""
        self._split = None if parts <= 1 else (parts, gap)

    def corrupt_next_checksums(self, count: int = 1) -> None:
        """Send the next ``count`` frames with a wrong checksum."""
        self._corrupt_next = count

    def send_garbage(self, data: bytes = b"\xff\x17noise\x00") -> None:
        """Write ``data`` raw to every link now (line noise between frames)."""
        for link in list(self._links):
            link.write(data)

    def drop_connection(self) -> None:
        """Close every TCP connection, and hang up the pty (a new pty path replaces it)."""
        for link in list(self._links):
            link.close()
        if self._pty_fds is not None:
            self._close_pty()
            self._open_pty()

    # -- server lifetime ---------------------------------------------------------------------

    async def start(self) -> None:
        """Open the pty and the TCP listener, then start the machine."""
        if self._want_pty:
            self._open_pty()
        if self._host is not None:
            self._server = await asyncio.start_server(self._serve_tcp, self._host, self._port)
            self.tcp_port = self._server.sockets[0].getsockname()[1]
        await super().start()

    async def stop(self) -> None:
        """Close every link and listener, and stop the machine."""
        try:
            await super().stop()
        finally:
            for link in list(self._links):
                link.close()
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
            self._close_pty()

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        # Raw mode: no echo, no CR/LF translation, no line buffering; the bytes are the protocol.
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._pty_fds = (master, slave)
        self.tty_path = os.ttyname(slave)
        loop = asyncio.get_running_loop()
        link = _Link(lambda data: self._pty_write(master, data), lambda: None)
        self._links.append(link)
        self._pty_link = link
        loop.add_reader(master, self._pty_readable, master, link)

    def _close_pty(self) -> None:
        if self._pty_fds is None:
            return
        master, slave = self._pty_fds
        self._pty_fds = None
        asyncio.get_running_loop().remove_reader(master)
        if self._pty_link is not None:
            self._links.remove(self._pty_link)
            self._pty_link = None
        os.close(master)
        os.close(slave)

    def _pty_write(self, master: int, data: bytes) -> None:
        # The simulator holds the slave open, so the pty buffer (a few KiB) only fills if no
        # client reads; then, as a real UART would, the coater drops what does not fit.
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(master, data)

    def _pty_readable(self, master: int, link: _Link) -> None:
        try:
            data = os.read(master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # EIO: no client has the slave open right now
        self._receive(link, data)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link(writer.write, writer.close)
        self._links.append(link)
        try:
            while data := await reader.read(4096):
                self._receive(link, data)
        except ConnectionError:
            pass
        finally:
            with contextlib.suppress(ValueError):
                self._links.remove(link)
            writer.close()

    # -- commands ----------------------------------------------------------------------------

    def _receive(self, link: _Link, data: bytes) -> None:
        while True:
            try:
                payloads = link.framer.feed(data)
            except FramingError as exc:
                for payload in exc.frames:
                    self._command(link, payload)
                self._respond(link, encode_fields("ER", {"CODE": ERR_FRAME, "TEXT": str(exc)}))
                data = b""
                continue
            for payload in payloads:
                self._command(link, payload)
            return

    def _command(self, link: _Link, payload: bytes) -> None:
        try:
            tag, fields = decode_payload(payload)
        except RemoteProtocolError as exc:
            self._respond(link, encode_fields("ER", {"CODE": ERR_BAD_ARGUMENT, "TEXT": str(exc)}))
            return
        handler = self._handlers().get(tag)
        if handler is None:
            self._respond(link, encode_fields("ER", {"CODE": ERR_UNKNOWN_COMMAND, "TEXT": f"unknown {tag}"}))
            return
        self._respond(link, handler(fields))

    def _handlers(self) -> dict[str, Callable[[dict[str, str]], bytes]]:
        return {
            "ST": self._status,
            "RL": self._recipe_list,
            "RQ": self._recipe_query,
            "RS": self._recipe_select,
            "AL": self._alarm_list,
        }

    def _status(self, _fields: dict[str, str]) -> bytes:
        active = self.recipes.active
        return encode_fields(
            "ST",
            {
                "STATE": int(self.state),
                "RCP": active.name if active else "",
                "REV": active.revision if active else 0,
                "BOARDS": self.boards_done,
                "ALARMS": ",".join(self.faults) or "-",
            },
        )

    def _recipe_list(self, _fields: dict[str, str]) -> bytes:
        names = self.recipes.names()
        return encode_fields("RL", {"COUNT": len(names), "NAMES": ",".join(names)})

    def _recipe_query(self, fields: dict[str, str]) -> bytes:
        name = fields.get("NAME") or (self.recipes.active.name if self.recipes.active else "")
        try:
            recipe = self.recipes.get(name)
        except RecipeRefused as exc:
            return encode_fields("ER", {"CODE": ERR_BAD_ARGUMENT, "TEXT": exc.reason})
        return encode_fields(
            "RQ",
            {
                "NAME": recipe.name,
                "REV": recipe.revision,
                "CT": f"{recipe.cycle_time:.1f}",
                "THK": f"{recipe.parameters['thickness_um']:.1f}",
                "TOL": f"{recipe.parameters['tolerance_um']:.1f}",
                "PRS": recipe.parameters["valve_pressure_kpa"],
            },
        )

    def _recipe_select(self, fields: dict[str, str]) -> bytes:
        name = fields.get("NAME", "")
        try:
            revision = int(fields["REV"]) if "REV" in fields else None
            recipe = self.recipes.check(name, revision)
        except ValueError:
            return encode_fields("ER", {"CODE": ERR_BAD_ARGUMENT, "TEXT": "REV must be an integer"})
        except RecipeRefused as exc:
            return encode_fields("ER", {"CODE": ERR_RECIPE_REFUSED, "TEXT": exc.reason})
        if self.faults:
            return encode_fields("ER", {"CODE": ERR_BUSY, "TEXT": "alarm active"})
        # The changeover runs in the background; EV:TYPE=RA reports its end.
        self.start_task(self.activate_recipe(recipe.name, recipe.revision), f"changeover.{recipe.name}")
        return encode_fields("RS", {"NAME": recipe.name, "REV": recipe.revision, "RESULT": "OK"})

    def _alarm_list(self, _fields: dict[str, str]) -> bytes:
        return encode_fields("AL", {"COUNT": len(self.faults), "CODES": ",".join(self.faults) or "-"})

    # -- process -----------------------------------------------------------------------------

    async def process_board(self, board: Board, cycle_time: float) -> tuple[bool, Mapping[str, Any]]:
        """Coat one board: wait the cycle time, measure film thickness, volume and pressure."""
        await self.clock.sleep(cycle_time)
        recipe = self.recipes.active
        params = recipe.parameters if recipe else {"thickness_um": 50.0, "tolerance_um": 10.0}
        nominal, tolerance = float(params["thickness_um"]), float(params["tolerance_um"])
        thickness = self.rng.gauss(nominal, tolerance / 4)
        data = {
            "thickness_um": round(thickness, 1),
            "volume_ml": round(board.length_mm * board.width_mm * thickness * 1e-6 * 1.3, 2),
            "pressure_kpa": round(self.rng.gauss(float(params.get("valve_pressure_kpa", 180)), 2.0), 1),
            "cycle_time_s": round(cycle_time, 2),
        }
        return abs(thickness - nominal) <= tolerance, data

    # -- unsolicited frames ------------------------------------------------------------------

    def _publish(self, event: MachineEvent) -> None:
        payload = self._event_payload(event)
        if payload is not None:
            for link in list(self._links):
                self._respond(link, payload)

    def _event_payload(self, event: MachineEvent) -> bytes | None:
        if isinstance(event, WorkStarted):
            board = event.board
            return encode_fields("EV", {"TYPE": "BS", "ID": board.board_id, "BC": board.barcode or ""})
        if isinstance(event, WorkCompleted):
            fields: dict[str, object] = {
                "TYPE": "BD",
                "ID": event.board.board_id,
                "RESULT": "PASS" if event.passed else "FAIL",
                "THK": event.data["thickness_um"],
                "VOL": event.data["volume_ml"],
                "PRS": event.data["pressure_kpa"],
                "CT": event.data["cycle_time_s"],
            }
            return encode_fields("EV", fields)
        if isinstance(event, FaultOccurred):
            fault = event.fault
            return encode_fields(
                "EV", {"TYPE": "AS", "CODE": fault.code, "SEV": fault.severity.value, "TEXT": fault.text}
            )
        if isinstance(event, FaultCleared):
            return encode_fields("EV", {"TYPE": "AC", "CODE": event.fault.code})
        if isinstance(event, RecipeActivated):
            recipe = event.recipe
            return encode_fields("EV", {"TYPE": "RA", "NAME": recipe.name, "REV": recipe.revision})
        return None

    def _respond(self, link: _Link, payload: bytes) -> None:
        if self._silent:
            return
        frame = link.framer.encode(payload)
        if self._corrupt_next > 0:
            self._corrupt_next -= 1
            frame = frame[:-2] + (b"00" if frame[-2:] != b"00" else b"11")
        if self._response_delay <= 0 and self._split is None:
            link.write(frame)
            return
        self.start_task(self._write_later(link, frame), "write")

    async def _write_later(self, link: _Link, frame: bytes) -> None:
        # One lock keeps frames in order when they are delayed or split.
        async with self._out_lock:
            if self._response_delay > 0:
                await self.clock.sleep(self._response_delay)
            if self._split is None:
                link.write(frame)
                return
            parts, gap = self._split
            size = max(1, -(-len(frame) // parts))
            for index in range(0, len(frame), size):
                if index:
                    await self.clock.sleep(gap)
                link.write(frame[index : index + size])


__all__ = ["Coater", "decode_fields", "encode_fields"]
