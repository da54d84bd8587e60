"""Solder paste printer simulator that speaks IPC-CFX natively, over AMQP 1.0 (``printer.md``).

The printer is a CFX endpoint of its own (:class:`~simulators.cfx_endpoint.CFXEndpointMachine`):
it publishes its events to one AMQP 1.0 node and answers requests on its own listener. Its print
programs are its recipes (ActivateRecipe / GetActiveRecipe / GetAvailableRecipes). Per board it
reports the print as ``UnitsProcessed`` with ``SolderPastePrintingPCBProcessData``; every
``clean_every`` boards it wipes the stencil underneath (state 4300, then ``StencilCleaned``);
a paste cartridge running empty stops it with an ``SMTSolderPastePrintingFault`` (PasteError)
until :meth:`SolderPastePrinter.add_paste`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import protocols.cfx as cfx
from simulators.cfx_endpoint import RESULT_DOWN, CFXEndpointMachine, failed_result
from simulators.clock import Clock
from simulators.machine import (
    Board,
    BoardIn,
    BoardOut,
    Fault,
    FaultCleared,
    FaultSeverity,
    MachineEvent,
    ResourceState,
    UnitsDeparted,
)

#: The printer's fault codes that carry an SMTSolderPastePrintingFault (printer.md §6).
PASTE_EMPTY = "PR-PASTE-EMPTY"
SQUEEGEE_PRESSURE = "PR-SQUEEGEE-PRESSURE"
PRINTING_FAULTS = {
    PASTE_EMPTY: cfx.SMTSolderPastePrintingFaultType.PASTE_ERROR,
    SQUEEGEE_PRESSURE: cfx.SMTSolderPastePrintingFaultType.SQUEEGEE_ERROR,
}
CLEAN_MODES = ("W", "V", "D")  # wet, vacuum, dry (SMTStencilCleanMode)
RESULT_BUSY_CLEANING = 6  # CleanStencilRequest while a cleaning runs

# Print programs: name, cycle time (s), then the print parameters (printer.md §4).
PRINT_PROGRAMS: tuple[tuple[str, float, Mapping[str, Any]], ...] = (
    (
        "PCB-CTRL-A",
        25.0,
        {
            "stencil": "STN-CTRL-A-120",
            "print_speed": 60.0,  # mm/s
            "print_pressure": 6.0,  # kg
            "print_gap": 0.0,  # mm (on-contact printing)
            "separation_speed": 2.0,  # mm/s
            "separation_distance": 3.0,  # mm
            "separation_delay": 0.5,  # s
            "clean_every": 5,  # boards between stencil cleanings
            "clean_mode": "W",
            "paste_per_board": 0.8,  # g
        },
    ),
    (
        "PCB-PWR-B",
        30.0,
        {
            "stencil": "STN-PWR-B-150",
            "print_speed": 45.0,
            "print_pressure": 8.0,
            "print_gap": 0.0,
            "separation_speed": 1.5,
            "separation_distance": 3.0,
            "separation_delay": 0.8,
            "clean_every": 4,
            "clean_mode": "V",
            "paste_per_board": 1.4,
        },
    ),
)


class SolderPastePrinter(CFXEndpointMachine):
    """A CFX-native solder paste printer (see ``printer.md``).

    Args:
        machine_id: the machine's name.
        handle: the CFX handle.
        clock: the simulated clock.
        seed: random seed for cycle times and print offsets.
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
        clean_every: boards between stencil cleanings; 0 takes each program's own value.
        clean_time: simulated seconds one stencil cleaning takes.
        paste_grams: solder paste in the cartridge at start.
        cartridge_grams: paste in a new cartridge (:meth:`add_paste`).

    Raises:
        ValueError: a negative ``clean_every``, a ``clean_time`` or paste amount below zero.
    """

    MODEL = "SP-700"
    FRIENDLY_NAME = "linegate SP-700 solder paste printer simulator"

    def __init__(
        self,
        machine_id: str = "printer",
        *,
        handle: str = "Linegate.SP700.1",
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
        changeover_time: float = 60.0,
        spread: float = 0.03,
        clean_every: int = 0,
        clean_time: float = 20.0,
        paste_grams: float = 500.0,
        cartridge_grams: float = 500.0,
    ) -> None:
        if clean_every < 0:
            raise ValueError(f"clean_every must be 0 (the program's) or more, not {clean_every!r}")
        if clean_time < 0 or paste_grams < 0 or cartridge_grams <= 0:
            raise ValueError("clean_time and paste_grams must not be negative, cartridge_grams positive")
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
            conveyor_length_mm=450.0,
            conveyor_speed_mm_s=250.0,
        )
        self.clean_every = clean_every
        self.clean_time = clean_time
        self.paste_grams = paste_grams
        self.cartridge_grams = cartridge_grams
        for name, cycle, parameters in PRINT_PROGRAMS:
            self.recipes.add(name, cycle_time=cycle, **parameters)
        self.recipes.active = self.recipes.get(PRINT_PROGRAMS[0][0])
        self.prints_since_clean = 0
        self.cleanings = 0
        self._last_clean = self.clock.wall()
        self._cleaning = False
        self._clean_requested: cfx.SMTStencilCleanMode | None = None
        self._squeegee_cycles = 0
        self._last_squeegee_clean = self._last_clean
        self._paste_added = asyncio.Event()
        self._forward = True  # the squeegee's next stroke direction
        self.subscribe(self._on_printer_event)

    # -- paste -------------------------------------------------------------------------------

    def add_paste(self, grams: float | None = None) -> None:
        """Put a new cartridge in (``cartridge_grams`` by default); clears a paste-empty fault."""
        self.paste_grams += self.cartridge_grams if grams is None else grams
        self.clear_fault(PASTE_EMPTY)
        self._paste_added.set()

    async def _take_paste(self, grams: float) -> None:
        while self.paste_grams < grams:
            if PASTE_EMPTY not in self.faults:
                self.raise_fault(
                    PASTE_EMPTY,
                    f"solder paste cartridge empty ({self.paste_grams:.1f} g left, {grams:.1f} g needed)",
                    FaultSeverity.ERROR,
                    cause=cfx.FaultCause.REFILL,
                )
            self._paste_added.clear()
            await self._paste_added.wait()
        self.paste_grams -= grams

    # -- printing ----------------------------------------------------------------------------

    async def process_board(self, board: Board, cycle_time: float) -> tuple[bool, Mapping[str, Any]]:
        """Print the board; publish UnitsProcessed with the print's process data before WorkCompleted."""
        recipe = self.recipes.active
        parameters: Mapping[str, Any] = recipe.parameters if recipe else {}
        await self._take_paste(float(parameters.get("paste_per_board", 0.0)))
        await self.clock.sleep(cycle_time)
        direction = "Forward" if self._forward else "Backward"
        self._forward = not self._forward
        self.prints_since_clean += 1
        self._squeegee_cycles += 1
        offset_x = round(self.rng.gauss(0.0, 0.012), 4)  # mm, stencil-to-board alignment
        offset_y = round(self.rng.gauss(0.0, 0.012), 4)
        offset_theta = round(self.rng.gauss(0.0, 0.01), 4)  # degrees
        mode = self._clean_mode().value
        cleaning = cfx.PeriodicCleaning(clean_frequency=self._clean_interval(), clean_mode=mode)
        data = cfx.SolderPastePrintingPCBProcessData(
            strokes=[
                cfx.Stroke(
                    print_pressure=float(parameters.get("print_pressure", 0.0)),
                    print_speed=float(parameters.get("print_speed", 0.0)),
                )
            ],
            separation=cfx.Separation(
                name="standard",
                separation_speed=float(parameters.get("separation_speed", 0.0)),
                separation_distance=float(parameters.get("separation_distance", 0.0)),
                separation_delay=float(parameters.get("separation_delay", 0.0)),
            ),
            periodic_cleanings=[cleaning],
            recipe_name=recipe.name if recipe else None,
            offset_x=offset_x,
            offset_y=offset_y,
            offset_theta=offset_theta,
            first_print_direction=direction,
            cycle_time=timedelta(seconds=round(cycle_time, 3)),
            pre_print_stretch=round(self.rng.gauss(0.0, 0.005), 4),
            post_print_stretch=round(self.rng.gauss(0.0, 0.005), 4),
        )
        transaction = self.transaction.transaction_id if self.transaction else cfx.NIL_UUID
        self.publish(
            cfx.UnitsProcessed(
                transaction_id=transaction,
                overall_result=cfx.ProcessingResult.SUCCEEDED,
                common_process_data=data,
            )
        )
        return True, {"offset_x_mm": offset_x, "offset_y_mm": offset_y, "print_direction": direction}

    def _clean_interval(self) -> int:
        recipe = self.recipes.active
        return self.clean_every or int(recipe.parameters.get("clean_every", 0) if recipe else 0)

    def _clean_mode(self) -> cfx.SMTStencilCleanMode:
        recipe = self.recipes.active
        mode = str(recipe.parameters.get("clean_mode", "W")) if recipe else "W"
        return cfx.SMTStencilCleanMode(mode if mode in CLEAN_MODES else "W")

    def _stencil(self, state: cfx.CleaningState) -> cfx.SMTStencil:
        recipe = self.recipes.active
        stencil = str(recipe.parameters.get("stencil", "")) if recipe else ""
        return cfx.SMTStencil(cleaning_state=state, unique_identifier=stencil or None, name=stencil or None)

    # -- stencil cleaning --------------------------------------------------------------------

    def _on_printer_event(self, event: MachineEvent) -> None:
        # A cleaning falls due once the board that completes the interval has left the printer.
        if isinstance(event, UnitsDeparted):
            interval = self._clean_interval()
            if self._clean_requested is not None:
                self._start_cleaning(self._clean_requested)
            elif interval and self.prints_since_clean >= interval:
                self._start_cleaning(self._clean_mode())
        if isinstance(event, FaultCleared) and event.fault.code == PASTE_EMPTY:
            self._paste_added.set()  # reset by hand: the waiting board checks the cartridge again

    def _start_cleaning(self, mode: cfx.SMTStencilCleanMode) -> None:
        if self._cleaning:
            return
        self._cleaning = True
        self._clean_requested = None
        self.begin_maintenance()  # 4300, before the next board can be taken in
        self.start_task(self._clean(mode), "stencil-clean")

    async def _clean(self, mode: cfx.SMTStencilCleanMode) -> None:
        started = self.clock.wall()
        try:
            await self.clock.sleep(self.clean_time)
        finally:
            self._cleaning = False
            self.end_maintenance()
        now = self.clock.wall()
        self.cleanings += 1
        self.publish(
            cfx.StencilCleaned(
                stencil=self._stencil(cfx.CleaningState.CLEANED),
                stencil_clean_mode=mode,
                time_since_last_clean=started - self._last_clean,
                cycles_since_last_clean=self.prints_since_clean,
                stencil_clean_cycles=1,
                stencil_clean_time=now - started,
            ),
            now,
        )
        self.prints_since_clean = 0
        self._last_clean = now

    # -- CFX hooks ---------------------------------------------------------------------------

    def cfx_fault(self, fault: Fault, severity: cfx.FaultSeverity) -> cfx.AnyFault:
        """An SMTSolderPastePrintingFault for the printer's own codes, else a plain Fault."""
        kind = PRINTING_FAULTS.get(fault.code)
        if kind is None:
            return super().cfx_fault(fault, severity)
        plain = super().cfx_fault(fault, severity)
        return cfx.SMTSolderPastePrintingFault(
            printing_fault_type=kind,
            **{name: getattr(plain, name) for name in cfx.Fault.__struct_fields__},
        )

    async def answer(self, request: cfx.Envelope) -> cfx.CFXMessage | None:
        """CleanStencilRequest and CleanSqueegeeRequest (printer.md §5)."""
        body = request.body
        if isinstance(body, cfx.CleanStencilRequest):
            if self._cleaning:
                return cfx.CleanStencilResponse(
                    result=failed_result(RESULT_BUSY_CLEANING, "a stencil cleaning is already running")
                )
            if self.state == ResourceState.USD:
                down = failed_result(RESULT_DOWN, "a stopping fault is active")
                return cfx.CleanStencilResponse(result=down)
            if self.state in (ResourceState.SBY_NO_PRODUCT_STARVED, ResourceState.SDT_SETUP):
                self._start_cleaning(body.clean_type_requested)  # no board inside: at once
            else:
                self._clean_requested = body.clean_type_requested  # after the board in work
            return cfx.CleanStencilResponse(result=cfx.RequestResult(message="stencil cleaning scheduled"))
        if isinstance(body, cfx.CleanSqueegeeRequest):
            now = self.clock.wall()
            self.publish(
                cfx.SqueegeeCleaned(
                    squeegee=cfx.SMTSqueegee(
                        cleaning_state=cfx.CleaningState.CLEANED,
                        unique_identifier=f"{self.machine_id}-SQ-1",
                        name="front squeegee",
                    ),
                    squeegee_clean_type=body.clean_type_requested,
                    time_since_last_clean=now - self._last_squeegee_clean,
                    cycles_since_last_clean=self._squeegee_cycles,
                    squeegee_clean_cycles=1,
                    squeegee_clean_time=timedelta(seconds=0),
                ),
                now,
            )
            self._squeegee_cycles = 0
            self._last_squeegee_clean = now
            return cfx.CleanSqueegeeResponse(result=cfx.RequestResult(message="squeegee cleaned"))
        return None


__all__ = ["PASTE_EMPTY", "PRINT_PROGRAMS", "SQUEEGEE_PRESSURE", "SolderPastePrinter"]
