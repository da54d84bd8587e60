"""docs/maps.md works as printed: its map and line config pass ``linegate check``, and the map
drives a device that behaves as the guide's made-up manual says (state, alarm bits, scaled
readings, the program-load procedure with its refusal)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from adapters.base import CommandError, RecipeInfo, ReconnectPolicy
from adapters.maps import ModbusMap, load_map
from adapters.modbus import ModbusAdapter
from adapters.observations import FaultRaised, Reading, RecipeActivated, StateChanged
from gateway.cli import main
from simulators.modbus_server import ModbusServer, Tables
from tests.adapters.recorder import Recorder
from tests.testing.test_docs_examples import examples

FAST = ReconnectPolicy(base=0.01, cap=0.05, healthy_after=60.0, liveness_timeout=5.0)


class KestrelUV2:
    """The device of the guide's manual, chapter 5: its registers and its program loading."""

    PROGRAMS = {1: "ACRYLIC-STD", 2: "SILICONE-SLOW"}

    def __init__(self) -> None:
        self.status = 2  # ready
        self.alarms = 0
        self.lamp_power = 955  # 0.1 %
        self.belt_speed = 1250  # 0.01 mm/s
        self.active_program = 1
        self.load_status = 0
        self.board_count = 70_000  # past 16 bits: the high word matters
        self.program_request = 0
        self.programs = dict(self.PROGRAMS)
        self._loading: int | None = None
        self.server = ModbusServer(
            Tables(coils=16, discrete_inputs=16, holding_registers=2, input_registers=8),
            self._action,
            function_codes={3, 4, 6, 16},
        )

    def _input_registers(self) -> list[int]:
        if self._loading is not None and self.load_status == 1:
            # §5.4: "LOAD_STATUS goes to 1, then to 2": the lamps settle between two reads.
            self.load_status, self.active_program, self._loading = 2, self._loading, None
            return self._input_registers_now(loading=True)
        return self._input_registers_now(loading=False)

    def _input_registers_now(self, *, loading: bool) -> list[int]:
        load_status = 1 if loading else self.load_status
        count = self.board_count
        return [
            self.status,
            self.alarms,
            self.lamp_power,
            self.belt_speed,
            self.active_program if not loading else 0,
            load_status,
            count >> 16,
            count & 0xFFFF,
        ]

    async def _action(
        self, function: int, address: int, _count: int, registers: list[int], values: Sequence[int] | None
    ) -> int | None:
        if values is not None:  # FC 06 / 16 to the holding registers (§5.3)
            written = dict(zip(range(address, address + len(values)), values, strict=True))
            self.program_request = written.get(0, self.program_request)
            if written.get(1) == 1:
                if self.program_request in self.programs:
                    self.load_status, self._loading = 1, self.program_request
                else:
                    self.load_status = 3
            return None
        if function == 4:
            registers[:8] = self._input_registers()
        elif function == 3:
            registers[:2] = [self.program_request, 0]
        return None


@pytest.fixture
def guide(tmp_path: Path) -> Path:
    """The guide's blocks written out as a user would save them; returns the config's path."""
    blocks = {e.path: e.text for e in examples("maps.md")}
    assert set(blocks) == {"kestrel-uv2.toml", "line.toml"}
    for name, text in blocks.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path / "line.toml"


@pytest.fixture
async def device() -> AsyncIterator[KestrelUV2]:
    machine = KestrelUV2()
    await machine.server.start()
    yield machine
    await machine.server.stop()


def test_the_guide_s_config_and_map_pass_check(guide: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(guide)]) == 0, capsys.readouterr()


async def test_the_guide_s_map_drives_the_machine_of_its_manual(guide: Path, device: KestrelUV2) -> None:
    device_map = load_map(guide.parent / "kestrel-uv2.toml")
    assert isinstance(device_map, ModbusMap)
    assert device.server.port is not None
    modbus = ModbusAdapter("uvcure", device_map, host="127.0.0.1", port=device.server.port, policy=FAST)
    seen = Recorder()
    task = asyncio.create_task(modbus.run(seen))
    try:
        assert (await seen.next(StateChanged)).state == 2202  # ready: standby, waiting for a board
        readings = {}
        for name in ("lamp_power", "belt_speed", "board_count"):
            reading = await seen.next(Reading, lambda r, name=name: r.name == name)  # type: ignore[misc]
            readings[name] = (reading.value, reading.unit)
        assert readings == {
            "lamp_power": (pytest.approx(95.5), "%"),
            "belt_speed": (pytest.approx(12.5), "mm/s"),
            "board_count": (70_000, None),
        }

        # The point browser's view: where each point is, the registers read, the mapped value.
        browsed = {p.name: p for p in modbus.points()}
        count = browsed["board_count"]
        assert (count.address, count.raw, count.value) == (
            "input_registers 6, uint32, big word first",
            [1, 70_000 - 65_536],
            70_000,
        )
        assert (browsed["lamp_power"].address, browsed["lamp_power"].raw) == (
            "input_registers 2, uint16, x 0.1",
            [955],
        )
        assert browsed["lamp_power"].unit == "%"
        assert (browsed["command"].address, browsed["command"].raw) == ("holding_registers 1, uint16", [0])

        device.alarms, device.status = 0b0100, 4  # cover open -> fault
        fault = await seen.next(FaultRaised)
        assert (fault.code, fault.description) == ("UV-COVER-OPEN", "cover open: lamps off")
        assert (await seen.next(StateChanged, lambda s: s.state == 5000)).state == 5000
        device.alarms, device.status = 0, 2

        assert await modbus.active_recipe() == RecipeInfo("ACRYLIC-STD")
        activated = await asyncio.wait_for(modbus.activate_recipe("SILICONE-SLOW"), 10)
        assert isinstance(activated, RecipeActivated) and activated.recipe == "SILICONE-SLOW"
        assert device.active_program == 2

        del device.programs[1]  # the machine no longer has program 1: LOAD_STATUS 3
        with pytest.raises(CommandError, match="no program with that number") as refused:
            await asyncio.wait_for(modbus.activate_recipe("ACRYLIC-STD"), 10)
        assert refused.value.refused and device.active_program == 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
