"""Reflow oven simulator: a Modbus TCP server (pymodbus 3.16) in front of a thermal model.

The register map is the vendor manual ``simulators/reflow_oven.md``; the constants below are
that map. The oven has ``ZONES`` heated zones, each with a top and a bottom heater whose actual
temperature follows its setpoint as a first-order system (time constant ``tau`` seconds of
simulated time). It reports ready only when every heater and the conveyor speed are within
the recipe's tolerance. A board entering while any heater is out of tolerance raises alarm bit
0; that can only happen in legacy mode, where the host drives the conveyor through coils.

The wire is ``simulators.modbus_server`` (pymodbus's tables behind our framing and request
checks): the ``action`` hook sees every access, so the model renders registers on each read,
validates and applies each write, and fault injection answers with exception codes, late,
never, or with garbage.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from simulators.clock import Clock
from simulators.machine import (
    Board,
    BoardIn,
    BoardOut,
    FaultSeverity,
    FirstOrder,
    Machine,
    Recipe,
    RecipeRefused,
    ResourceState,
)
from simulators.modbus_server import ExceptionCode, ModbusServer, Tables

ZONES = 8
AMBIENT_C = 25.0
AIR_O2_PPM = 209_000.0
NITROGEN_O2_PPM = 800.0  # where O2 settles with nitrogen on
O2_LIMIT_PPM = 1500.0  # above this, with nitrogen on and the oven ready: alarm bit 1

# -- holding registers (FC3 read, FC6/FC16 write) ---------------------------------------------
HR_COMMAND = 0  # 1 = load recipe HR_RECIPE_SELECT, 2 = reset alarms; reads 0 when done
HR_RECIPE_SELECT = 1  # recipe number for the load command
HR_CONVEYOR_SETPOINT = 2  # 0.1 cm/min
HR_NITROGEN = 3  # 1 = nitrogen atmosphere on
HR_ZONE_SETPOINTS = 10  # zone n (1-based) top at 10 + 2(n-1), bottom at 11 + 2(n-1); 0.1 °C
HR_COUNT = 10 + 2 * ZONES

# -- input registers (FC4) ---------------------------------------------------------------------
IR_STATE = 0
IR_ALARMS = 1  # UINT32, high word first (IR 1 = bits 31..16, IR 2 = bits 15..0)
IR_ACTIVE_RECIPE = 3
IR_RECIPE_READY = 4
IR_CONVEYOR_ACTUAL = 5  # 0.1 cm/min
IR_O2_PPM = 6  # FLOAT32, low word first (IR 6 = low word, IR 7 = high word)
IR_BOARDS_INSIDE = 8
IR_BOARDS_DONE = 9  # UINT32, high word first
IR_LOAD_RESULT = 11
IR_ZONE_ACTUALS = 20  # zone n top at 20 + 2(n-1), bottom at 21 + 2(n-1); 0.1 °C, INT16
IR_COUNT = 20 + 2 * ZONES

# -- coils (FC1 read, FC5/FC15 write) and discrete inputs (FC2) ------------------------------
COIL_CONVEYOR_RUN = 0  # legacy mode: entry conveyor runs, drawing in a board at the entry
COIL_EXIT_RELEASE = 1  # legacy mode: release the board waiting at the exit
COIL_ALARM_RESET = 2  # write 1: reset alarms (self-clearing)
DI_BOARD_AT_ENTRY = 0
DI_BOARD_AT_EXIT = 1
DI_RECIPE_READY = 2
DI_ALARM = 3
DI_LEGACY_MODE = 4
BITS = 16
WRITABLE_COILS = range(COIL_CONVEYOR_RUN, COIL_ALARM_RESET + 1)  # 3-15 are reserved (manual §8)
# Manual §1: the function codes the oven answers; every other one gets exception 01.
FUNCTION_CODES = (1, 2, 3, 4, 5, 6, 15, 16)

# -- state word and load results -----------------------------------------------------------------
STATE_WARMING_UP = 1
STATE_READY = 2
STATE_PROCESSING = 3
STATE_BLOCKED = 4
STATE_ALARM = 5
STATE_LOADING = 6
LOAD_NONE, LOAD_BUSY, LOAD_DONE, LOAD_UNKNOWN, LOAD_REFUSED = 0, 1, 2, 3, 4
COMMAND_LOAD, COMMAND_RESET = 1, 2

# Alarm bits: fault code → bit. Codes not in the table light bit 31 ("other").
ALARM_BITS: Mapping[str, int] = {
    "OV-ENTRY-OUT-OF-TOL": 0,
    "OV-O2-HIGH": 1,
    "OV-CONVEYOR-DEVIATION": 2,
    "OV-RECIPE-REFUSED": 3,
    "OV-HEATER-FAIL": 5,
    "OV-EXHAUST-FAN": 6,
    "OV-ESTOP": 7,
}
OTHER_ALARM_BIT = 31


@dataclass
class _Heater:
    curve: FirstOrder
    setpoint: float
    failed: bool = False


def _u16(value: float) -> int:
    return round(value) & 0xFFFF


def _words_u32(value: int) -> list[int]:
    return [(value >> 16) & 0xFFFF, value & 0xFFFF]


def _words_f32_low_first(value: float) -> list[int]:
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return [low, high]


def _pack_bits(bits: list[bool]) -> list[int]:
    # pymodbus packs coils/inputs 16 to a register, bit 0 = lowest address.
    return [sum(1 << i for i, bit in enumerate(bits[k : k + 16]) if bit) for k in range(0, len(bits), 16)]


class _CoilEntrance:
    """Legacy-mode entrance: a board waits at the entry sensor until the run coil draws it in."""

    def __init__(self, oven: ReflowOven) -> None:
        self.oven = oven
        self.waiting: asyncio.Queue[Board] = asyncio.Queue(maxsize=1)
        self.changed = asyncio.Event()

    async def take_board(self) -> Board:
        while not (self.oven.coils[COIL_CONVEYOR_RUN] and not self.waiting.empty()):
            self.changed.clear()
            await self.changed.wait()
        return self.waiting.get_nowait()


class _CoilExit:
    """Legacy-mode exit: a board waits at the exit sensor until the release coil lets it go."""

    def __init__(self, oven: ReflowOven, onward: BoardOut | None) -> None:
        self.oven = oven
        self.onward = onward
        self.board: Board | None = None
        self.changed = asyncio.Event()

    async def give_board(self, board: Board) -> None:
        self.board = board
        while not self.oven.coils[COIL_EXIT_RELEASE]:
            self.changed.clear()
            await self.changed.wait()
        self.board = None
        if self.onward is not None:
            await self.onward.give_board(board)


class ReflowOven(Machine):
    """A reflow oven with a Modbus TCP interface (see ``reflow_oven.md``).

    Use it as ``async with ReflowOven(...) as oven``; ``oven.port`` is then the TCP port.

    Args:
        machine_id: the machine's name.
        clock: the simulated clock.
        seed: random seed for cycle times.
        board_in: where boards come from (ignored in legacy mode, where the coils drive entry).
        board_out: where boards go (in legacy mode: after the exit-release coil).
        legacy: no Hermes; the host drives the conveyor through coils.
        host: address to listen on.
        port: TCP port (0 = a free one).
        tau: thermal time constant of each heater, simulated seconds.
        tunnel_mm: heated length a board travels.
    """

    def __init__(
        self,
        machine_id: str = "reflow",
        *,
        clock: Clock | None = None,
        seed: int = 0,
        board_in: BoardIn | None = None,
        board_out: BoardOut | None = None,
        legacy: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        tau: float = 120.0,
        tunnel_mm: float = 3600.0,
        changeover_time: float = 5.0,
    ) -> None:
        self.legacy = legacy
        self.coils = [False] * BITS
        self.entrance = _CoilEntrance(self) if legacy else None
        self.exit = _CoilExit(self, board_out) if legacy else None
        super().__init__(
            machine_id,
            clock=clock,
            seed=seed,
            board_in=self.entrance or board_in,
            board_out=self.exit or board_out,
            conveyor_length_mm=300.0,
            changeover_time=changeover_time,
            spread=0.0,  # an oven's transit time is set by its conveyor, not by chance
        )
        self.gate_entry = not legacy
        self.tunnel_mm = tunnel_mm
        self.heaters = [_Heater(FirstOrder(AMBIENT_C, tau), AMBIENT_C) for _ in range(2 * ZONES)]
        self.speed = FirstOrder(0.0, 3.0)  # cm/min
        self.o2 = FirstOrder(AIR_O2_PPM, 60.0)
        self.nitrogen = True
        self.tolerance_c = 5.0
        self.command = 0
        self.recipe_select = 0
        self.load_result = LOAD_NONE
        self.boards_inside = 0
        self.host = host
        self.port: int | None = None
        self._server = ModbusServer(
            Tables(coils=BITS, discrete_inputs=BITS, holding_registers=HR_COUNT, input_registers=IR_COUNT),
            self._action,
            function_codes=FUNCTION_CODES,
            host=host,
            port=port,
        )
        self._exception: ExceptionCode | None = None
        self._response_delay = 0.0
        self._speaking = asyncio.Event()
        self._speaking.set()
        self._add_recipes()

    def _add_recipes(self) -> None:
        profiles = {
            "SAC305-STD": (1, [150, 165, 180, 190, 200, 225, 245, 250], 75.0),
            "SAC305-HEAVY": (2, [160, 175, 190, 200, 210, 235, 255, 260], 60.0),
            "SNPB-LOWTEMP": (3, [130, 145, 160, 170, 180, 200, 215, 220], 85.0),
        }
        for name, (number, zones, speed) in profiles.items():
            self.recipes.add(
                name,
                cycle_time=self.tunnel_mm / (speed * 10 / 60),
                number=number,
                zone_setpoints_c=[(t, t - 5) for t in zones],
                conveyor_cm_min=speed,
                tolerance_c=5.0,
            )

    # -- model ---------------------------------------------------------------------------------

    def apply_recipe(self, recipe: Recipe) -> None:
        """Take over the recipe's zone setpoints, conveyor speed and tolerance."""
        now = self.clock.now()
        for zone, (top, bottom) in enumerate(recipe.parameters["zone_setpoints_c"]):
            self.set_heater(2 * zone, float(top), now)
            self.set_heater(2 * zone + 1, float(bottom), now)
        self.set_conveyor_speed(float(recipe.parameters["conveyor_cm_min"]), now)
        self.tolerance_c = float(recipe.parameters["tolerance_c"])

    def set_heater(self, index: int, setpoint: float, now: float | None = None) -> None:
        """Set heater ``index`` (2·zone for top, 2·zone+1 for bottom, zones 0-based) in °C."""
        now = self.clock.now() if now is None else now
        heater = self.heaters[index]
        heater.setpoint = setpoint
        heater.curve.set_target(AMBIENT_C if heater.failed else setpoint, now)

    def set_conveyor_speed(self, cm_min: float, now: float | None = None) -> None:
        """Set the conveyor speed setpoint in cm/min."""
        now = self.clock.now() if now is None else now
        self.speed.set_target(cm_min, now)
        self.conveyor.speed_mm_s = cm_min * 10 / 60

    def fail_heater(self, index: int, failed: bool = True) -> None:
        """Fault injection: heater ``index`` loses power (cools to ambient) and alarm bit 5 lights."""
        self.heaters[index].failed = failed
        self.set_heater(index, self.heaters[index].setpoint)
        if failed:
            self.raise_fault("OV-HEATER-FAIL", f"heater {index} no current", FaultSeverity.WARNING)

    def heater_temperatures(self) -> list[float]:
        """Actual temperatures of every heater in °C, top and bottom per zone."""
        now = self.clock.now()
        return [heater.curve.value(now) for heater in self.heaters]

    def in_tolerance(self) -> bool:
        """Whether every heater and the conveyor speed are within tolerance of their setpoints."""
        now = self.clock.now()
        heaters_ok = all(abs(h.curve.value(now) - h.setpoint) <= self.tolerance_c for h in self.heaters)
        return heaters_ok and abs(self.speed.value(now) - self.speed.target) <= 1.0

    def is_ready(self) -> bool:
        """Ready = a recipe is loaded, no load is running, and everything is in tolerance."""
        return self.recipes.active is not None and self.load_result != LOAD_BUSY and self.in_tolerance()

    def alarm_word(self) -> int:
        """The 32 alarm bits of IR 1-2."""
        word = 0
        for code in self.faults:
            word |= 1 << ALARM_BITS.get(code, OTHER_ALARM_BIT)
        return word

    def state_word(self) -> int:
        """The vendor state code of IR 0 (see the manual's state table)."""
        if self.state == ResourceState.USD:
            return STATE_ALARM
        if self.load_result == LOAD_BUSY:
            return STATE_LOADING
        if not self.is_ready():
            return STATE_WARMING_UP
        if self.state == ResourceState.SBY_NO_PRODUCT_BLOCKED:
            return STATE_BLOCKED
        return STATE_PROCESSING if self.boards_inside else STATE_READY

    # -- board flow ----------------------------------------------------------------------------

    async def board_entering(self, board: Board) -> None:
        """Count the board in; raise alarm bit 0 if any heater is out of tolerance."""
        self.boards_inside += 1
        if not self.in_tolerance():
            self.raise_fault(
                "OV-ENTRY-OUT-OF-TOL",
                f"board {board.board_id} entered with zones out of tolerance",
                FaultSeverity.WARNING,
            )

    async def process_board(self, board: Board, cycle_time: float) -> tuple[bool, Mapping[str, Any]]:
        """Carry the board through the heated tunnel; record zone actuals, speed and O2."""
        speed_mm_s = max(self.speed.value(self.clock.now()), 1.0) * 10 / 60
        await self.clock.sleep(self.tunnel_mm / speed_mm_s * self.process.slowdown)
        self.boards_inside -= 1
        passed = "OV-ENTRY-OUT-OF-TOL" not in self.faults
        return passed, {
            "zone_actuals_c": [round(t, 1) for t in self.heater_temperatures()],
            "conveyor_cm_min": round(self.speed.value(self.clock.now()), 1),
            "o2_ppm": round(self.o2.value(self.clock.now())),
        }

    def place_board_at_entry(self, board: Board) -> None:
        """Legacy mode: put a board on the entry sensor (what the upstream machine would do).

        Raises:
            RuntimeError: not in legacy mode, or a board is already waiting.
        """
        if self.entrance is None:
            raise RuntimeError("place_board_at_entry is for legacy mode; use board_in otherwise")
        self.entrance.waiting.put_nowait(board)
        self.entrance.changed.set()

    # -- Modbus ----------------------------------------------------------------------------------

    async def _action(
        self,
        function_code: int,
        address: int,
        _count: int,
        registers: list[int],
        values: Sequence[int] | None,
    ) -> ExceptionCode | None:
        # Called for every request that passed the server's checks, before ``registers`` is touched.
        await self._speaking.wait()
        if self._response_delay > 0:
            await self.clock.sleep(self._response_delay)
        if self._exception is not None:
            return self._exception
        if values is None and function_code in (5, 6, 15, 16):
            # pymodbus reads the written range back to build the reply; FC 05/06 replies must
            # echo the request (Modbus Application Protocol §6.5, §6.6), so leave it as written.
            return None
        if values is not None and function_code in (5, 15):
            if not all(address + offset in WRITABLE_COILS for offset in range(len(values))):
                return ExceptionCode.ILLEGAL_DATA_ADDRESS  # manual §8: a reserved coil
            self._write_coils(address, [bool(v) for v in values])
        elif values is not None:
            error = self._write_holding(address, [int(v) for v in values])
            if error is not None:
                return error
        rendered = self._render(function_code)
        registers[: len(rendered)] = rendered
        return None

    def _render(self, function_code: int) -> list[int]:
        if function_code in (1, 5, 15):
            return _pack_bits(self.coils)
        if function_code == 2:
            return _pack_bits(self._discrete_inputs())
        if function_code == 4:
            return self._input_registers()
        return self._holding_registers()

    def _discrete_inputs(self) -> list[bool]:
        bits = [False] * BITS
        bits[DI_BOARD_AT_ENTRY] = self.entrance is not None and not self.entrance.waiting.empty()
        bits[DI_BOARD_AT_EXIT] = self.exit is not None and self.exit.board is not None
        bits[DI_RECIPE_READY] = self.is_ready()
        bits[DI_ALARM] = bool(self.faults)
        bits[DI_LEGACY_MODE] = self.legacy
        return bits

    def _holding_registers(self) -> list[int]:
        regs = [0] * HR_COUNT
        regs[HR_COMMAND] = self.command
        regs[HR_RECIPE_SELECT] = self.recipe_select
        regs[HR_CONVEYOR_SETPOINT] = _u16(self.speed.target * 10)
        regs[HR_NITROGEN] = int(self.nitrogen)
        for index, heater in enumerate(self.heaters):
            regs[HR_ZONE_SETPOINTS + index] = _u16(heater.setpoint * 10)
        return regs

    def _input_registers(self) -> list[int]:
        now = self.clock.now()
        regs = [0] * IR_COUNT
        regs[IR_STATE] = self.state_word()
        regs[IR_ALARMS : IR_ALARMS + 2] = _words_u32(self.alarm_word())
        regs[IR_ACTIVE_RECIPE] = self.recipes.active.number if self.recipes.active else 0
        regs[IR_RECIPE_READY] = int(self.is_ready())
        regs[IR_CONVEYOR_ACTUAL] = _u16(self.speed.value(now) * 10)
        regs[IR_O2_PPM : IR_O2_PPM + 2] = _words_f32_low_first(self.o2.value(now))
        regs[IR_BOARDS_INSIDE] = self.boards_inside
        regs[IR_BOARDS_DONE : IR_BOARDS_DONE + 2] = _words_u32(self.boards_done)
        regs[IR_LOAD_RESULT] = self.load_result
        for index, temperature in enumerate(self.heater_temperatures()):
            regs[IR_ZONE_ACTUALS + index] = _u16(temperature * 10)
        return regs

    def _write_coils(self, address: int, bits: list[bool]) -> None:
        for offset, bit in enumerate(bits):
            self.coils[address + offset] = bit
        if self.coils[COIL_ALARM_RESET]:
            self.coils[COIL_ALARM_RESET] = False
            self.reset_alarms()
        for gate in (self.entrance, self.exit):
            if gate is not None:
                gate.changed.set()

    def _write_holding(self, address: int, values: list[int]) -> ExceptionCode | None:
        # Validate the whole write first: a rejected write changes nothing (manual §"Writing").
        for offset, value in enumerate(values):
            if not self._valid(address + offset, value):
                return ExceptionCode.ILLEGAL_DATA_VALUE
        now = self.clock.now()
        for offset, value in enumerate(values):
            register = address + offset
            if register == HR_RECIPE_SELECT:
                self.recipe_select = value
            elif register == HR_CONVEYOR_SETPOINT:
                self.set_conveyor_speed(value / 10, now)
            elif register == HR_NITROGEN:
                self.nitrogen = bool(value)
                self.o2.set_target(NITROGEN_O2_PPM if self.nitrogen else AIR_O2_PPM, now)
            elif register >= HR_ZONE_SETPOINTS:
                self.set_heater(register - HR_ZONE_SETPOINTS, value / 10, now)
        if HR_COMMAND in range(address, address + len(values)):
            self._command(values[HR_COMMAND - address])
        self.refresh_state()
        return None

    def _valid(self, register: int, value: int) -> bool:
        if register == HR_COMMAND:
            return value in (0, COMMAND_LOAD, COMMAND_RESET) and not (
                value == COMMAND_LOAD and self.load_result == LOAD_BUSY
            )
        if register == HR_RECIPE_SELECT:
            return 0 <= value <= 99
        if register == HR_CONVEYOR_SETPOINT:
            return 100 <= value <= 2000
        if register == HR_NITROGEN:
            return value in (0, 1)
        return HR_ZONE_SETPOINTS <= register < HR_COUNT and 0 <= value <= 3500

    def _command(self, command: int) -> None:
        if command == COMMAND_RESET:
            self.reset_alarms()
            return
        if command != COMMAND_LOAD:
            return
        self.command = COMMAND_LOAD
        try:
            recipe = self.recipes.by_number(self.recipe_select)
            self.recipes.check(recipe.name)
        except RecipeRefused as exc:
            self.command = 0
            self.load_result = LOAD_UNKNOWN if exc.name.startswith("#") else LOAD_REFUSED
            self.raise_fault("OV-RECIPE-REFUSED", exc.reason, FaultSeverity.WARNING)
            return
        self.load_result = LOAD_BUSY
        self.start_task(self._load(recipe), f"load.{recipe.number}")

    async def _load(self, recipe: Recipe) -> None:
        try:
            await self.activate_recipe(recipe.name)
        finally:
            self.command = 0
            self.load_result = LOAD_DONE
            self.refresh_state()

    def reset_alarms(self) -> None:
        """Clear every active alarm (the alarm-reset coil and command do this)."""
        for code in list(self.faults):
            if not (code == "OV-HEATER-FAIL" and any(h.failed for h in self.heaters)):
                self.clear_fault(code)

    # -- fault injection -------------------------------------------------------------------------

    def modbus_exception(self, code: int | None) -> None:
        """Answer every request with Modbus exception ``code`` (e.g. 6 = device busy); None stops it."""
        self._exception = None if code is None else ExceptionCode(code)

    def go_silent(self, silent: bool = True) -> None:
        """Accept requests but never answer them, with the socket open (``False`` answers again)."""
        if silent:
            self._speaking.clear()
        else:
            self._speaking.set()

    def delay_responses(self, seconds: float) -> None:
        """Answer every request ``seconds`` of simulated time late (0 undoes it)."""
        self._response_delay = seconds

    def garbage_responses(self, count: int = 1) -> None:
        """Replace the next ``count`` response frames with bytes that are not Modbus."""
        self._server.garbage_responses(count)

    def drop_connection(self) -> None:
        """Close every client connection; the listener stays up for reconnects."""
        self._server.drop_connections()

    # -- lifetime --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the Modbus listener, the default recipe, and the machine."""
        await self._server.start()
        self.port = self._server.port
        self.o2.set_target(NITROGEN_O2_PPM, self.clock.now())
        await super().start()
        recipe = self.recipes.by_number(1)
        self.recipes.active = recipe
        self.apply_recipe(recipe)
        self.start_task(self._watch(), "watch")

    async def _watch(self) -> None:
        # Readiness changes with time alone (zones settle), so re-evaluate the state every second.
        while True:
            await self.clock.sleep(1.0)
            self.refresh_state()
            o2 = self.o2.value(self.clock.now())
            if self.nitrogen and o2 > O2_LIMIT_PPM and self.is_ready():
                self.raise_fault(
                    "OV-O2-HIGH", f"O2 {o2:.0f} ppm above {O2_LIMIT_PPM:.0f}", FaultSeverity.WARNING
                )

    async def stop(self) -> None:
        """Stop the listener and the machine."""
        self._speaking.set()  # let requests parked by go_silent finish
        try:
            await super().stop()
        finally:
            await self._server.stop()


__all__ = ["ALARM_BITS", "ReflowOven"]
